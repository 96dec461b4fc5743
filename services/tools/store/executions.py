"""The record of keyed tool executions: who may execute a call now, and the stored result of one
that finished (see migration 0002).

A claim is held until a time: the claimant's time limit for the call plus a margin. A claimant that
dies leaves its claim to expire, and then the next try of the call claims it and executes again;
one that fails or is cancelled releases it at once. Records are kept for ``RETENTION``, long
after any run could try a step again.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from sqlalchemy import Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.tools.core.execution import Claim, ExecutionResult, ExecutionStatus

RETENTION = timedelta(days=7)
PURGE_EVERY = 1000
"""Claims between two purges of records past their retention."""

_CLAIM = text(
    """
    INSERT INTO tools.executions (tenant, idempotency_key, tool_id, claimed_until)
    VALUES (:tenant, :key, :tool_id, now() + make_interval(secs => :hold))
    ON CONFLICT (tenant, idempotency_key) DO UPDATE
        SET claimed_until = excluded.claimed_until, attempts = tools.executions.attempts + 1
        WHERE tools.executions.result IS NULL AND tools.executions.claimed_until < now()
    RETURNING attempts
    """
).bindparams(bindparam("hold", type_=Float))
_STATE = text(
    "SELECT result, claimed_until FROM tools.executions WHERE tenant = :tenant AND idempotency_key = :key"
)
_FINISH = text(
    "UPDATE tools.executions SET result = :result WHERE tenant = :tenant AND idempotency_key = :key"
)
_RELEASE = text(
    "UPDATE tools.executions SET claimed_until = now() "
    "WHERE tenant = :tenant AND idempotency_key = :key AND result IS NULL"
)
_PURGE = text("DELETE FROM tools.executions WHERE created_at < now() - make_interval(days => :days)")


class ExecutionRecords:
    """Claims and results of keyed executions, per tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._claims = 0

    async def claim(self, tenant: str, key: str, *, tool_id: str, hold_seconds: float) -> Claim:
        self._claims += 1
        if self._claims % PURGE_EVERY == 1:
            await self.purge()
        async with self._engine.begin() as conn:
            parameters = {"tenant": tenant, "key": key, "tool_id": tool_id, "hold": hold_seconds}
            if (await conn.execute(_CLAIM, parameters)).first() is not None:
                return Claim(won=True)
            row = (await conn.execute(_STATE, parameters)).first()
        if row is None:  # purged between the two statements: claim it on the next try
            return Claim()
        if row.result is not None:
            return Claim(result=_result(row.result))
        return Claim(held_until=row.claimed_until)

    async def finish(self, tenant: str, key: str, result: ExecutionResult) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_FINISH, {"tenant": tenant, "key": key, "result": _json(result)})

    async def release(self, tenant: str, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_RELEASE, {"tenant": tenant, "key": key})

    async def purge(self) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_PURGE, {"days": RETENTION.days})


def _json(result: ExecutionResult) -> str:
    # json.dumps escapes control characters, so any text the tool returned fits a text column.
    return json.dumps({**dataclasses.asdict(result), "status": result.status.value})


def _result(stored: str) -> ExecutionResult:
    fields = json.loads(stored)
    return ExecutionResult(**{**fields, "status": ExecutionStatus(fields["status"])})
