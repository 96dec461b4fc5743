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

from agentsuite.client import AgentSuiteError, Client
from services.cli.gateway_access import add_gateway_arguments, api_key, gateway_client, missing_key
from services.common.settings import Settings


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
    # A document is one message of up to the suite's size limit: the client accepts as much.
    async with gateway_client(settings, args, key) as client:
        try:
            if args.agents_command == "list":
                return await _list(client)
            if args.agents_command == "export":
                return await _export(client, args)
            return await _import(client, args)
        except AgentSuiteError as exc:
            _error(str(exc))
            return 1
        except OSError as exc:
            _error(f"{exc.filename}: {exc.strerror}")
            return 2


async def _list(client: Client) -> int:
    async for agent in client.agents.list(page_size=1000):
        print(f"{agent.id}  {agent.name}  {agent.model.provider}/{agent.model.model}")
    return 0


async def _export(client: Client, args) -> int:
    found = await _agent_ids(client, args.agent)
    if len(found) != 1:
        _error(
            f"no agent with the id or name {args.agent!r}"
            if not found
            else f"several agents are named {args.agent!r}; give the id ({', '.join(found)})"
        )
        return 1
    (agent_id,) = found
    document = await client.agents.export(agent_id, messages=args.messages, passages=args.passages)
    if args.output == "-":
        sys.stdout.write(document + "\n")
    else:
        await asyncio.to_thread(Path(args.output).write_text, document + "\n", "utf-8")
        print(f"exported agent {agent_id} to {args.output}", file=sys.stderr)
    return 0


async def _import(client: Client, args) -> int:
    source = sys.stdin.read if args.file == "-" else lambda: Path(args.file).read_text(encoding="utf-8")
    document = await asyncio.to_thread(source)
    agent = await client.agents.import_(document, name=args.name)
    print(agent.id)
    print(f"imported agent {agent.name!r}", file=sys.stderr)
    return 0


async def _agent_ids(client: Client, wanted: str) -> list[str]:
    """``[wanted]`` when it is an id, else the ids of (up to 5) agents of that name: an export
    must not pick one of several namesakes (imported copies keep their name) silently."""
    try:
        return [str(uuid.UUID(wanted))]
    except ValueError:
        pass
    found = []
    async for agent in client.agents.list(name=wanted, page_size=5):
        found.append(agent.id)
        if len(found) == 5:
            break
    return found


def _error(message: str) -> None:
    print(f"agentsuite agents: {message}", file=sys.stderr)
