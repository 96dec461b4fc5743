"""The README's promise: `agentsuite up` brings the suite up on the embedded PostgreSQL, the chat
command it prints works when pasted into a new terminal at the repository's root, and Ctrl-C stops
everything cleanly. The agent `chat` made on the offline model follows the suite to a real provider
once one is configured, and the CLI says which model answered."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from cli_process import new_state_dir, postgres_running_in, read_until, run_cli, start_up, suite_env

REPOSITORY = Path(__file__).resolve().parents[2]


def test_up_then_chat_gets_a_reply_and_ctrl_c_stops_everything(fake_llm):
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
        stop(up)

    # The same state, now with a real (OpenAI-compatible) provider: the agent follows it.
    up = start_up({**env, "AGENTSUITE_OPENAI_BASE_URL": fake_llm.base_url, "OPENAI_API_KEY": "sk-test"})
    try:
        read_until(up, "Stop with Ctrl-C.", timeout=120)
        chat = run_cli("chat", "-m", "and now?", "--usage", env=env)
        history = json.loads(run_cli("messages", "list", "assistant", "--json", env=env).stdout)
    finally:
        stop(up)
    assert chat.returncode == 0, chat.stderr
    assert "echo: and now?" in chat.stdout and "model openai/gpt-4o-mini" in chat.stdout
    answered_by = [m["metadata"]["model"] for m in history if m["role"] == "MESSAGE_ROLE_ASSISTANT"]
    assert answered_by == ["scripted/offline-scripted", "openai/gpt-4o-mini"]
    assert not postgres_running_in(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)


def stop(up: subprocess.Popen) -> None:
    up.send_signal(signal.SIGINT)
    rest, _ = up.communicate(timeout=90)
    assert up.returncode == 0, rest
    assert "stopped." in rest
