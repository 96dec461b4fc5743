"""Messages (recall memory), fenced appends, and the context read.

The two hot statements (append, context) are plain SQL compiled once: they run on every step of
every agent, and SQLAlchemy's statement building was a third of the service's CPU there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.core.model import (
    AppendResult,
    FoundMessage,
    NewMessage,
    Role,
    StoredMessage,
    ToolCallRecord,
)
from services.memory.store.agents import require_agent
from services.memory.store.tables import agent_state, appends, messages

# Locks the agent's state row (serialising appends to one agent whatever the callers do), checks
# the fencing epoch, reserves `count` sequence numbers and claims the idempotency key, in one
# round trip. `last_seq` is NULL when the epoch is stale (or the agent is another tenant's);
# `claimed` is false when the key was used before (the caller rolls back, giving the numbers back).
_RESERVE = text(
    """
    WITH reserve AS (
        INSERT INTO memory.agent_state AS s (agent_id, tenant, max_epoch, last_seq)
        VALUES (:agent_id, :tenant, :epoch, :count)
        ON CONFLICT (agent_id) DO UPDATE
            SET max_epoch = EXCLUDED.max_epoch, last_seq = s.last_seq + :count, updated_at = now()
            WHERE s.max_epoch <= EXCLUDED.max_epoch AND s.tenant = EXCLUDED.tenant
        RETURNING s.last_seq
    ), claim AS (
        INSERT INTO memory.appends (agent_id, idempotency_key, first_seq, last_seq)
        SELECT :agent_id, :key, last_seq - :count + 1, last_seq FROM reserve WHERE :key <> ''
        ON CONFLICT DO NOTHING
        RETURNING first_seq
    )
    SELECT (SELECT last_seq FROM reserve) AS last_seq, EXISTS (SELECT 1 FROM claim) AS claimed
    """
).bindparams(bindparam("count", type_=BigInteger), bindparam("epoch", type_=BigInteger))

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

# Moves the boundary and stores the summary, fenced like appends; answers the messages on both
# sides of the new boundary so the caller can refuse a split tool call in the same transaction.
_MOVE_BOUNDARY = text(
    """
    WITH moved AS (
        UPDATE memory.agent_state
        SET boundary_seq = :boundary, summary = :summary, max_epoch = :epoch, updated_at = now()
        WHERE agent_id = :agent_id AND tenant = :tenant AND max_epoch <= :epoch
            AND boundary_seq <= :boundary AND last_seq >= :boundary
        RETURNING boundary_seq
    )
    SELECT (SELECT boundary_seq FROM moved) AS boundary_seq,
        (SELECT role FROM memory.messages WHERE agent_id = :agent_id AND seq = :boundary + 1) AS next_role,
        (SELECT jsonb_array_length(tool_calls) FROM memory.messages
         WHERE agent_id = :agent_id AND seq = :boundary) AS calls_at_boundary
    """
).bindparams(bindparam("epoch", type_=BigInteger), bindparam("boundary", type_=BigInteger))

# Tool calls of the agent's recent messages among ``ids`` (a result may follow its call after an
# approval, but never by more than a few hundred messages).
_RECENT_CALLS = text(
    """
    SELECT call ->> 'id' FROM memory.messages m, jsonb_array_elements(m.tool_calls) call
    WHERE m.agent_id = :agent_id AND m.seq >= :first_seq - 500 AND m.seq < :first_seq
        AND jsonb_array_length(m.tool_calls) > 0 AND call ->> 'id' = ANY(:ids)
    """
).bindparams(bindparam("first_seq", type_=BigInteger))

_EARLIER = text(
    "SELECT first_seq, last_seq FROM memory.appends WHERE agent_id = :agent_id AND idempotency_key = :key"
)


class MessageStore:
    """Reads and writes one tenant's messages; every statement is scoped by tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def append(
        self,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        new_messages: Sequence[NewMessage],
    ) -> AppendResult:
        """Append ``new_messages`` in one transaction, fenced by ``epoch`` and idempotent by key.

        Sequence numbers have no gaps: a refused or deduplicated append rolls its reservation back.
        """
        count = len(new_messages)
        parameters = {
            "agent_id": agent_id,
            "tenant": tenant,
            "epoch": epoch,
            "count": count,
            "key": idempotency_key,
        }
        async with self._engine.connect() as conn:
            async with conn.begin() as transaction:
                reserved = (await conn.execute(_RESERVE, parameters)).one()
                if reserved.last_seq is not None and (reserved.claimed or not idempotency_key):
                    earlier_first_seq = reserved.last_seq - count + 1
                    unmatched = await self._unmatched_returns(conn, agent_id, earlier_first_seq, new_messages)
                    if unmatched:
                        await transaction.rollback()
                        raise InvalidArgument.field(
                            "messages",
                            f"tool results without a matching tool call: {', '.join(unmatched)}; "
                            "a tool message must answer a call of an earlier assistant message",
                        )
                    stored = await self._insert(
                        conn, tenant, agent_id, run_id, reserved.last_seq, new_messages
                    )
                    return AppendResult(stored)
                # Refused, or the first append with this key already stored these messages.
                await transaction.rollback()
            if reserved.last_seq is None:
                raise await self._refusal(conn, tenant, agent_id, epoch)
            earlier = (await conn.execute(_EARLIER, parameters)).one()
            return AppendResult(
                await self._range(conn, tenant, agent_id, earlier.first_seq, earlier.last_seq),
                deduplicated=True,
            )

    @staticmethod
    async def _unmatched_returns(
        conn: AsyncConnection, agent_id: str, first_seq: int, new_messages: Sequence[NewMessage]
    ) -> list[str]:
        """Call ids of tool results that answer no call of this append nor of a recent message.

        Usually a step appends its calls with their results, and nothing is read; a result that
        comes later (after an approval) is looked up among the agent's recent messages.
        """
        calls: set[str] = set()
        missing: list[str] = []
        for message in new_messages:
            calls.update(call.id for call in message.tool_calls)
            if message.role is Role.TOOL and message.tool_call_id not in calls:
                missing.append(message.tool_call_id)
        if not missing:
            return []
        found = await conn.execute(
            _RECENT_CALLS, {"agent_id": agent_id, "first_seq": first_seq, "ids": missing}
        )
        return sorted(set(missing) - set(found.scalars()))

    @staticmethod
    async def _refusal(conn: AsyncConnection, tenant: str, agent_id: str, epoch: int) -> Exception:
        state = (
            await conn.execute(
                select(agent_state.c.max_epoch, agent_state.c.tenant).where(
                    agent_state.c.agent_id == agent_id
                )
            )
        ).first()
        if state is not None and state.tenant != tenant:
            return NotFound("agent", agent_id)
        return FailedPrecondition(
            f"stale epoch {epoch} for agent {agent_id}: epoch {state.max_epoch if state else '?'} "
            "has taken over; this writer no longer holds the agent's lease",
            reason="STALE_EPOCH",
            metadata={"agent_id": agent_id, "epoch": str(epoch)},
        )

    @staticmethod
    async def _insert(
        conn: AsyncConnection,
        tenant: str,
        agent_id: str,
        run_id: str,
        last_seq: int,
        new_messages: Sequence[NewMessage],
    ) -> tuple[StoredMessage, ...]:
        """Insert the messages as numbered; ids and time are made here, so nothing is read back."""
        first_seq = last_seq - len(new_messages) + 1
        now = datetime.now(UTC)
        stored = tuple(
            StoredMessage(
                **{field: getattr(message, field) for field in NewMessage.__dataclass_fields__},
                id=str(uuid.uuid4()),
                agent_id=agent_id,
                seq=first_seq + offset,
                run_id=run_id,
                created_at=now,
            )
            for offset, message in enumerate(new_messages)
        )
        await conn.execute(insert(messages), [_row(tenant, message) for message in stored])
        return stored

    @staticmethod
    async def _range(
        conn: AsyncConnection, tenant: str, agent_id: str, first_seq: int, last_seq: int
    ) -> tuple[StoredMessage, ...]:
        result = await conn.execute(
            select(*_COLUMNS)
            .where(
                messages.c.tenant == tenant,
                messages.c.agent_id == agent_id,
                messages.c.seq.between(first_seq, last_seq),
            )
            .order_by(messages.c.seq)
        )
        return tuple(_message(row) for row in result)

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
    ) -> list[StoredMessage]:
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
    ) -> list[FoundMessage]:
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

    async def move_boundary(
        self, *, tenant: str, agent_id: str, epoch: int, boundary_seq: int, summary: str
    ) -> int:
        """Evict every message up to ``boundary_seq`` and store the summary of them, atomically.

        Refuses a stale epoch, a boundary behind the current one or past the last message, and a
        boundary between a tool call and its return.
        """
        parameters = {
            "tenant": tenant,
            "agent_id": agent_id,
            "epoch": epoch,
            "boundary": boundary_seq,
            "summary": summary,
        }
        async with self._engine.connect() as conn:
            async with conn.begin() as transaction:
                moved = (await conn.execute(_MOVE_BOUNDARY, parameters)).one()
                splits = moved.next_role == Role.TOOL or bool(moved.calls_at_boundary)
                if moved.boundary_seq is not None and not splits:
                    return moved.boundary_seq
                await transaction.rollback()
            if moved.boundary_seq is not None:
                raise FailedPrecondition(
                    f"a boundary at seq {boundary_seq} would separate a tool call from its return; "
                    "move it before the assistant message that made the call, or after the last return",
                    reason="BOUNDARY_SPLITS_TOOL_CALL",
                    metadata={"agent_id": agent_id, "boundary_seq": str(boundary_seq)},
                )
            state = (
                await conn.execute(
                    select(agent_state).where(
                        agent_state.c.agent_id == agent_id, agent_state.c.tenant == tenant
                    )
                )
            ).first()
            if state is not None and state.max_epoch > epoch:
                raise await self._refusal(conn, tenant, agent_id, epoch)
        if state is None:
            raise NotFound("agent", agent_id)
        raise InvalidArgument.field(
            "boundary_seq",
            f"must be between the current boundary {state.boundary_seq} and the last message "
            f"{state.last_seq}",
        )

    @staticmethod
    async def forget_agent(conn: AsyncConnection, agent_id: str) -> None:
        """Delete every message, append record and state of an agent (the caller checked tenancy)."""
        await conn.execute(delete(messages).where(messages.c.agent_id == agent_id))
        await conn.execute(delete(appends).where(appends.c.agent_id == agent_id))
        await conn.execute(delete(agent_state).where(agent_state.c.agent_id == agent_id))


def _row(tenant: str, message: StoredMessage) -> dict:
    return {
        "id": message.id,
        "tenant": tenant,
        "agent_id": message.agent_id,
        "seq": message.seq,
        "role": int(message.role),
        "content": message.content,
        "reasoning": message.reasoning,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "run_id": message.run_id,
        "step": message.step,
        "metadata": message.metadata,
        "created_at": message.created_at,
    }


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
