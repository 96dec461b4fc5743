"""Which agents memory knows: an agent exists for memory once it has a row in ``agent_state``
(made by ``InitializeAgentMemory`` or by its first append), and only for its own tenant."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.errors import FailedPrecondition, NotFound

_KNOWN = text("SELECT 1 FROM memory.agent_state WHERE agent_id = :agent_id AND tenant = :tenant")

_ENSURE = text(
    """
    WITH made AS (
        INSERT INTO memory.agent_state (agent_id, tenant) VALUES (:agent_id, :tenant)
        ON CONFLICT (agent_id) DO NOTHING
        RETURNING tenant
    )
    SELECT tenant FROM made UNION ALL SELECT tenant FROM memory.agent_state WHERE agent_id = :agent_id
    """
)


async def knows_agent(conn: AsyncConnection, tenant: str, agent_id: str) -> bool:
    """Whether ``tenant`` has an agent ``agent_id`` in memory."""
    return (await conn.execute(_KNOWN, {"agent_id": agent_id, "tenant": tenant})).first() is not None


async def require_agent(conn: AsyncConnection, tenant: str, agent_id: str) -> None:
    """Raise ``NotFound`` unless ``tenant`` has an agent ``agent_id`` in memory."""
    if not await knows_agent(conn, tenant, agent_id):
        raise NotFound("agent", agent_id)


async def ensure_agent(conn: AsyncConnection, tenant: str, agent_id: str) -> None:
    """Make memory know ``agent_id`` for ``tenant``; ``NotFound`` when another tenant owns the id."""
    owners = (await conn.execute(_ENSURE, {"agent_id": agent_id, "tenant": tenant})).scalars().all()
    if any(owner != tenant for owner in owners):
        raise NotFound("agent", agent_id)


_FENCE = text(
    """
    UPDATE memory.agent_state SET max_epoch = :epoch, updated_at = now()
    WHERE agent_id = :agent_id AND tenant = :tenant AND max_epoch <= :epoch
    RETURNING max_epoch
    """
)


async def fence(conn: AsyncConnection, tenant: str, agent_id: str, epoch: int) -> None:
    """Hold the agent's state row for this transaction, raising ``epoch`` to the highest seen;
    FailedPrecondition (STALE_EPOCH) when a newer lease holder has taken over, NotFound when
    memory does not know the agent."""
    fenced = await conn.execute(_FENCE, {"agent_id": agent_id, "tenant": tenant, "epoch": epoch})
    if fenced.first() is None:
        await require_agent(conn, tenant, agent_id)
        raise FailedPrecondition(
            f"stale epoch {epoch} for agent {agent_id}: a newer lease holder has taken over",
            reason="STALE_EPOCH",
            metadata={"agent_id": agent_id, "epoch": str(epoch)},
        )
