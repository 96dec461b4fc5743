"""The record of keyed effects: a block edit or passage insert made with an idempotency key is
applied once, however often it is asked for.

The record is written in the transaction that applies the effect, so the two commit together. A
run's effects are fenced first (the agent's state row is locked), which serialises them per agent,
so checking for the record before applying cannot race another try of the same run; an effect
without a fence that races its twin loses on the primary key and is rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.memory.store.tables import effects


async def recorded(conn: AsyncConnection, tenant: str, key: str) -> tuple[str, ...] | None:
    """What the effect keyed ``key`` made when it was applied, or None if it never was."""
    row = (
        await conn.execute(
            select(effects.c.outcome).where(effects.c.tenant == tenant, effects.c.idempotency_key == key)
        )
    ).first()
    return None if row is None else tuple(row.outcome)


async def record(
    conn: AsyncConnection, tenant: str, key: str, outcome: Sequence[str], *, agent_id: str = ""
) -> None:
    """Record the effect keyed ``key`` in the caller's transaction (a twin committed first makes
    this raise IntegrityError, which rolls the transaction back)."""
    await conn.execute(
        insert(effects).values(tenant=tenant, idempotency_key=key, agent_id=agent_id, outcome=list(outcome))
    )


def is_twin(error: IntegrityError) -> bool:
    """Whether ``error`` is another application of the same keyed effect committing first."""
    return getattr(error.orig, "constraint_name", None) == "effects_pkey" or "effects_pkey" in str(error)


async def forget_agent(conn: AsyncConnection, agent_id: str) -> None:
    """Drop the records of an agent's effects (its memory is being deleted)."""
    await conn.execute(delete(effects).where(effects.c.agent_id == agent_id))
