"""Runs, their stored events and the agent leases, in the ``gateway`` schema.

Every statement here is one round trip in autocommit: each is atomic on its own, so no transaction
is ever held open across an await. The hot ones (accept, claim, store events) are written out in
SQL, because their whole point is to do several things in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, SmallInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentsuite.gateway.v1 import gateway_pb2

QUEUED = gateway_pb2.RUN_STATUS_QUEUED
RUNNING = gateway_pb2.RUN_STATUS_RUNNING
CANCELLED = gateway_pb2.RUN_STATUS_CANCELLED
AWAITING_APPROVAL = gateway_pb2.RUN_STATUS_AWAITING_APPROVAL
UNFINISHED = (QUEUED, RUNNING)

RUN_COLUMNS = """
    r.id::text AS id, r.tenant, r.agent_id, r.status, r.idempotency_key, r.step_request, r.deltas,
    r.call_chain, r.epoch, r.cancel_requested, r.stop_reason, r.stop_detail, r.result, r.lane_seq,
    r.created_at, r.started_at, r.finished_at,
    (SELECT coalesce(max(e.seq), 0) FROM gateway.run_events e WHERE e.run_id = r.id) AS last_seq
"""


@dataclass(frozen=True)
class RunRow:
    """A run as stored."""

    id: str
    tenant: str
    agent_id: str
    status: int
    idempotency_key: str | None
    step_request: bytes
    deltas: bool
    call_chain: str
    epoch: int
    cancel_requested: bool
    stop_reason: int
    stop_detail: str
    result: bytes | None
    lane_seq: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_seq: int


def _row(mapping) -> RunRow:
    return RunRow(**{name: mapping[name] for name in RunRow.__dataclass_fields__})


@dataclass(frozen=True)
class Acceptance:
    """What the accept statement found: the new run's id, or why there is none."""

    accepted_id: str | None
    existing_id: str | None
    """The run an earlier request with the same idempotency key created."""
    ahead: int
    """Runs of the agent queued or running before this one."""
    queued: int
    running_id: str | None
    """The agent's running run (or its oldest queued one), for a rejection."""
    interrupted: tuple[str, ...]


_ACCEPT = text(
    """
    WITH existing AS (
        SELECT id FROM gateway.runs
        WHERE tenant = :tenant AND agent_id = :agent_id AND idempotency_key = :key
    ), busy AS (
        SELECT count(*) FILTER (WHERE status = 1) AS queued, count(*) AS ahead,
            (array_agg(id::text ORDER BY status DESC, lane_seq))[1] AS running_id
        FROM gateway.runs WHERE tenant = :tenant AND agent_id = :agent_id AND status IN (1, 2)
    ), accepted AS (
        INSERT INTO gateway.runs (id, tenant, agent_id, status, priority, idempotency_key, step_request,
            deltas, call_chain)
        SELECT :id, :tenant, :agent_id, 1, :priority, :key, :step_request, :deltas, :call_chain
        FROM busy
        WHERE NOT EXISTS (SELECT 1 FROM existing) AND busy.queued < :max_queued
            AND (NOT :reject_if_busy OR busy.ahead = 0)
        ON CONFLICT (tenant, agent_id, idempotency_key) DO NOTHING
        RETURNING id
    ), queued_event AS (
        INSERT INTO gateway.run_events (run_id, seq, event)
        SELECT a.id, 1, gateway.queued_event(:event_head, b.ahead::int) FROM accepted a, busy b
    ), interrupted AS (
        UPDATE gateway.runs SET cancel_requested = true
        WHERE :interrupt AND tenant = :tenant AND agent_id = :agent_id AND status = 2
            AND EXISTS (SELECT 1 FROM accepted)
        RETURNING id::text
    )
    SELECT (SELECT id::text FROM accepted) AS accepted_id, (SELECT id::text FROM existing) AS existing_id,
        b.ahead, b.queued, b.running_id, array(SELECT id FROM interrupted) AS interrupted
    FROM busy b
    """
).bindparams(
    bindparam("step_request", type_=LargeBinary),
    bindparam("event_head", type_=LargeBinary),
    bindparam("priority", type_=SmallInteger),
    bindparam("max_queued", type_=Integer),
    bindparam("reject_if_busy", type_=Boolean),
    bindparam("interrupt", type_=Boolean),
    bindparam("deltas", type_=Boolean),
)

