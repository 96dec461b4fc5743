"""The context read: everything the agent loop needs for one step, in one statement.

It runs on every step of every agent, so it is one round trip of plain SQL: the agent's state row,
its blocks and its in-context messages aggregated as JSON (so the blocks are not repeated on every
message row), and its archive counts from the maintained counters (``archives.passage_count`` and
``archive_tags``: never a scan of passages). Of the messages, only those newer than the ones kept
in ``RecentMessages`` are read (see there).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from sqlalchemy import BigInteger, Integer, bindparam, text

from services.common.errors import NotFound
from services.memory.core.blocks import Block
from services.memory.core.model import AgentContext, Role, StoredMessage, ToolCallRecord
from services.memory.store.archives import AGENT_ARCHIVE_TAGS_SQL, AGENT_PASSAGE_COUNT_SQL
from services.memory.store.driver import DriverStatement
from services.memory.store.recent import RecentMessages, in_context

MESSAGE_COLUMNS = (
    "id, agent_id, seq, role, content, reasoning, tool_calls, tool_call_id, name, run_id, step, "
    "metadata, created_at"
)
"""The columns of a message the API returns (never the search vector)."""

BLOCKS_SQL = """(SELECT coalesce(json_agg(json_build_object(
                    'id', b.id, 'label', b.label, 'value', b.value, 'limit', b.char_limit,
                    'read_only', b.read_only, 'description', b.description, 'metadata', b.metadata,
                    'version', b.version, 'created_at', b.created_at, 'updated_at', b.updated_at,
                    'agent_ids', (SELECT array_agg(o.agent_id) FROM memory.block_agents o
                                  WHERE o.block_id = b.id))
                ORDER BY b.label), '[]')
         FROM memory.block_agents ba JOIN memory.blocks b ON b.id = ba.block_id
         WHERE ba.agent_id = :agent_id AND b.tenant = :tenant)"""
"""The agent's blocks as one JSON array (parameters ``:agent_id``, ``:tenant``)."""

IN_CONTEXT_SQL = f"""(SELECT coalesce(json_agg(m ORDER BY m.seq), '[]')
         FROM (SELECT {MESSAGE_COLUMNS} FROM memory.messages mm
               WHERE mm.agent_id = :agent_id AND mm.seq > greatest({{boundary}}, :known_seq)
               ORDER BY mm.seq DESC LIMIT :limit) m)"""
"""The newest ``:limit`` (NULL: all) messages after ``{boundary}`` and after ``:known_seq`` (the
newest one the caller holds, 0 for none) as one JSON array, oldest first."""

KNOWN_ID_SQL = "(SELECT id::text FROM memory.messages WHERE agent_id = :agent_id AND seq = :known_seq)"
"""The id of the message at ``:known_seq``: the caller's is the same unless its copy is stale."""

CONTEXT_COLUMNS = f"""{BLOCKS_SQL} AS blocks,
        {AGENT_PASSAGE_COUNT_SQL} AS passage_count,
        {AGENT_ARCHIVE_TAGS_SQL} AS archive_tags,
        {IN_CONTEXT_SQL.format(boundary="s.boundary_seq")} AS messages,
        {KNOWN_ID_SQL} AS known_id"""
"""Everything of the context but the state row, which a query names ``s``."""

CONTEXT_BINDS = (bindparam("limit", type_=Integer), bindparam("known_seq", type_=BigInteger))

_CONTEXT = DriverStatement.of(
    text(
        f"""
        SELECT s.boundary_seq, s.summary, s.max_epoch, s.last_seq, {CONTEXT_COLUMNS}
        FROM memory.agent_state s
        WHERE s.agent_id = :agent_id AND s.tenant = :tenant
        """
    ).bindparams(*CONTEXT_BINDS)
)


