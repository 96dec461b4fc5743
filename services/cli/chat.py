"""``agentsuite chat``: pick or create an agent and talk to it through the gateway, streaming."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from agentsuite.client import AgentSuiteError, Client, events, types
from services.cli.gateway_access import api_key, gateway_client, missing_key
from services.common.settings import Settings

SCRIPTED_NOTE = (
    "note: this agent uses the offline scripted model, not a real LLM. Start the suite with\n"
    "      AGENTSUITE_OPENAI_BASE_URL and/or OPENAI_API_KEY set to chat with a real one."
)
STOP_NAMES = {
    value.number: value.name.removeprefix("STOP_REASON_").lower()
    for value in types.StopReason.DESCRIPTOR.values
}
TOOL_STATUS_NAMES = {
    value.number: value.name.removeprefix("TOOL_RETURN_STATUS_").lower()
    for value in types.ToolReturnStatus.DESCRIPTOR.values
}


async def run_chat(settings: Settings, args: argparse.Namespace) -> int:
    key = api_key(settings, args)
    if not key:
        print(f"agentsuite chat: {missing_key(settings)}", file=sys.stderr)
        return 2
    async with gateway_client(settings, args, key) as client:
        try:
            agent = await _agent(client, args.agent)
        except AgentSuiteError as exc:
            print(f"agentsuite chat: {exc}", file=sys.stderr)
            return 1
        print(f"agent {agent.name} ({agent.id}), model {agent.model.provider}/{agent.model.model}")
        if agent.model.provider == "scripted":
            print(SCRIPTED_NOTE)
        if args.message:
            for text in args.message:
                print(f"you> {text}")
                if not await _send(client, agent.id, text):
                    return 1
            return 0
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if text.strip() in {"/quit", "/exit"}:
                return 0
            if text.strip():
                await _send(client, agent.id, text)


async def _agent(client: Client, wanted: str) -> types.Agent:
    """The agent with id ``wanted``, else the one named ``wanted``, else a new one of that name."""
    try:
        uuid.UUID(wanted)
    except ValueError:
        pass
    else:
        return await client.agents.get(wanted)
    async for agent in client.agents.list(name=wanted, page_size=1):
        return agent
    return await client.agents.create(
        wanted, system_prompt="You are a helpful assistant with a persistent memory of this conversation."
    )


async def _send(client: Client, agent_id: str, text: str) -> bool:
    printed = False  # whether this step's answer has begun on screen
    try:
        async for event in client.messages.stream(agent_id, text, timeout=300):
            match event:
                case events.AssistantDelta(text=delta):
                    if not printed:
                        print("agent> ", end="")
                        printed = True
                    print(delta, end="", flush=True)
                case events.AssistantMessage(message=message):
                    if not printed and message.content:
                        print(f"agent> {message.content}", end="")
                    if printed or message.content:
                        print()
                    printed = False
                case events.ToolCalled(call=call):
                    print(f"  [tool] {call.name}({_preview(call.arguments_json, 120)})")
                case events.ToolReturned(result=result):
                    status = TOOL_STATUS_NAMES.get(result.status, "?")
                    print(f"  [{status}] {_preview(result.content, 200)}")
                case events.ApprovalRequested(call=call):
                    print(f"  [approval needed] {call.name}({_preview(call.arguments_json, 120)})")
                case events.RunFinished(run=run):
                    if run.stop_reason != types.StopReason.Value("STOP_REASON_END_TURN"):
                        detail = f": {run.stop_detail}" if run.stop_detail else ""
                        print(f"[run stopped: {STOP_NAMES.get(run.stop_reason, '?')}{detail}]")
    except AgentSuiteError as exc:
        print(f"\n[error {exc.code.name}: {exc.message}]")
        return False
    return True


def _preview(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
