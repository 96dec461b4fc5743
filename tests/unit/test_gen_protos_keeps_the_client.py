"""`make protos` rewrites the generated packages of agentsuite/ and removes stale ones, but never
touches the hand-written client in agentsuite/client/."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_regenerating_keeps_the_client_and_removes_a_stale_generated_file(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_protos", REPO_ROOT / "scripts" / "gen_protos.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    package = tmp_path / "agentsuite"
    shutil.copytree(REPO_ROOT / "agentsuite", package, ignore=shutil.ignore_patterns("__pycache__"))
    stale = package / "gateway" / "v1" / "old_pb2.py"
    stale.write_text("# generated once, its proto since removed\n")
    client_files = sorted(p.relative_to(package) for p in (package / "client").rglob("*.py"))

    (tmp_path / "out").mkdir()
    fresh = generator.generate(tmp_path / "out")
    assert generator.differing_files(package, fresh) == ["gateway/v1/old_pb2.py"]
    generator._write_tree(package, fresh)

    assert not stale.exists()
    assert sorted(p.relative_to(package) for p in (package / "client").rglob("*.py")) == client_files
    assert client_files and generator.differing_files(package, fresh) == []
