"""The README's promise: `agentsuite up` brings the suite up on the embedded PostgreSQL, the chat
command it prints works when pasted into a new terminal at the repository's root, and Ctrl-C stops
everything cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from cli_process import new_state_dir, postgres_running_in, read_until, start_up, suite_env

REPOSITORY = Path(__file__).resolve().parents[2]


def test_up_then_chat_gets_a_reply_and_ctrl_c_stops_everything():
    state_dir = new_state_dir()
    env = suite_env(state_dir)
    up = start_up(env)
    try:
        output = read_until(up, "Stop with Ctrl-C.", timeout=120)
        assert env["AGENTSUITE_GATEWAY_ADDR"] in output
        key_file = state_dir / "api_key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert key_file.read_text().strip() in output

        printed = output.split("Chat from another terminal")[1].splitlines()[1].strip()
        # A new terminal: none of the suite's settings in its environment, no virtualenv activated.
        fresh = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSUITE_", "VIRTUAL_ENV"))}
        chat = subprocess.run(
            ["bash", "-c", f"{printed} -m 'hello from the test'"],
            cwd=REPOSITORY,
            env=fresh,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert chat.returncode == 0, (printed, chat.stderr)
        assert "offline scripted model" in chat.stdout
        assert 'You said: "hello from the test"' in chat.stdout
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
    assert up.returncode == 0, rest
    assert "stopped." in rest
    assert not postgres_running_in(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
