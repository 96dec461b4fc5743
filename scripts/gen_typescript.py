"""Generate the TypeScript code of the contracts for clients/typescript (run by gen_protos.py).

`buf generate` with buf.gen.yaml runs the local protoc-gen-es (node_modules, pinned by
package-lock.json) on protos/, then on google/rpc's status.proto and error_details.proto, taken
from the googleapis-common-protos package (pinned by constraints.txt) so the client can decode
the `google.rpc.Status` details of an error. No remote plugin, no network.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from google.rpc import error_details_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "buf.gen.yaml"
BUF = REPO_ROOT / "node_modules" / ".bin" / "buf"
OUT = Path("clients/typescript/src/gen")
"""Where buf.gen.yaml writes, relative to the output root."""
GENERATED_DIR = REPO_ROOT / OUT
SUFFIXES = (".ts",)
GOOGLE_RPC_PROTOS = ("status.proto", "error_details.proto")


def generate(out_root: Path) -> Path:
    """Generate into out_root; return the directory that holds the generated files."""
    if not BUF.exists():
        raise SystemExit("node_modules/.bin/buf not found; `make setup` installs it")
    rpc_module = out_root / "google-rpc"
    (rpc_module / "google" / "rpc").mkdir(parents=True)
    for name in GOOGLE_RPC_PROTOS:
        shutil.copy(Path(error_details_pb2.__file__).with_name(name), rpc_module / "google" / "rpc" / name)
    for source in ([], [str(rpc_module)]):
        _buf_generate(*source, "-o", str(out_root))
    return out_root / OUT


def _buf_generate(*args: str) -> None:
    result = subprocess.run(
        [str(BUF), "generate", *args, "--template", str(TEMPLATE)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"buf generate failed:\n{result.stdout}{result.stderr}")
