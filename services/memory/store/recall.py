"""Recall memory: list, search and count an agent's messages (SQLAlchemy), and forget them.

Not on the path of a step (``steps`` has that): these are the public ``MemoryService`` reads, built
with SQLAlchemy's expressions where their filters vary. Every statement is scoped by tenant.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.memory.core.model import FoundMessage, Role, StoredMessage, ToolCallRecord
from services.memory.store import effects
from services.memory.store.agents import require_agent
from services.memory.store.tables import agent_state, appends, messages

_COLUMNS = [column for column in messages.c if column.name != "search"]

RECALL_WINDOW = 1_000
"""Search ranks the newest this many matching messages. A word that occurs in a tenth of a long
history would otherwise have a hundred thousand matches to rank on every call (a second at a
million messages); what an agent recalls is usually recent, and a rarer query is ranked whole."""

# Ranked full-text search over the newest matches; (score, seq) is the keyset of the pages.
# ts_rank_cd rewards query words that occur close together, which suits chat messages better
# than plain frequency.
_SEARCH = """
    SELECT {columns}, ts_rank_cd(m.search, websearch_to_tsquery('english', :query))::float8 AS score
    FROM (
        SELECT * FROM memory.messages mm
        WHERE mm.tenant = :tenant AND mm.agent_id = :agent_id
            AND mm.search @@ websearch_to_tsquery('english', :query) {filters}
        ORDER BY mm.seq DESC
        LIMIT :window
    ) m
    {after}
    ORDER BY score DESC, m.seq DESC
    LIMIT :limit
"""


class RecallStore:
    """Implements ``services.memory.core.recall.RecallRepository`` over SQLAlchemy."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def list(
        self,
        *,
        tenant: str,
        agent_id: str,
        limit: int,
        after_seq: int = 0,
        before_seq: int = 0,
        descending: bool = False,
        roles: Sequence[Role] = (),
    ) -> builtins.list[StoredMessage]:
        """One page of an agent's messages in seq order; bounds are exclusive, 0 means open."""
        query = select(*_COLUMNS).where(messages.c.tenant == tenant, messages.c.agent_id == agent_id)
        if after_seq:
            query = query.where(messages.c.seq > after_seq)
        if before_seq:
            query = query.where(messages.c.seq < before_seq)
        if roles:
            query = query.where(messages.c.role.in_([int(role) for role in roles]))
        order = messages.c.seq.desc() if descending else messages.c.seq.asc()
        async with self._engine.connect() as conn:
            await require_agent(conn, tenant, agent_id)
            result = await conn.execute(query.order_by(order).limit(limit))
            return [_message(row) for row in result]

    async def search(
        self,
        *,
        tenant: str,
        agent_id: str,
        query: str,
        limit: int,
        roles: Sequence[Role] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[float, int] | None = None,
    ) -> builtins.list[FoundMessage]:
        """Messages matching ``query`` (web-search syntax), best first, within the filters."""
        filters: list[str] = []
        parameters = {
            "tenant": tenant,
            "agent_id": agent_id,
            "query": query,
            "limit": limit,
            "window": RECALL_WINDOW,
        }
        if roles:
            filters.append("AND mm.role = ANY(:roles)")
            parameters["roles"] = [int(role) for role in roles]
        if start is not None:
            filters.append("AND mm.created_at >= :start")
            parameters["start"] = start
        if end is not None:
            filters.append("AND mm.created_at < :end")
            parameters["end"] = end
        keyset = ""
        if after is not None:
            keyset = (
                "WHERE (ts_rank_cd(m.search, websearch_to_tsquery('english', :query))::float8, m.seq)"
                " < (:after_score, :after_seq)"
            )
            parameters["after_score"], parameters["after_seq"] = after
        statement = text(
            _SEARCH.format(
                columns=", ".join(f"m.{c.name}" for c in _COLUMNS),
                filters=" ".join(filters),
                after=keyset,
            )
        )
        async with self._engine.connect() as conn:
            await require_agent(conn, tenant, agent_id)
            rows = await conn.execute(statement, parameters)
            return [FoundMessage(_message(row), row.score) for row in rows]

    async def count(self, *, tenant: str, agent_id: str, roles: Sequence[Role] = ()) -> int:
        """How many messages the agent has, of ``roles`` when given."""
        async with self._engine.connect() as conn:
            await require_agent(conn, tenant, agent_id)
            if not roles:
                query = select(agent_state.c.last_seq).where(agent_state.c.agent_id == agent_id)
            else:
                query = select(func.count()).where(
                    messages.c.agent_id == agent_id, messages.c.role.in_([int(r) for r in roles])
                )
            return (await conn.execute(query)).scalar_one()

    @staticmethod
    async def forget_agent(conn: AsyncConnection, agent_id: str) -> None:
        """Delete every message, append record and state of an agent (the caller checked tenancy).

        The state row is locked first: an append in flight either commits before (and is deleted
        with the rest) or finds no state row after, and writes nothing.
        """
        await conn.execute(
            select(agent_state.c.agent_id).where(agent_state.c.agent_id == agent_id).with_for_update()
        )
        await conn.execute(delete(messages).where(messages.c.agent_id == agent_id))
        await conn.execute(delete(appends).where(appends.c.agent_id == agent_id))
        await effects.forget_agent(conn, agent_id)
        await conn.execute(delete(agent_state).where(agent_state.c.agent_id == agent_id))


def _message(row) -> StoredMessage:
    return StoredMessage(
        id=str(row.id),
        agent_id=str(row.agent_id),
        seq=row.seq,
        role=Role(row.role),
        content=row.content,
        reasoning=row.reasoning,
        tool_calls=tuple(ToolCallRecord(c["id"], c["name"], c["arguments"]) for c in row.tool_calls),
        tool_call_id=row.tool_call_id,
        name=row.name,
        run_id=row.run_id,
        step=row.step,
        metadata=row.metadata,
        created_at=row.created_at,
    )
