"""``agentsuite chat``: pick or create an agent and talk to it through the gateway, streaming."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

import grpc

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from services.cli.gateway_access import api_key, gateway_channel, missing_key
from services.common.settings import Settings

SCRIPTED_NOTE = (
    "note: this agent uses the offline scripted model, not a real LLM. Start the suite with\n"
    "      AGENTSUITE_OPENAI_BASE_URL and/or OPENAI_API_KEY set to chat with a real one."
)
STOP_NAMES = {
    value.number: value.name.removeprefix("STOP_REASON_").lower()
    for value in common_pb2.StopReason.DESCRIPTOR.values
}
TOOL_STATUS_NAMES = {
    value.number: value.name.removeprefix("TOOL_RETURN_STATUS_").lower()
    for value in common_pb2.ToolReturnStatus.DESCRIPTOR.values
}


async def run_chat(settings: Settings, args: argparse.Namespace) -> int:
    key = api_key(settings, args)
    if not key:
        print(f"agentsuite chat: {missing_key(settings)}", file=sys.stderr)
        return 2
    metadata = (("authorization", f"Bearer {key}"),)
    async with gateway_channel(settings, args) as channel:
        try:
            agent = await _agent(agent_service_pb2_grpc.AgentServiceStub(channel), args.agent, metadata)
        except grpc.aio.AioRpcError as exc:
            print(f"agentsuite chat: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
        print(f"agent {agent.name} ({agent.id}), model {agent.model.provider}/{agent.model.model}")
        if agent.model.provider == "scripted":
            print(SCRIPTED_NOTE)
        conversation = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        if args.message:
            for text in args.message:
                print(f"you> {text}")
                if not await _send(conversation, agent.id, text, metadata):
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
                await _send(conversation, agent.id, text, metadata)


async def _agent(agents, wanted: str, metadata) -> agent_pb2.Agent:
    """The agent with id ``wanted``, else the one named ``wanted``, else a new one of that name."""
    try:
        uuid.UUID(wanted)
    except ValueError:
        pass
    else:
        return (
            await agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=wanted), metadata=metadata)
        ).agent
    found = await agents.ListAgents(
        agent_service_pb2.ListAgentsRequest(name=wanted, page_size=1), metadata=metadata
    )
    if found.agents:
        return found.agents[0]
    created = await agents.CreateAgent(
        agent_service_pb2.CreateAgentRequest(
            agent=agent_pb2.Agent(
                name=wanted,
                system_prompt="You are a helpful assistant with a persistent memory of this conversation.",
            )
        ),
        metadata=metadata,
    )
    return created.agent


async def _send(conversation, agent_id: str, text: str, metadata) -> bool:
    request = gateway_service_pb2.StreamMessageRequest(
        agent_id=agent_id, messages=[common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_USER, content=text)]
    )
    printed = False  # whether this step's answer has begun on screen
    try:
        async for response in conversation.StreamMessage(request, metadata=metadata, timeout=300):
            event = response.event
            kind = event.WhichOneof("event")
            if kind == "assistant_delta":
                if not printed:
                    print("agent> ", end="")
                    printed = True
                print(event.assistant_delta.text, end="", flush=True)
            elif kind == "assistant_message":
                if not printed and event.assistant_message.content:
                    print(f"agent> {event.assistant_message.content}", end="")
                if printed or event.assistant_message.content:
                    print()
                printed = False
            elif kind == "tool_call":
                call = event.tool_call
                print(f"  [tool] {call.name}({_preview(call.arguments_json, 120)})")
            elif kind == "tool_return":
                result = event.tool_return
                status = TOOL_STATUS_NAMES.get(result.status, "?")
                print(f"  [{status}] {_preview(result.content, 200)}")
            elif kind == "approval_request":
                call = event.approval_request.tool_call
                print(f"  [approval needed] {call.name}({_preview(call.arguments_json, 120)})")
            elif kind == "finished":
                run = event.finished.run
                if run.stop_reason != common_pb2.STOP_REASON_END_TURN:
                    detail = f": {run.stop_detail}" if run.stop_detail else ""
                    print(f"[run stopped: {STOP_NAMES.get(run.stop_reason, '?')}{detail}]")
    except grpc.aio.AioRpcError as exc:
        print(f"\n[error {exc.code().name}: {exc.details()}]")
        return False
    return True


def _preview(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
