"""The README's promise: `agentsuite up` brings the suite up on the embedded PostgreSQL, a message
sent from `agentsuite chat` gets a reply, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import shutil
import signal

from cli_process import new_state_dir, postgres_running_in, read_until, run_cli, start_up, suite_env


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

        chat = run_cli("chat", "-m", "hello from the test", env=env)

        assert chat.returncode == 0, chat.stderr
        assert "offline scripted model" in chat.stdout
        assert 'You said: "hello from the test"' in chat.stdout
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
    assert up.returncode == 0, rest
    assert "stopped." in rest
    assert not postgres_running_in(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