_CLAIM = text(
    f"""
    WITH lease AS (
        SELECT 1 FROM gateway.agent_leases
        WHERE tenant = :tenant AND agent_id = :agent_id AND holder = :holder AND epoch = :epoch
            AND expires_at > now()
    ), next AS (
        SELECT id FROM gateway.runs
        WHERE tenant = :tenant AND agent_id = :agent_id AND status IN (1, 2) AND EXISTS (SELECT 1 FROM lease)
        ORDER BY status DESC, priority DESC, lane_seq
        LIMIT 1
        FOR UPDATE
    ), claimed AS (
        UPDATE gateway.runs r SET status = 2, epoch = :epoch, started_at = coalesce(r.started_at, now())
        FROM next WHERE r.id = next.id
        RETURNING r.*
    ), overtaken AS (
        UPDATE gateway.runs SET status = 5, stop_reason = 5, finished_at = now(),
            stop_detail = 'overtaken by a newer run before its approvals came'
        WHERE tenant = :tenant AND agent_id = :agent_id AND status = 6 AND EXISTS (SELECT 1 FROM claimed)
    )
    SELECT {RUN_COLUMNS},
        (SELECT count(*) FROM gateway.runs q
         WHERE q.tenant = :tenant AND q.agent_id = :agent_id AND q.status = 1 AND q.id <> r.id) AS waiting
    FROM claimed r
    """
).bindparams(bindparam("epoch", type_=BigInteger))

_STORE = text(
    """
    WITH incoming AS (
        SELECT * FROM unnest(CAST(:run_ids AS uuid[]), CAST(:epochs AS bigint[]), CAST(:seqs AS bigint[]),
            CAST(:events AS bytea[])) AS e(run_id, epoch, seq, event)
    ), fenced AS (
        SELECT i.run_id, i.seq, i.event FROM incoming i
        JOIN gateway.runs r ON r.id = i.run_id AND r.epoch = i.epoch AND r.status = 2
    ), stored AS (
        INSERT INTO gateway.run_events (run_id, seq, event) SELECT run_id, seq, event FROM fenced
        ON CONFLICT DO NOTHING
    ), finished AS (
        UPDATE gateway.runs r SET status = f.status, stop_reason = f.stop_reason,
            stop_detail = f.stop_detail, result = f.result, finished_at = f.finished_at
        FROM unnest(CAST(:f_run_ids AS uuid[]), CAST(:f_epochs AS bigint[]), CAST(:f_statuses AS smallint[]),
            CAST(:f_stop_reasons AS smallint[]), CAST(:f_stop_details AS text[]),
            CAST(:f_results AS bytea[]), CAST(:f_finished_ats AS timestamptz[]))
            AS f(run_id, epoch, status, stop_reason, stop_detail, result, finished_at)
        WHERE r.id = f.run_id AND r.epoch = f.epoch AND r.status = 2
        RETURNING r.id::text
    ), told AS (
        SELECT pg_notify('agentsuite_run_events', string_agg(DISTINCT run_id::text, ','))
        FROM fenced HAVING count(*) > 0
    )
    SELECT array(SELECT DISTINCT run_id::text FROM fenced) AS stored, array(SELECT id FROM finished) AS finished,
        (SELECT count(*) FROM told) AS told
    """
)

_GET = text(f"SELECT {RUN_COLUMNS} FROM gateway.runs r WHERE r.id = CAST(:id AS uuid) AND r.tenant = :tenant")

_EVENTS_AFTER = text(
    """
    SELECT seq, event FROM gateway.run_events
    WHERE run_id = CAST(:run_id AS uuid) AND seq > :after ORDER BY seq LIMIT :limit
    """
).bindparams(bindparam("after", type_=BigInteger), bindparam("limit", type_=Integer))

