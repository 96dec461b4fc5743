"""Messages (recall memory), fenced appends, and the context read.

The two hot statements (append, context) are plain SQL compiled once: they run on every step of
every agent, and SQLAlchemy's statement building was a third of the service's CPU there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer, bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import FailedPrecondition, NotFound
from services.memory.core.model import (
    AgentContext,
    AppendResult,
    NewMessage,
    Role,
    StoredMessage,
    ToolCallRecord,
)
from services.memory.store.tables import agent_state, messages

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

_CONTEXT = text(
    """
    SELECT s.boundary_seq, s.summary, s.max_epoch, s.last_seq, m.*
    FROM memory.agent_state s
    LEFT JOIN LATERAL (
        SELECT * FROM memory.messages mm
        WHERE mm.agent_id = s.agent_id AND mm.seq > s.boundary_seq
        ORDER BY mm.seq DESC
        LIMIT :limit
    ) m ON true
    WHERE s.agent_id = :agent_id AND s.tenant = :tenant
    ORDER BY m.seq
    """
).bindparams(bindparam("limit", type_=Integer))

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
            select(messages)
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
        query = select(messages).where(messages.c.tenant == tenant, messages.c.agent_id == agent_id)
        if after_seq:
            query = query.where(messages.c.seq > after_seq)
        if before_seq:
            query = query.where(messages.c.seq < before_seq)
        if roles:
            query = query.where(messages.c.role.in_([int(role) for role in roles]))
        order = messages.c.seq.desc() if descending else messages.c.seq.asc()
        async with self._engine.connect() as conn:
            result = await conn.execute(query.order_by(order).limit(limit))
            return [_message(row) for row in result]

    async def context(
        self, *, tenant: str, agent_id: str, max_messages: int = 0, compiled_memory: str = ""
    ) -> AgentContext:
        """Summary, boundary, epoch and the in-context messages of an agent, in one round trip.

        With ``max_messages``, only the newest that many, never starting with a tool result whose
        call was cut off.
        """
        parameters = {"agent_id": agent_id, "tenant": tenant, "limit": max_messages or None}
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_CONTEXT, parameters)).all()
        if not rows:
            return AgentContext(
                compiled_memory=compiled_memory,
                summary="",
                messages=(),
                boundary_seq=0,
                epoch=0,
                message_count=0,
            )
        first = rows[0]
        in_context = [_message(row) for row in rows if row.id is not None]
        if max_messages:
            while in_context and in_context[0].role is Role.TOOL:
                in_context.pop(0)
        return AgentContext(
            compiled_memory=compiled_memory,
            summary=first.summary,
            messages=tuple(in_context),
            boundary_seq=first.boundary_seq,
            epoch=first.max_epoch,
            message_count=first.last_seq,
        )


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
