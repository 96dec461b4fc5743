"""``agentsuite agents``: list agents, export one to a JSON file, import a file as a new agent —
through the gateway's public AgentService.

    agentsuite agents export <agent id or name> -o ann.json --messages --passages
    agentsuite agents import ann.json --name ann-copy
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

import grpc

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from services.cli.gateway_access import add_gateway_arguments, api_key, gateway_channel, missing_key
from services.common.settings import Settings

TIMEOUT_SECONDS = 600


def add_commands(commands) -> None:
    """Register ``agents list|export|import`` on the top-level subparsers."""
    agents = commands.add_parser("agents", help="list agents, export one to a file, import a file")
    sub = agents.add_subparsers(dest="agents_command", required=True)

    sub.add_parser("list", help="list the agents (id, name, model)")

    export = sub.add_parser("export", help="write an agent as one portable JSON document")
    export.add_argument("agent", help="agent id or name")
    export.add_argument("-o", "--output", default="-", help="file to write (default: - for stdout)")
    export.add_argument("--messages", action="store_true", help="include the message history")
    export.add_argument("--passages", action="store_true", help="include the archival passages")

    imported = sub.add_parser("import", help="create a new agent from a document made by export")
    imported.add_argument("file", help="the document (- for stdin)")
    imported.add_argument("--name", default="", help="name of the new agent (default: the document's)")

    for command in sub.choices.values():
        add_gateway_arguments(command)


async def run_agents(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ``agents`` subcommand; the exit code."""
    key = api_key(settings, args)
    if not key:
        _error(missing_key(settings))
        return 2
    metadata = (("authorization", f"Bearer {key}"),)
    # A document is one message of up to the suite's size limit: the channel accepts as much.
    async with gateway_channel(settings, args) as channel:
        stub = agent_service_pb2_grpc.AgentServiceStub(channel)
        try:
            if args.agents_command == "list":
                return await _list(stub, metadata)
            if args.agents_command == "export":
                return await _export(stub, args, metadata)
            return await _import(stub, args, metadata)
        except grpc.aio.AioRpcError as exc:
            _error(f"{exc.code().name}: {exc.details()}")
            return 1
        except OSError as exc:
            _error(f"{exc.filename}: {exc.strerror}")
            return 2


async def _list(stub, metadata) -> int:
    request = agent_service_pb2.ListAgentsRequest(page_size=1000)
    while True:
        page = await stub.ListAgents(request, metadata=metadata, timeout=60)
        for agent in page.agents:
            print(f"{agent.id}  {agent.name}  {agent.model.provider}/{agent.model.model}")
        if not page.next_page_token:
            return 0
        request.page_token = page.next_page_token


async def _export(stub, args, metadata) -> int:
    found = await _agent_ids(stub, args.agent, metadata)
    if len(found) != 1:
        _error(
            f"no agent with the id or name {args.agent!r}"
            if not found
            else f"several agents are named {args.agent!r}; give the id ({', '.join(found)})"
        )
        return 1
    (agent_id,) = found
    response = await stub.ExportAgent(
        agent_service_pb2.ExportAgentRequest(
            agent_id=agent_id, include_messages=args.messages, include_passages=args.passages
        ),
        metadata=metadata,
        timeout=TIMEOUT_SECONDS,
    )
    if args.output == "-":
        sys.stdout.write(response.document_json + "\n")
    else:
        await asyncio.to_thread(Path(args.output).write_text, response.document_json + "\n", "utf-8")
        print(f"exported agent {agent_id} to {args.output}", file=sys.stderr)
    return 0


async def _import(stub, args, metadata) -> int:
    source = sys.stdin.read if args.file == "-" else lambda: Path(args.file).read_text(encoding="utf-8")
    document = await asyncio.to_thread(source)
    response = await stub.ImportAgent(
        agent_service_pb2.ImportAgentRequest(document_json=document, name_override=args.name),
        metadata=metadata,
        timeout=TIMEOUT_SECONDS,
    )
    print(response.agent.id)
    print(f"imported agent {response.agent.name!r}", file=sys.stderr)
    return 0


async def _agent_ids(stub, wanted: str, metadata) -> list[str]:
    """``[wanted]`` when it is an id, else the ids of (up to 5) agents of that name: an export
    must not pick one of several namesakes (imported copies keep their name) silently."""
    try:
        return [str(uuid.UUID(wanted))]
    except ValueError:
        pass
    found = await stub.ListAgents(
        agent_service_pb2.ListAgentsRequest(name=wanted, page_size=5), metadata=metadata, timeout=60
    )
    return [agent.id for agent in found.agents]


def _error(message: str) -> None:
    print(f"agentsuite agents: {message}", file=sys.stderr)
