"""``agentsuite secrets``: secrets tools read from their environment — set (the value from a hidden
prompt or stdin, never an argument, so it stays out of shell history and process lists), list
(names only: values are write only) and delete. The tenant's, or one agent's."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.cli import resolve
from services.cli.console import Column
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun

COLUMNS = (
    Column("NAME", lambda s: s.name),
    Column("AGENT", lambda s: s.agent_id or "(every agent)"),
    Column("UPDATED", lambda s: s.update_time),
)


def add_commands(commands) -> None:
    group = noun(commands, "secrets", "set, list and delete the secrets tools read")

    set_ = command(group, "set", "set a secret; the value is read from a hidden prompt or stdin", _set)
    set_.add_argument("name", help="the environment variable the tool reads, e.g. WEATHER_API_KEY")
    set_.add_argument("--agent", help="only for this agent (name or id); it overrides the tenant's")

    listing = command(group, "list", "list secrets (names, never values)", _list)
    listing.add_argument("--agent", help="this agent's secrets (name or id)")

    delete = command(group, "delete", "delete a secret", _delete)
    delete.add_argument("name")
    delete.add_argument("--agent", help="the agent's secret (name or id)")


async def _agent_id(context: Context, ref: str | None) -> str:
    return (await resolve.agent(context.gateway, ref)).id if ref else ""


async def _set(context: Context, args: argparse.Namespace) -> None:
    agent_id = await _agent_id(context, args.agent)
    if sys.stdin.isatty():
        value = await asyncio.to_thread(getpass.getpass, f"value of {args.name}: ")
    else:
        value = (await asyncio.to_thread(sys.stdin.read)).removesuffix("\n")
    if not value:
        raise CliError("the value is empty; nothing was set", ExitCode.USAGE)
    secret = await context.gateway.secrets.set(args.name, value, agent_id=agent_id)
    scope = f"agent {args.agent}" if args.agent else "every agent"
    context.output.result(f"set secret {secret.name} for {scope}", secret)


async def _list(context: Context, args: argparse.Namespace) -> None:
    found = await context.gateway.secrets.list(agent_id=await _agent_id(context, args.agent))
    context.output.table(found, COLUMNS, empty="no secrets")


async def _delete(context: Context, args: argparse.Namespace) -> None:
    agent_id = await _agent_id(context, args.agent)
    await context.gateway.secrets.delete(args.name, agent_id=agent_id)
    context.output.result(f"deleted secret {args.name}", {"deleted": args.name, "agent_id": agent_id})
