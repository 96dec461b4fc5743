"""The README's promise: `agentsuite up` brings the suite up on the embedded PostgreSQL, a message
sent from `agentsuite chat` gets a reply, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from services.common.ports import free_port

AGENTSUITE = [sys.executable, "-m", "services.cli.main"]


def test_up_then_chat_gets_a_reply_and_ctrl_c_stops_everything():
    # Not pytest's tmp_path: its parent is private to root, and as root the embedded server runs as
    # an unprivileged user that must traverse to its data directory.
    state_dir = Path(tempfile.mkdtemp(prefix="agentsuite-up-"))
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"}
    }
    env.pop("AGENTSUITE_OPENAI_BASE_URL", None)
    env["AGENTSUITE_STATE_DIR"] = str(state_dir)
    for service in ("gateway", "agent", "memory", "tools"):
        env[f"AGENTSUITE_{service.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [*AGENTSUITE, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output = _read_until(up, "Stop with Ctrl-C.", timeout=120)
        assert env["AGENTSUITE_GATEWAY_ADDR"] in output
        key_file = state_dir / "api_key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert key_file.read_text().strip() in output

        chat = subprocess.run(
            [*AGENTSUITE, "chat", "-m", "hello from the test"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert chat.returncode == 0, chat.stderr
        assert "offline scripted model" in chat.stdout
        assert 'You said: "hello from the test"' in chat.stdout
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
    assert up.returncode == 0, rest
    assert "stopped." in rest
    assert not _postgres_running_in(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)


def _read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
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


def _postgres_running_in(state_dir) -> bool:
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if process.info["name"] == "postgres" and str(state_dir) in cmdline:
            return True
    return False
