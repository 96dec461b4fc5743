"""Messages (recall memory) and fenced appends (their statement is in ``fenced_append``).

The two hot statements (append, context) are plain SQL compiled once and run by asyncpg itself
(``driver``): they run on every step of every agent, and SQLAlchemy's statement building and
execution were a large part of the service's CPU there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import BigInteger, bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.core.model import (
    AgentContext,
    AppendResult,
    FoundMessage,
    NewMessage,
    Role,
    StoredMessage,
    ToolCallRecord,
)
from services.memory.store import effects
from services.memory.store.agents import fence, require_agent
from services.memory.store.context import agent_context, known_parameters
from services.memory.store.driver import DriverStatement
from services.memory.store.fenced_append import APPEND, APPEND_THEN_READ, APPENDS_KEY, message_arrays
from services.memory.store.recent import RecentMessages
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
_RECENT_CALLS = DriverStatement.of(
    text(
        """
        SELECT call ->> 'id' FROM memory.messages m, jsonb_array_elements(m.tool_calls) call
        WHERE m.agent_id = :agent_id AND m.seq >= :first_seq - 500 AND m.seq < :first_seq
            AND jsonb_array_length(m.tool_calls) > 0 AND call ->> 'id' = ANY(:ids)
        """
    ).bindparams(bindparam("first_seq", type_=BigInteger))
)

_APPEND = DriverStatement.of(APPEND)
_APPEND_THEN_READ = DriverStatement.of(APPEND_THEN_READ)

# The messages a key's first append stored (for the repeated append that names the key again).
_EARLIER = text(
    f"""
    SELECT {", ".join(f"m.{c.name}" for c in _COLUMNS)}
    FROM memory.appends a
    JOIN memory.messages m ON m.agent_id = a.agent_id AND m.seq BETWEEN a.first_seq AND a.last_seq
    WHERE a.agent_id = :agent_id AND a.idempotency_key = :key AND m.tenant = :tenant
    ORDER BY m.seq
    """
)


class MessageStore:
    """Reads and writes one tenant's messages; every statement is scoped by tenant."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool, recent: RecentMessages):
        self._engine = engine
        self._pool = pool
        self._recent = recent

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
        """Append ``new_messages`` atomically, fenced by ``epoch`` and idempotent by key.

        Sequence numbers have no gaps: a refused or deduplicated append reserves none.
        """
        result, _ = await self._append(
            _APPEND,
            {},
            tenant=tenant,
            agent_id=agent_id,
            epoch=epoch,
            run_id=run_id,
            key=idempotency_key,
            new_messages=new_messages,
        )
        return result

    async def append_then_read(
        self,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        new_messages: Sequence[NewMessage],
        max_messages: int = 0,
    ) -> tuple[AppendResult, AgentContext | None]:
        """As ``append``, and the agent's context afterwards (as ``ContextReader.read``) from the
        same statement; None when that statement could not read it (a deduplicated append, a
        concurrent append committed meanwhile, or kept messages found stale): then the caller reads
        it on its own."""
        known = self._recent.newest(agent_id)
        result, row = await self._append(
            _APPEND_THEN_READ,
            {"limit": max_messages or None, **known_parameters(known)},
            tenant=tenant,
            agent_id=agent_id,
            epoch=epoch,
            run_id=run_id,
            key=idempotency_key,
            new_messages=new_messages,
        )
        if row is None or row["seen_last_seq"] != row["last_seq"] - len(new_messages):
            return result, None
        return result, agent_context(
            row, self._recent, agent_id, known=known, max_messages=max_messages, appended=result.messages
        )

    async def _append(
        self,
        statement: DriverStatement,
        extra: dict,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        key: str,
        new_messages: Sequence[NewMessage],
    ) -> tuple[AppendResult, asyncpg.Record | None]:
        """Run ``statement`` (``APPEND`` or ``APPEND_THEN_READ``, with ``extra`` parameters): the
        stored messages and the statement's row, None when the append was deduplicated."""
        ids = [str(uuid.uuid4()) for _ in new_messages]
        now = datetime.now(UTC)
        parameters = {
            "agent_id": agent_id,
            "tenant": tenant,
            "epoch": epoch,
            "count": len(new_messages),
            "key": key,
            "run_id": run_id,
            "created_at": now,
            **message_arrays(new_messages, ids),
            **extra,
        }
        try:
            if unanswered := _unanswered(new_messages):
                row = await self._append_checked(statement, parameters, unanswered)
            else:
                # One statement needs no transaction: no BEGIN and COMMIT round trips.
                row = await self._pool.fetchrow(statement.sql, *statement.arguments(parameters))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != APPENDS_KEY:  # not the claim of a key an earlier append holds
                raise
            # The statement that failed would have raised the epoch: a new lease holder whose first
            # write repeats one of the old holder's must still fence the old holder out.
            await self.fence(tenant=tenant, agent_id=agent_id, epoch=epoch)
            return AppendResult(await self._earlier(tenant, agent_id, key), deduplicated=True), None
        if row is None:
            async with self._engine.connect() as conn:
                raise await self._refusal(conn, tenant, agent_id, epoch)
        stored = _stored(new_messages, ids, agent_id, run_id, row["last_seq"], now)
        self._recent.extend(agent_id, stored)
        return AppendResult(stored), row

    async def _append_checked(
        self, statement: DriverStatement, parameters: dict, unanswered: list[str]
    ) -> asyncpg.Record | None:
        """``statement`` in a transaction that commits only if each call id of ``unanswered``
        (tool results no call of their own append answers) is a call of a recent message.

        The rare path: a step appends its calls with their results, and only a result that comes
        after an approval stands alone.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(statement.sql, *statement.arguments(parameters))
            if row is None:
                return None
            calls = {
                "agent_id": parameters["agent_id"],
                "first_seq": row["last_seq"] - parameters["count"] + 1,
                "ids": unanswered,
            }
            found = await conn.fetch(_RECENT_CALLS.sql, *_RECENT_CALLS.arguments(calls))
            unmatched = sorted(set(unanswered) - {record[0] for record in found})
            if unmatched:  # raising rolls the transaction back
                raise InvalidArgument.field(
                    "messages",
                    f"tool results without a matching tool call: {', '.join(unmatched)}; "
                    "a tool message must answer a call of an earlier assistant message",
                )
            return row

    async def fence(self, *, tenant: str, agent_id: str, epoch: int) -> None:
        """Raise the agent's epoch to ``epoch`` (no-op for 0): from then on no write under an older
        one succeeds. FailedPrecondition (STALE_EPOCH) when a newer one already holds it."""
        if epoch:
            async with self._engine.begin() as conn:
                await fence(conn, tenant, agent_id, epoch)

    async def _earlier(self, tenant: str, agent_id: str, key: str) -> tuple[StoredMessage, ...]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(_EARLIER, {"tenant": tenant, "agent_id": agent_id, "key": key})
            return tuple(_message(row) for row in rows)

    @staticmethod
    async def _refusal(conn: AsyncConnection, tenant: str, agent_id: str, epoch: int) -> Exception:
        state = (
            await conn.execute(
                select(agent_state.c.max_epoch, agent_state.c.tenant).where(
                    agent_state.c.agent_id == agent_id
                )
            )
        ).first()
        if state is None or state.tenant != tenant:
            return NotFound("agent", agent_id)
        return FailedPrecondition(
            f"stale epoch {epoch} for agent {agent_id}: epoch {state.max_epoch if state else '?'} "
            "has taken over; this writer no longer holds the agent's lease",
            reason="STALE_EPOCH",
            metadata={"agent_id": agent_id, "epoch": str(epoch)},
        )

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


def _unanswered(new_messages: Sequence[NewMessage]) -> list[str]:
    """Call ids of the tool results that answer no call of an earlier message of this append."""
    calls: set[str] = set()
    missing: list[str] = []
    for message in new_messages:
        calls.update(call.id for call in message.tool_calls)
        if message.role is Role.TOOL and message.tool_call_id not in calls:
            missing.append(message.tool_call_id)
    return missing


_UNTIMED_FIELDS = tuple(name for name in NewMessage.__dataclass_fields__ if name != "created_at")


def _stored(
    new_messages: Sequence[NewMessage],
    ids: Sequence[str],
    agent_id: str,
    run_id: str,
    last_seq: int,
    created_at: datetime,
) -> tuple[StoredMessage, ...]:
    """The messages as the append stored them (numbered up to ``last_seq``)."""
    first_seq = last_seq - len(new_messages) + 1
    return tuple(
        StoredMessage(
            **{field: getattr(message, field) for field in NewMessage.__dataclass_fields__},
            id=id_,
            agent_id=agent_id,
            seq=first_seq + offset,
            run_id=run_id,
        )
        if message.created_at is not None
        else StoredMessage(
            **{field: getattr(message, field) for field in _UNTIMED_FIELDS},
            id=id_,
            agent_id=agent_id,
            seq=first_seq + offset,
            run_id=run_id,
            created_at=created_at,
        )
        for offset, (message, id_) in enumerate(zip(new_messages, ids, strict=True))
    )


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