_AWAITING = text(
    f"""
    SELECT {RUN_COLUMNS} FROM gateway.runs r
    WHERE r.tenant = :tenant AND r.agent_id = :agent_id AND r.status = 6
    ORDER BY r.lane_seq DESC LIMIT 1
    """
)

_CONTINUE = text(
    """
    WITH continued AS (
        UPDATE gateway.runs SET status = 1, step_request = :step_request, stop_reason = 0, stop_detail = '',
            finished_at = NULL, deltas = :deltas
        WHERE id = CAST(:id AS uuid) AND tenant = :tenant AND status = 6
        RETURNING id
    )
    INSERT INTO gateway.run_events (run_id, seq, event)
    SELECT id, :seq, :event FROM continued
    RETURNING run_id::text
    """
).bindparams(
    bindparam("step_request", type_=LargeBinary),
    bindparam("event", type_=LargeBinary),
    bindparam("seq", type_=BigInteger),
    bindparam("deltas", type_=Boolean),
)

_CANCEL_WAITING = text(
    """
    WITH cancelled AS (
        UPDATE gateway.runs SET status = 5, stop_reason = 5, stop_detail = :detail, finished_at = :finished_at
        WHERE id = CAST(:id AS uuid) AND tenant = :tenant AND status IN (1, 6)
        RETURNING id
    )
    INSERT INTO gateway.run_events (run_id, seq, event)
    SELECT id, :seq, :event FROM cancelled
    RETURNING run_id::text
    """
).bindparams(bindparam("event", type_=LargeBinary), bindparam("seq", type_=BigInteger))

_REQUEST_CANCEL = text(
    """
    UPDATE gateway.runs SET cancel_requested = true
    WHERE id = CAST(:id AS uuid) AND tenant = :tenant AND status = 2
    RETURNING id::text
    """
)

_ACQUIRE = text(
    """
    INSERT INTO gateway.agent_leases AS l (tenant, agent_id, holder, epoch, expires_at)
    VALUES (:tenant, :agent_id, :holder, 1, now() + make_interval(secs => :ttl))
    ON CONFLICT (tenant, agent_id) DO UPDATE
    SET holder = :holder, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => :ttl)
    WHERE l.holder IS NULL OR l.expires_at <= now()
    RETURNING epoch
    """
)

_RENEW = text(
    """
    UPDATE gateway.agent_leases l SET expires_at = now() + make_interval(secs => :ttl)
    FROM unnest(CAST(:tenants AS text[]), CAST(:agent_ids AS text[]), CAST(:epochs AS bigint[]))
        AS h(tenant, agent_id, epoch)
    WHERE l.tenant = h.tenant AND l.agent_id = h.agent_id AND l.holder = :holder AND l.epoch = h.epoch
    RETURNING l.tenant, l.agent_id
    """
)

_RELEASE = text(
    """
    WITH released AS (
        UPDATE gateway.agent_leases SET holder = NULL, expires_at = now()
        WHERE tenant = :tenant AND agent_id = :agent_id AND holder = :holder AND epoch = :epoch
        RETURNING 1
    )
    SELECT EXISTS (
        SELECT 1 FROM gateway.runs WHERE tenant = :tenant AND agent_id = :agent_id AND status IN (1, 2)
    ) AS has_work, (SELECT count(*) FROM released) AS released
    """
).bindparams(bindparam("epoch", type_=BigInteger))

_ORPHANED = text(
    """
    SELECT DISTINCT r.tenant, r.agent_id FROM gateway.runs r
    LEFT JOIN gateway.agent_leases l ON l.tenant = r.tenant AND l.agent_id = r.agent_id
    WHERE r.status IN (1, 2) AND r.created_at < now() - make_interval(secs => :grace)
        AND (l.holder IS NULL OR l.expires_at <= now())
    LIMIT :limit
    """
)

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True)
class FinishRow:
    run_id: str
    epoch: int
    status: int
    stop_reason: int
    stop_detail: str
    result: bytes
    finished_at: datetime


