"""Running the ``agentsuite`` command as a real process, on a private state directory and free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from services.common.ports import free_port

AGENTSUITE = [sys.executable, "-m", "services.cli.main"]
SERVICES = ("gateway", "agent", "memory", "tools")


def new_state_dir() -> Path:
    # Not pytest's tmp_path: its parent is private to root, and as root the embedded server runs as
    # an unprivileged user that must traverse to its data directory.
    return Path(tempfile.mkdtemp(prefix="agentsuite-up-"))


def suite_env(state_dir: Path, ports: dict[str, int] | None = None) -> dict[str, str]:
    """The environment of a suite of its own: ``state_dir``, the offline model, free ports (or
    ``ports``), and no database of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTSUITE_OPENAI_BASE_URL"}
    }
    env["AGENTSUITE_STATE_DIR"] = str(state_dir)
    ports = ports or {service: free_port() for service in SERVICES}
    for service in SERVICES:
        env[f"AGENTSUITE_{service.upper()}_ADDR"] = f"127.0.0.1:{ports[service]}"
    return env


def ports_of(env: dict[str, str]) -> dict[str, int]:
    return {s: int(env[f"AGENTSUITE_{s.upper()}_ADDR"].rsplit(":", 1)[1]) for s in SERVICES}


def start_up(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*AGENTSUITE, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("agentsuite up exited early:\n" + "".join(lines))
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError("agentsuite up did not come up in time:\n" + "".join(lines))


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*AGENTSUITE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def postgres_running_in(state_dir: Path) -> bool:
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if process.info["name"] == "postgres" and str(state_dir) in cmdline:
            return True
    return False
