"""Agents, tools and archives named by a person: by id or by name, never a guess. A name nobody has
is NOT_FOUND with the closest names; a name several share asks for the id."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterable

from agentsuite.client import Client
from agentsuite.client.types import Agent, Archive, Block, Tool
from services.cli.exits import CliError, ExitCode

LISTED = 1000
"""How many names are compared for a "did you mean"."""


def is_id(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def agent(client: Client, ref: str) -> Agent:
    """The agent with id ``ref``, else the one agent named ``ref``."""
    if is_id(ref):
        return await client.agents.get(ref)
    found = [a async for a in client.agents.list(name=ref, page_size=5)]
    if len(found) == 1:
        return await client.agents.get(found[0].id)
    if found:
        raise _several("agents", ref, (a.id for a in found))
    names = [a.name async for a in _first(client.agents.list(page_size=LISTED))]
    raise missing("agent", ref, names, "agentsuite agents list")


async def agent_or_none(client: Client, ref: str) -> Agent | None:
    """Like :func:`agent`, but None when no agent has that name (still an error for several)."""
    try:
        return await agent(client, ref)
    except CliError as exc:
        if exc.code is ExitCode.NOT_FOUND and not is_id(ref):
            return None
        raise


async def tool(client: Client, ref: str) -> Tool:
    """The tool with id ``ref``, else the tool named ``ref`` (tool names are unique per tenant)."""
    if is_id(ref):
        return await client.tools.get(ref)
    found = [t async for t in client.tools.list(name=ref, page_size=5)]
    if len(found) == 1:
        return found[0]
    if found:
        raise _several("tools", ref, (t.id for t in found))
    names = [t.name async for t in _first(client.tools.list(page_size=LISTED))]
    raise missing("tool", ref, names, "agentsuite tools list")


async def archive(client: Client, ref: str) -> Archive:
    """The archive with id ``ref``, else the one archive named ``ref``."""
    if is_id(ref):
        return await client.archives.get(ref)
    every = [a async for a in client.archives.list(page_size=LISTED)]
    found = [a for a in every if a.name == ref]
    if len(found) == 1:
        return found[0]
    if found:
        raise _several("archives", ref, (a.id for a in found))
    raise missing("archive", ref, [a.name for a in every], "agentsuite archives list")


async def block(client: Client, agent_ref: str, label_or_id: str) -> Block:
    """The block of an agent by its label, or any block by its id (``agent_ref`` then unused)."""
    if is_id(label_or_id):
        return await client.blocks.get(label_or_id)
    owner = await agent(client, agent_ref)
    blocks = [b async for b in client.blocks.list(agent_id=owner.id)]
    for found in blocks:
        if found.label == label_or_id:
            return found
    raise missing(
        f"block of agent {owner.name!r} labelled",
        label_or_id,
        [b.label for b in blocks],
        f"agentsuite blocks list {owner.name}",
    )


async def _first(items, limit: int = LISTED):
    count = 0
    async for item in items:
        yield item
        count += 1
        if count >= limit:
            return


def missing(kind: str, ref: str, names: Iterable[str], listing: str) -> CliError:
    close = difflib.get_close_matches(ref, sorted(set(names)), n=3)
    hint = f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else f" (`{listing}` lists them)"
    return CliError(f"no {kind} {ref!r}{hint}", ExitCode.NOT_FOUND)


def _several(kinds: str, ref: str, ids: Iterable[str]) -> CliError:
    return CliError(f"several {kinds} are named {ref!r}; give the id: {', '.join(ids)}", ExitCode.USAGE)


async def agent_names(client: Client, agent_ids: Iterable[str]) -> dict[str, str]:
    """The names of the agents ``agent_ids`` (ids of agents that are gone are left out)."""
    wanted = sorted({agent_id for agent_id in agent_ids if agent_id})
    names: dict[str, str] = {}
    for start in range(0, len(wanted), 100):
        async for found in client.agents.list(agent_ids=wanted[start : start + 100]):
            names[found.id] = found.name
    return names
