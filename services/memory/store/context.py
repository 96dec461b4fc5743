"""The context read: everything the agent loop needs for one step, in one statement.

It runs on every step of every agent, so it is one round trip of plain SQL: the agent's state row,
its blocks and its in-context messages aggregated as JSON (so the blocks are not repeated on every
message row), and its archive counts from the maintained counters (``archives.passage_count`` and
``archive_tags``: never a scan of passages).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import NotFound
from services.memory.core.blocks import Block
from services.memory.core.model import AgentContext, Role, StoredMessage, ToolCallRecord
from services.memory.store.archives import AGENT_ARCHIVE_TAGS_SQL, AGENT_PASSAGE_COUNT_SQL

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
               WHERE mm.agent_id = :agent_id AND mm.seq > {{boundary}}
               ORDER BY mm.seq DESC LIMIT :limit) m)"""
"""The newest ``:limit`` (NULL: all) messages after ``{boundary}`` as one JSON array, oldest first."""

CONTEXT_COLUMNS = f"""{BLOCKS_SQL} AS blocks,
        {AGENT_PASSAGE_COUNT_SQL} AS passage_count,
        {AGENT_ARCHIVE_TAGS_SQL} AS archive_tags,
        {IN_CONTEXT_SQL.format(boundary="s.boundary_seq")} AS messages"""
"""Everything of the context but the state row, which a query names ``s``."""

_CONTEXT = text(
    f"""
    SELECT s.boundary_seq, s.summary, s.max_epoch, s.last_seq, {CONTEXT_COLUMNS}
    FROM memory.agent_state s
    WHERE s.agent_id = :agent_id AND s.tenant = :tenant
    """
).bindparams(bindparam("limit", type_=Integer))


class ContextReader:
    """Reads an agent's context; scoped by tenant (another tenant's agent is not found)."""

    def __init__(self, engine: AsyncEngine):
        # One statement reads a consistent snapshot by itself; autocommit spares the BEGIN and the
        # ROLLBACK round trips a transaction would cost.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def read(self, *, tenant: str, agent_id: str, max_messages: int = 0) -> AgentContext:
        """Blocks, summary, boundary, epoch and in-context messages of an agent.

        With ``max_messages``, only the newest that many, never starting with a tool result whose
        call was cut off.
        """
        parameters = {"agent_id": agent_id, "tenant": tenant, "limit": max_messages or None}
        async with self._engine.connect() as conn:
            row = (await conn.execute(_CONTEXT, parameters)).first()
        if row is None:  # memory does not know the agent (or it is another tenant's)
            raise NotFound("agent", agent_id)
        return agent_context(row, max_messages=max_messages)


def agent_context(row, *, max_messages: int, appended: Sequence[StoredMessage] = ()) -> AgentContext:
    """The context of a row of ``CONTEXT_COLUMNS`` (and ``boundary_seq``, ``summary``,
    ``max_epoch``, ``last_seq``), with ``appended`` after the messages the row holds."""
    in_context = [_message_from_json(m) for m in _decoded(row.messages)]
    in_context.extend(appended)
    if max_messages:
        del in_context[:-max_messages]
        while in_context and in_context[0].role is Role.TOOL:
            in_context.pop(0)
    return AgentContext(
        blocks=tuple(_block_from_json(b) for b in _decoded(row.blocks)),
        summary=row.summary,
        messages=tuple(in_context),
        boundary_seq=row.boundary_seq,
        epoch=row.max_epoch,
        message_count=row.last_seq,
        passage_count=row.passage_count,
        archive_tags=tuple(row.archive_tags),
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