class ContextReader:
    """Reads an agent's context; scoped by tenant (another tenant's agent is not found)."""

    def __init__(self, pool: asyncpg.Pool, recent: RecentMessages):
        self._pool = pool
        self._recent = recent

    async def read(self, *, tenant: str, agent_id: str, max_messages: int = 0) -> AgentContext:
        """Blocks, summary, boundary, epoch and in-context messages of an agent.

        With ``max_messages``, only the newest that many, never starting with a tool result whose
        call was cut off.
        """
        known = self._recent.newest(agent_id)
        context = await self._read(tenant, agent_id, max_messages, known)
        if context is None:  # what was kept is stale: read it all
            context = await self._read(tenant, agent_id, max_messages, ())
        return context

    async def _read(
        self, tenant: str, agent_id: str, max_messages: int, known: Sequence[StoredMessage]
    ) -> AgentContext | None:
        parameters = {
            "agent_id": agent_id,
            "tenant": tenant,
            "limit": max_messages or None,
            **known_parameters(known),
        }
        # One statement reads a consistent snapshot by itself: no transaction, so no BEGIN and
        # ROLLBACK round trips.
        row = await self._pool.fetchrow(_CONTEXT.sql, *_CONTEXT.arguments(parameters))
        if row is None:  # memory does not know the agent (or it is another tenant's)
            raise NotFound("agent", agent_id)
        return agent_context(row, self._recent, agent_id, known=known, max_messages=max_messages)


def known_parameters(known: Sequence[StoredMessage]) -> dict:
    """The parameters of ``CONTEXT_COLUMNS`` that name the newest message of ``known``."""
    return {"known_seq": known[-1].seq if known else 0}


def agent_context(
    row,
    recent: RecentMessages,
    agent_id: str,
    *,
    known: Sequence[StoredMessage],
    max_messages: int,
    appended: Sequence[StoredMessage] = (),
) -> AgentContext | None:
    """The context of a record of ``CONTEXT_COLUMNS`` (and ``boundary_seq``, ``summary``,
    ``max_epoch``, ``last_seq``) read after ``known``, with ``appended`` after the messages the row
    holds; kept in ``recent`` for the next read. None when ``known`` was stale (then forgotten)."""
    fetched = [_message_from_json(m) for m in _decoded(row["messages"])]
    fetched.extend(appended)
    boundary_seq = row["boundary_seq"]
    messages = None
    if not known or row["known_id"] == known[-1].id:
        messages = in_context(known, fetched, boundary_seq=boundary_seq, max_messages=max_messages)
    if messages is None:
        recent.forget(agent_id)
        return None
    recent.keep(agent_id, messages)
    if max_messages:
        while messages and messages[0].role is Role.TOOL:
            messages.pop(0)
    return AgentContext(
        blocks=tuple(_block_from_json(b) for b in _decoded(row["blocks"])),
        summary=row["summary"],
        messages=tuple(messages),
        boundary_seq=boundary_seq,
        epoch=row["max_epoch"],
        message_count=row["last_seq"],
        passage_count=row["passage_count"],
        archive_tags=tuple(row["archive_tags"]),
    )


def _decoded(value) -> list:
    return json.loads(value) if isinstance(value, str) else value


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _message_from_json(m: dict) -> StoredMessage:
    return StoredMessage(
        id=m["id"],
        agent_id=m["agent_id"],
        seq=m["seq"],
        role=Role(m["role"]),
        content=m["content"],
        reasoning=m["reasoning"],
        tool_calls=tuple(ToolCallRecord(c["id"], c["name"], c["arguments"]) for c in m["tool_calls"]),
        tool_call_id=m["tool_call_id"],
        name=m["name"],
        run_id=m["run_id"],
        step=m["step"],
        metadata=m["metadata"],
        created_at=_time(m["created_at"]),
    )


def _block_from_json(b: dict) -> Block:
    return Block(
        id=b["id"],
        label=b["label"],
        value=b["value"],
        limit=b["limit"],
        read_only=b["read_only"],
        description=b["description"],
        metadata=b["metadata"],
        version=b["version"],
        agent_ids=tuple(sorted(b["agent_ids"] or ())),
        created_at=_time(b["created_at"]),
        updated_at=_time(b["updated_at"]),
    )