@dataclass(frozen=True)
class StoredBatch:
    stored: frozenset[str]
    """Runs whose events were stored (their epoch still current)."""
    finished: frozenset[str]


class RunStore:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def accept(
        self,
        *,
        run_id: str,
        tenant: str,
        agent_id: str,
        idempotency_key: str | None,
        step_request: bytes,
        deltas: bool,
        call_chain: str,
        event_head: bytes,
        max_queued: int,
        priority: int = 0,
        reject_if_busy: bool = False,
        interrupt: bool = False,
    ) -> Acceptance:
        """Record a queued run and its queued event in one statement, unless the key was seen, the
        queue is full, or the agent is busy and ``reject_if_busy``."""
        params = {
            "id": run_id,
            "tenant": tenant,
            "agent_id": agent_id,
            "key": idempotency_key,
            "step_request": step_request,
            "deltas": deltas,
            "call_chain": call_chain,
            "event_head": event_head,
            "max_queued": max_queued,
            "priority": priority,
            "reject_if_busy": reject_if_busy,
            "interrupt": interrupt,
        }
        for _ in range(3):  # a concurrent request with the same key may commit between our reads
            async with self._engine.connect() as conn:
                row = (await conn.execute(_ACCEPT, params)).one()
            if row.accepted_id or row.existing_id or not idempotency_key:
                break
            if row.queued >= max_queued or (reject_if_busy and row.ahead):
                break
        return Acceptance(
            accepted_id=row.accepted_id,
            existing_id=row.existing_id,
            ahead=row.ahead,
            queued=row.queued,
            running_id=row.running_id,
            interrupted=tuple(row.interrupted or ()),
        )

    async def claim(self, tenant: str, agent_id: str, holder: str, epoch: int) -> tuple[RunRow, int] | None:
        """Start the agent's next run under this lease: an orphaned running one first, else the
        oldest queued (interrupting ones first). Returns it with the number still waiting."""
        params = {"tenant": tenant, "agent_id": agent_id, "holder": holder, "epoch": epoch}
        async with self._engine.connect() as conn:
            row = (await conn.execute(_CLAIM, params)).mappings().first()
        if row is None:
            return None
        return _row(row), row["waiting"]

    async def store(
        self, events: Sequence[tuple[str, int, int, bytes]], finishes: Sequence[FinishRow]
    ) -> StoredBatch:
        """Store (run id, epoch, seq, event) rows and finish runs, each only while its epoch is the
        run's current one; listeners hear which runs have new events."""
        params = {
            "run_ids": [e[0] for e in events],
            "epochs": [e[1] for e in events],
            "seqs": [e[2] for e in events],
            "events": [e[3] for e in events],
            "f_run_ids": [f.run_id for f in finishes],
            "f_epochs": [f.epoch for f in finishes],
            "f_statuses": [f.status for f in finishes],
            "f_stop_reasons": [f.stop_reason for f in finishes],
            "f_stop_details": [f.stop_detail for f in finishes],
            "f_results": [f.result for f in finishes],
            "f_finished_ats": [f.finished_at for f in finishes],
        }
        async with self._engine.connect() as conn:
            row = (await conn.execute(_STORE, params)).one()
        return StoredBatch(stored=frozenset(row.stored), finished=frozenset(row.finished))

    async def get(self, tenant: str, run_id: str) -> RunRow | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_GET, {"id": run_id, "tenant": tenant})).mappings().first()
        return None if row is None else _row(row)

    async def list(
        self, tenant: str, *, agent_id: str, statuses: Sequence[int], before: int | None, limit: int
    ) -> list[RunRow]:
        """Newest first, optionally of one agent and some statuses, before a ``lane_seq``."""
        conditions = ["r.tenant = :tenant"]
        params: dict = {"tenant": tenant, "limit": limit}
        if agent_id:
            conditions.append("r.agent_id = :agent_id")
            params["agent_id"] = agent_id
        if statuses:
            conditions.append("r.status = ANY(CAST(:statuses AS smallint[]))")
            params["statuses"] = list(statuses)
        if before is not None:
            conditions.append("r.lane_seq < :before")
            params["before"] = before
        query = text(
            f"SELECT {RUN_COLUMNS} FROM gateway.runs r WHERE {' AND '.join(conditions)} "
            "ORDER BY r.lane_seq DESC LIMIT :limit"
        )
        async with self._engine.connect() as conn:
            return [_row(row) for row in (await conn.execute(query, params)).mappings()]

    async def events_after(self, run_id: str, after: int, limit: int = 500) -> list[tuple[int, bytes]]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(_EVENTS_AFTER, {"run_id": run_id, "after": after, "limit": limit})
            return [(row.seq, row.event) for row in rows]

    async def awaiting_approval(self, tenant: str, agent_id: str) -> RunRow | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(_AWAITING, {"tenant": tenant, "agent_id": agent_id})).mappings().first()
        return None if row is None else _row(row)

    async def continue_run(
        self, tenant: str, run_id: str, step_request: bytes, deltas: bool, seq: int, event: bytes
    ) -> bool:
        """Queue a run awaiting approval again, with its queued event; False when it no longer waits."""
        params = {
            "tenant": tenant,
            "id": run_id,
            "step_request": step_request,
            "deltas": deltas,
            "seq": seq,
            "event": event,
        }
        async with self._engine.connect() as conn:
            row = (await conn.execute(_CONTINUE, params)).first()
        return row is not None

    async def cancel_waiting(
        self, tenant: str, run_id: str, *, detail: str, seq: int, event: bytes, finished_at: datetime
    ) -> bool:
        """Cancel a queued run or one awaiting approval, storing its finished event."""
        params = {
            "tenant": tenant,
            "id": run_id,
            "detail": detail,
            "seq": seq,
            "event": event,
            "finished_at": finished_at,
        }
        async with self._engine.connect() as conn:
            row = (await conn.execute(_CANCEL_WAITING, params)).first()
        return row is not None

    async def request_cancel(self, tenant: str, run_id: str) -> bool:
        """Mark a running run to be cancelled by whichever gateway executes it."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_REQUEST_CANCEL, {"tenant": tenant, "id": run_id})).first()
        return row is not None

    async def notify(self, channel: str, payload: str) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})


class LeaseStore:
    """One row per agent: which gateway may run it, under which epoch, until when."""

    def __init__(self, engine: AsyncEngine, holder: str, ttl_seconds: float):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.holder = holder
        self._ttl = ttl_seconds

    async def acquire(self, tenant: str, agent_id: str) -> int | None:
        """The new epoch when the lease was free or expired; None while another holds it."""
        params = {"tenant": tenant, "agent_id": agent_id, "holder": self.holder, "ttl": self._ttl}
        async with self._engine.connect() as conn:
            epoch = (await conn.execute(_ACQUIRE, params)).scalar()
        return epoch

    async def renew(self, held: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        """Extend the leases still held; returns the (tenant, agent) pairs renewed."""
        params = {
            "tenants": [h[0] for h in held],
            "agent_ids": [h[1] for h in held],
            "epochs": [h[2] for h in held],
            "holder": self.holder,
            "ttl": self._ttl,
        }
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_RENEW, params)).all()
        return {(row.tenant, row.agent_id) for row in rows}

    async def release(self, tenant: str, agent_id: str, epoch: int) -> bool:
        """Give the lease up; True when the agent has runs waiting (someone must take it again)."""
        params = {"tenant": tenant, "agent_id": agent_id, "holder": self.holder, "epoch": epoch}
        async with self._engine.connect() as conn:
            row = (await conn.execute(_RELEASE, params)).one()
        return bool(row.has_work)

    async def orphaned(self, *, grace_seconds: float, limit: int = 500) -> list[tuple[str, str]]:
        """Agents with unfinished runs and no live lease (their gateway died, or none took them)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(_ORPHANED, {"grace": grace_seconds, "limit": limit})
            return [(row.tenant, row.agent_id) for row in rows]
