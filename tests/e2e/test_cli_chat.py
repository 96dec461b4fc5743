"""``agentsuite chat`` driven through a pseudo-terminal, as a person uses it: tool calls and their
results on lines of their own, a memory edit shown as what changed, a multi-line paste sent as one
message, usage on request, an approval answered inline, Ctrl-C mid-reply cancelling the run and
returning to the prompt, Ctrl-C at an empty prompt leaving cleanly, /quit, and a mistyped agent
name that creates nothing."""

from __future__ import annotations

import json
import os
import sys
import uuid

import pexpect
import pytest

from agentsuite.client import connect
from agentsuite.client.types import BlockSpec, ModelConfig, RunStatus

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"  # what a terminal wraps a paste in
ENTER, CTRL_C = "\r", "\x03"
DEPLOY = '''
def deploy(service: str) -> str:
    """Deploy a service.

    Args:
        service: Which service.
    """
    return f"deployed {service}"
'''


def call(call_id: str, name: str, **arguments) -> dict:
    return {"id": call_id, "name": name, "arguments": json.dumps(arguments)}


@pytest.fixture
async def tenant(running_suite):
    key = await running_suite.new_key(f"chat-{uuid.uuid4().hex[:10]}")
    async with connect(running_suite.address, api_key=key) as client:
        yield key, client


def spawn(running_suite, key: str, *args: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSUITE_")}
    env.update(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    return pexpect.spawn(
        sys.executable,
        ["-m", "services.cli.main", "chat", *args, "--endpoint", running_suite.address, "--key", key],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )


def ended(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert "Traceback" not in (child.before or "")
    return child.exitstatus


async def test_a_conversation_in_a_terminal(running_suite, tenant):
    key, client = tenant
    model = f"m-{uuid.uuid4().hex[:12]}"
    deploy = await client.tools.create(DEPLOY, requires_approval=True)
    agent = await client.agents.create(
        "ana-helper",
        system_prompt="You remember people.",
        model=ModelConfig(provider="openai", model=model),
        blocks=[BlockSpec(label="human", value="Unknown.")],
        tool_ids=[deploy.id],
    )
    running_suite.llm.script(
        model,
        [
            {"tool_calls": [call("c1", "core_memory_append", label="human", content="Name: Ana")]},
            {"content": "Nice to meet you, Ana."},
            {"content": "Got both lines."},
            {"tool_calls": [call("c2", "deploy", service="billing")]},
            {"content": "OK, not deploying."},
            {"content": "slow " * 400, "chunk_size": 5, "chunk_delay_ms": 50},
        ],
    )
    child = spawn(running_suite, key, "ana-helper")
    child.expect("/help lists commands")
    child.expect("you>")

    # a memory edit: the call, then what changed in the block, then the answer
    child.send("Hi, I am Ana" + ENTER)
    child.expect(r"\[1\] core_memory_append\(label=\"human\", content=\"Name: Ana\"\)")
    child.expect(r"\[1\] memory 'human' changed")
    child.expect(r"\+ Name: Ana")
    child.expect("Nice to meet you, Ana.")
    child.expect("you>")

    # a paste of two lines is one message
    child.send(PASTE_START + "first line\nsecond line" + PASTE_END + ENTER)
    child.expect("Got both lines.")
    child.expect("you>")
    sent = running_suite.llm.requests(model)[2]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"][-1] == "first line\nsecond line"

    # usage on request: the model that answered, steps and tokens
    child.send("/usage" + ENTER)
    child.expect(f"model openai/{model} · 1 step · ")
    child.expect("tokens")
    child.expect("you>")

    # an approval asked inline, denied with a reason the model reads
    child.send("deploy billing" + ENTER)
    child.expect(r"\[1\] deploy\(service=\"billing\"\) waits for your approval")
    child.expect(r"approve deploy\(service=\"billing\"\)\?")
    child.send("n" + ENTER)
    child.expect("reason")
    child.send("not on a Friday" + ENTER)
    child.expect("OK, not deploying.")
    child.expect("you>")
    assert "denied by a human: not on a Friday" in json.dumps(
        running_suite.llm.requests(model)[-1]["messages"]
    )

    # Ctrl-C mid-reply cancels the run through CancelRun and comes back to the prompt
    child.send("write slowly" + ENTER)
    child.expect("slow slow slow")
    child.send(CTRL_C)
    child.expect("cancelling the run")
    child.expect(r"\[run stopped: cancelled")
    child.expect("you>")
    latest = await anext(client.runs.list(agent_id=agent.id))
    assert latest.status == RunStatus.RUN_STATUS_CANCELLED

    child.send("/quit" + ENTER)
    assert ended(child) == 0


async def test_ctrl_c_at_an_empty_prompt_leaves_and_a_mistyped_name_creates_nothing(running_suite, tenant):
    key, client = tenant
    await client.agents.create("helper", model=ModelConfig(provider="openai", model="m-unused"))

    child = spawn(running_suite, key, "helper")
    child.expect("you>")
    child.send("half a thought")
    child.send(CTRL_C)  # clears the line
    child.send(CTRL_C)  # leaves
    assert ended(child) == 0

    child = spawn(running_suite, key, "helpr")
    child.expect("did you mean 'helper'")
    child.expect(r"Create a new agent 'helpr'\? \[y/N\]")
    child.send("n" + ENTER)
    assert ended(child) == 3
    assert [a.name async for a in client.agents.list()] == ["helper"]
