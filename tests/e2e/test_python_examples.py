"""The Python examples (examples/python/) run as they are, as a user runs them, against the real
suite: each its own process with the gateway and a fresh tenant's key in its environment, the fake
provider scripted where an example needs a model that calls tools."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"


async def run_example(running_suite, name: str, *args: str) -> str:
    """Run ``examples/python/<name>`` to the end; its standard output (it must exit 0)."""
    key = await running_suite.new_key(f"example-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "AGENTSUITE_GATEWAY_ADDR": running_suite.address, "AGENTSUITE_API_KEY": key}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, f"{name} failed:\n{out.decode()}\n{err.decode()}"
    return out.decode()


def call(name: str, arguments: dict) -> dict:
    return {"tool_calls": [{"id": "call_1", "name": name, "arguments": arguments}]}


async def test_chat_streams_the_replies_to_each_message(running_suite):
    out = await run_example(running_suite, "chat.py", "hello there", "and again")

    assert "you> hello there\nagent> echo: hello there\n" in out
    assert "you> and again\nagent> echo: and again\n" in out


async def test_agents_messaging_a_writer_asks_the_researchers(running_suite):
    model = f"example-{uuid.uuid4().hex[:8]}"
    running_suite.llm.script(
        model,
        [
            call(
                "send_message_to_agents_matching_tags",
                {"tags": ["research"], "message": "How tall is the lighthouse?"},
            ),
            {"content": "It is 40 m tall."},  # the researcher
            {"content": "The lighthouse is 40 m tall."},  # the writer, with the answer
        ],
    )

    out = await run_example(running_suite, "agents_messaging.py", "--provider", "openai", "--model", model)

    assert "writer calls send_message_to_agents_matching_tags" in out
    assert "It is 40 m tall." in out.split("researchers answered:")[1]
    assert "writer: The lighthouse is 40 m tall." in out
    assert "researcher's history: agent-" in out and "asked 'How tall is the lighthouse?'" in out


async def test_custom_tool_reads_its_secret_in_the_sandbox(running_suite):
    model = f"example-{uuid.uuid4().hex[:8]}"
    running_suite.llm.script(
        model, [call("harbour_weather", {"city": "Lisbon"}), {"content": "Lisbon: 18 C, light breeze."}]
    )

    out = await run_example(running_suite, "custom_tool.py", "--provider", "openai", "--model", model)

    assert 'test run: "Porto: 18 C, light breeze (asked with a token of 21 characters)"' in out
    assert "tool harbour_weather: Lisbon: 18 C, light breeze (asked with a token of 21 characters)" in out
    assert "agent: Lisbon: 18 C, light breeze." in out
    assert "secrets: ['HARBOUR_API_TOKEN']" in out
    assert "token-from-your-vault" not in out


async def test_resume_stream_gets_the_rest_of_a_dropped_stream(running_suite):
    out = await run_example(running_suite, "resume_stream.py")

    assert "stream dropped after seq 2 of run" in out
    assert "agent: echo: Tell me about lighthouses." in out
    assert "no gap, no duplicate" in out
