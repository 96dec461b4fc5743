"""Messages (recall memory), fenced appends, and the context read."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
from services.memory.store.tables import agent_state, appends, messages


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

        The upsert on ``agent_state`` takes the agent's row lock, so appends to one agent are
        serialised in the database whatever the callers do, and sequence numbers have no gaps.
        """
        count = len(new_messages)
        async with self._engine.connect() as conn:
            async with conn.begin() as transaction:
                last_seq = await self._reserve(conn, tenant, agent_id, epoch, count)
                earlier = await self._earlier_append(conn, agent_id, idempotency_key)
                if earlier is not None:
                    # Give back the reserved numbers: the first append already stored these messages.
                    await transaction.rollback()
                else:
                    stored = await self._insert(conn, tenant, agent_id, run_id, last_seq, new_messages)
                    if idempotency_key:
                        await conn.execute(
                            insert(appends).values(
                                agent_id=agent_id,
                                idempotency_key=idempotency_key,
                                first_seq=last_seq - count + 1,
                                last_seq=last_seq,
                            )
                        )
            if earlier is not None:
                return AppendResult(await self._range(conn, tenant, agent_id, *earlier), deduplicated=True)
        return AppendResult(stored)

    @staticmethod
    async def _earlier_append(
        conn: AsyncConnection, agent_id: str, idempotency_key: str
    ) -> tuple[int, int] | None:
        if not idempotency_key:
            return None
        result = await conn.execute(
            select(appends.c.first_seq, appends.c.last_seq).where(
                appends.c.agent_id == agent_id, appends.c.idempotency_key == idempotency_key
            )
        )
        row = result.first()
        return None if row is None else (row.first_seq, row.last_seq)

    @staticmethod
    async def _insert(
        conn: AsyncConnection,
        tenant: str,
        agent_id: str,
        run_id: str,
        last_seq: int,
        new_messages: Sequence[NewMessage],
    ) -> tuple[StoredMessage, ...]:
        first_seq = last_seq - len(new_messages) + 1
        rows = [
            _row(tenant, agent_id, run_id, first_seq + offset, message)
            for offset, message in enumerate(new_messages)
        ]
        result = await conn.execute(insert(messages).returning(messages, sort_by_parameter_order=True), rows)
        return tuple(_message(row) for row in result)

    async def _reserve(
        self, conn: AsyncConnection, tenant: str, agent_id: str, epoch: int, count: int
    ) -> int:
        """Lock the agent's state row, check the epoch, and reserve ``count`` sequence numbers."""
        upsert = pg_insert(agent_state).values(
            agent_id=agent_id, tenant=tenant, max_epoch=epoch, last_seq=count
        )
        upsert = upsert.on_conflict_do_update(
            index_elements=[agent_state.c.agent_id],
            set_={
                "max_epoch": upsert.excluded.max_epoch,
                "last_seq": agent_state.c.last_seq + count,
                "updated_at": func.now(),
            },
            where=and_(agent_state.c.max_epoch <= upsert.excluded.max_epoch, agent_state.c.tenant == tenant),
        ).returning(agent_state.c.last_seq)
        row = (await conn.execute(upsert)).first()
        if row is None:
            current = await conn.execute(
                select(agent_state.c.max_epoch, agent_state.c.tenant).where(
                    agent_state.c.agent_id == agent_id
                )
            )
            state = current.first()
            if state is not None and state.tenant != tenant:
                raise NotFound("agent", agent_id)
            raise FailedPrecondition(
                f"stale epoch {epoch} for agent {agent_id}: epoch {state.max_epoch if state else '?'} "
                "has taken over; this writer no longer holds the agent's lease",
                reason="STALE_EPOCH",
                metadata={"agent_id": agent_id, "epoch": str(epoch)},
            )
        return row.last_seq

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

    async def context(self, *, tenant: str, agent_id: str, compiled_memory: str = "") -> AgentContext:
        """Summary, boundary, epoch and the in-context messages of an agent, in one round trip."""
        query = text(
            """
            SELECT s.boundary_seq, s.summary, s.max_epoch, s.last_seq, m.*
            FROM memory.agent_state s
            LEFT JOIN memory.messages m ON m.agent_id = s.agent_id AND m.seq > s.boundary_seq
            WHERE s.agent_id = :agent_id AND s.tenant = :tenant
            ORDER BY m.seq
            """
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query, {"agent_id": agent_id, "tenant": tenant})).all()
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
        in_context = tuple(_message(row) for row in rows if row.id is not None)
        return AgentContext(
            compiled_memory=compiled_memory,
            summary=first.summary,
            messages=in_context,
            boundary_seq=first.boundary_seq,
            epoch=first.max_epoch,
            message_count=first.last_seq,
        )


def _row(tenant: str, agent_id: str, run_id: str, seq: int, message: NewMessage) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "tenant": tenant,
        "agent_id": agent_id,
        "seq": seq,
        "role": int(message.role),
        "content": message.content,
        "reasoning": message.reasoning,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "run_id": run_id,
        "step": message.step,
        "metadata": message.metadata,
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
