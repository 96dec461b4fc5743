"""Runs, their stored events and the agent leases, in the ``gateway`` schema.

Every statement here is one round trip in autocommit, through asyncpg alone (these are the
statements on the path of every message): each is atomic on its own, so no transaction is ever held
open across an await. Acceptance and release are SQL functions (migration 0003) because they must
read the agent's runs after taking its lease row's lock; the rest are single statements that do
several things at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from agentsuite.gateway.v1 import gateway_pb2
from services.common import metrics

QUEUED = gateway_pb2.RUN_STATUS_QUEUED
RUNNING = gateway_pb2.RUN_STATUS_RUNNING
AWAITING_APPROVAL = gateway_pb2.RUN_STATUS_AWAITING_APPROVAL

RUN_COLUMNS = """
    r.id::text AS id, r.tenant, r.agent_id, r.status, r.idempotency_key, r.step_request, r.deltas,
    r.call_chain, r.parent_run_id, r.epoch, r.cancel_requested, r.stop_reason, r.stop_detail, r.result, r.lane_seq,
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
    parent_run_id: str | None
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


def _row(record: asyncpg.Record) -> RunRow:
    return RunRow(**{name: record[name] for name in RunRow.__dataclass_fields__})


@dataclass(frozen=True)
class StartOffer:
    """This gateway offers to start a run at once: its lane of the agent is idle and holds the lease
    under ``epoch``, or (``epoch`` None) it has no lane of the agent and takes the lease if free."""

    holder: str
    epoch: int | None
    ttl_seconds: float


@dataclass(frozen=True)
class Acceptance:
    """What acceptance found: the new run, or why there is none."""

    accepted_id: str | None
    existing_id: str | None
    """The run an earlier request with the same idempotency key created."""
    ahead: int
    """Runs of the agent queued or running before this one."""
    queued: int
    running_id: str | None
    """The agent's running run (or its oldest queued one), for a rejection."""
    interrupted: tuple[str, ...]
    lease_epoch: int | None = None
    """The epoch of the lease the offer held or took, when it was taken up."""
    started: RunRow | None = None
    """The run, when it was recorded as already claimed under ``lease_epoch``."""


_ACCEPT = """
SELECT * FROM gateway.accept_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
"""

_CLAIM = f"""
WITH lease AS (
    SELECT 1 FROM gateway.agent_leases
    WHERE tenant = $1 AND agent_id = $2 AND holder = $3 AND epoch = $4 AND expires_at > now()
), next AS (
    SELECT id FROM gateway.runs
    WHERE tenant = $1 AND agent_id = $2 AND status IN (1, 2) AND EXISTS (SELECT 1 FROM lease)
    ORDER BY status DESC, priority DESC, lane_seq
    LIMIT 1
    FOR UPDATE
), claimed AS (
    UPDATE gateway.runs r SET status = 2, epoch = $4, started_at = coalesce(r.started_at, now())
    FROM next WHERE r.id = next.id
    RETURNING r.*
), overtaken AS (
    UPDATE gateway.runs SET status = 5, stop_reason = 5, finished_at = now(),
        stop_detail = 'overtaken by a newer run before its approvals came'
    WHERE tenant = $1 AND agent_id = $2 AND status = 6 AND EXISTS (SELECT 1 FROM claimed)
)
SELECT {RUN_COLUMNS},
    (SELECT count(*) FROM gateway.runs q
     WHERE q.tenant = $1 AND q.agent_id = $2 AND q.status = 1 AND q.id <> r.id) AS waiting
FROM claimed r
"""

_STORE = """
WITH incoming AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bytea[]) AS e(run_id, epoch, seq, event)
), fenced AS (
    SELECT i.run_id, i.seq, i.event FROM incoming i
    JOIN gateway.runs r ON r.id = i.run_id AND r.epoch = i.epoch AND r.status = 2
), stored AS (
    INSERT INTO gateway.run_events (run_id, seq, event) SELECT run_id, seq, event FROM fenced
    ON CONFLICT DO NOTHING
), finished AS (
    UPDATE gateway.runs r SET status = f.status, stop_reason = f.stop_reason,
        stop_detail = f.stop_detail, result = f.result, finished_at = f.finished_at
    FROM unnest($5::uuid[], $6::bigint[], $7::smallint[], $8::smallint[], $9::text[], $10::bytea[],
        $11::timestamptz[]) AS f(run_id, epoch, status, stop_reason, stop_detail, result, finished_at)
    WHERE r.id = f.run_id AND r.epoch = f.epoch AND r.status = 2
    RETURNING r.id::text
), told AS (
    SELECT pg_notify('agentsuite_run_events', string_agg(DISTINCT run_id::text, ','))
    FROM fenced HAVING count(*) > 0
)
SELECT array(SELECT DISTINCT run_id::text FROM fenced) AS stored, array(SELECT id FROM finished) AS finished,
    (SELECT count(*) FROM told) AS told
"""

_GET = f"SELECT {RUN_COLUMNS} FROM gateway.runs r WHERE r.id = $1::uuid AND r.tenant = $2"

_EVENTS_AFTER = """
SELECT seq, event FROM gateway.run_events WHERE run_id = $1::uuid AND seq > $2 ORDER BY seq LIMIT $3
"""

_AWAITING = f"""
SELECT {RUN_COLUMNS} FROM gateway.runs r
WHERE r.tenant = $1 AND r.agent_id = $2 AND r.status = 6
ORDER BY r.lane_seq DESC LIMIT 1
"""

_CONTINUE = """
WITH continued AS (
    UPDATE gateway.runs SET status = 1, step_request = $3, stop_reason = 0, stop_detail = '',
        finished_at = NULL, deltas = $4
    WHERE id = $2::uuid AND tenant = $1 AND status = 6
    RETURNING id
)
INSERT INTO gateway.run_events (run_id, seq, event)
SELECT id, $5, $6 FROM continued
RETURNING run_id::text
"""

_CANCEL_WAITING = """
WITH cancelled AS (
    UPDATE gateway.runs SET status = 5, stop_reason = 5, stop_detail = $3, finished_at = $4
    WHERE id = $2::uuid AND tenant = $1 AND status IN (1, 6)
    RETURNING id
)
INSERT INTO gateway.run_events (run_id, seq, event)
SELECT id, $5, $6 FROM cancelled
RETURNING run_id::text
"""

_REQUEST_CANCEL = """
UPDATE gateway.runs SET cancel_requested = true
WHERE id = $2::uuid AND tenant = $1 AND status = 2
RETURNING id::text
"""

_ACQUIRE = """
WITH before AS (SELECT holder FROM gateway.agent_leases WHERE tenant = $1 AND agent_id = $2)
INSERT INTO gateway.agent_leases AS l (tenant, agent_id, holder, epoch, expires_at)
VALUES ($1, $2, $3, 1, now() + make_interval(secs => $4))
ON CONFLICT (tenant, agent_id) DO UPDATE
SET holder = $3, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => $4)
WHERE l.holder IS NULL OR l.holder = $3 OR l.expires_at <= now()
RETURNING epoch, coalesce((SELECT holder <> $3 FROM before), false) AS took_over
"""

_RENEW = """
UPDATE gateway.agent_leases l SET expires_at = now() + make_interval(secs => $5)
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS h(tenant, agent_id, epoch)
WHERE l.tenant = h.tenant AND l.agent_id = h.agent_id AND l.holder = $4 AND l.epoch = h.epoch
RETURNING l.tenant, l.agent_id
"""

_RELEASE = "SELECT gateway.release_lease($1, $2, $3, $4)"

_ORPHANED = """
SELECT DISTINCT r.tenant, r.agent_id FROM gateway.runs r
LEFT JOIN gateway.agent_leases l ON l.tenant = r.tenant AND l.agent_id = r.agent_id
WHERE r.status IN (1, 2) AND r.created_at < now() - make_interval(secs => $1)
    AND (l.holder IS NULL OR l.expires_at <= now())
LIMIT $2
"""

_NOTIFY = "SELECT pg_notify($1, $2)"


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
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

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
        parent_run_id: str | None = None,
        priority: int = 0,
        reject_if_busy: bool = False,
        interrupt: bool = False,
        offer: StartOffer | None = None,
    ) -> Acceptance:
        """Record a queued run and its queued event, unless the key was seen, the queue is full, or
        the agent is busy and ``reject_if_busy``; recorded as started instead when ``offer`` can be
        taken up and nothing is ahead of it. Acceptances of one agent are serialized."""
        record = await self._pool.fetchrow(
            _ACCEPT,
            run_id,
            tenant,
            agent_id,
            idempotency_key,
            step_request,
            deltas,
            call_chain,
            event_head,
            max_queued,
            priority,
            reject_if_busy,
            interrupt,
            offer.holder if offer else None,
            offer.epoch if offer else None,
            offer is not None,
            offer.ttl_seconds if offer else 0.0,
            parent_run_id,
        )
        started = None
        if record["started"]:
            started = RunRow(
                id=run_id,
                tenant=tenant,
                agent_id=agent_id,
                status=RUNNING,
                idempotency_key=idempotency_key,
                step_request=step_request,
                deltas=deltas,
                call_chain=call_chain,
                parent_run_id=parent_run_id,
                epoch=record["lease_epoch"],
                cancel_requested=False,
                stop_reason=0,
                stop_detail="",
                result=None,
                lane_seq=record["lane_seq"],
                created_at=record["created_at"],
                started_at=record["created_at"],
                finished_at=None,
                last_seq=1,
            )
        return Acceptance(
            accepted_id=run_id if record["accepted"] else None,
            existing_id=record["existing_id"],
            ahead=record["ahead"] or 0,
            queued=record["queued"] or 0,
            running_id=record["running_id"],
            interrupted=tuple(record["interrupted"] or ()),
            lease_epoch=record["lease_epoch"],
            started=started,
        )

    async def claim(self, tenant: str, agent_id: str, holder: str, epoch: int) -> tuple[RunRow, int] | None:
        """Start the agent's next run under this lease: an orphaned running one first, else the
        oldest queued (interrupting ones first). Returns it with the number still waiting."""
        record = await self._pool.fetchrow(_CLAIM, tenant, agent_id, holder, epoch)
        if record is None:
            return None
        return _row(record), record["waiting"]

    async def store(
        self, events: Sequence[tuple[str, int, int, bytes]], finishes: Sequence[FinishRow]
    ) -> StoredBatch:
        """Store (run id, epoch, seq, event) rows and finish runs, each only while its epoch is the
        run's current one; listeners hear which runs have new events."""
        record = await self._pool.fetchrow(
            _STORE,
            [e[0] for e in events],
            [e[1] for e in events],
            [e[2] for e in events],
            [e[3] for e in events],
            [f.run_id for f in finishes],
            [f.epoch for f in finishes],
            [f.status for f in finishes],
            [f.stop_reason for f in finishes],
            [f.stop_detail for f in finishes],
            [f.result for f in finishes],
            [f.finished_at for f in finishes],
        )
        return StoredBatch(stored=frozenset(record["stored"]), finished=frozenset(record["finished"]))

    async def get(self, tenant: str, run_id: str) -> RunRow | None:
        record = await self._pool.fetchrow(_GET, run_id, tenant)
        return None if record is None else _row(record)

    async def list(
        self, tenant: str, *, agent_id: str, statuses: Sequence[int], before: int | None, limit: int
    ) -> list[RunRow]:
        """Newest first, optionally of one agent and some statuses, before a ``lane_seq``."""
        conditions = ["r.tenant = $1"]
        params: list = [tenant]
        if agent_id:
            params.append(agent_id)
            conditions.append(f"r.agent_id = ${len(params)}")
        if statuses:
            params.append(list(statuses))
            conditions.append(f"r.status = ANY(${len(params)}::smallint[])")
        if before is not None:
            params.append(before)
            conditions.append(f"r.lane_seq < ${len(params)}")
        params.append(limit)
        query = (
            f"SELECT {RUN_COLUMNS} FROM gateway.runs r WHERE {' AND '.join(conditions)} "
            f"ORDER BY r.lane_seq DESC LIMIT ${len(params)}"
        )
        return [_row(record) for record in await self._pool.fetch(query, *params)]

    async def events_after(self, run_id: str, after: int, limit: int = 500) -> list[tuple[int, bytes]]:
        records = await self._pool.fetch(_EVENTS_AFTER, run_id, after, limit)
        return [(record["seq"], record["event"]) for record in records]

    async def awaiting_approval(self, tenant: str, agent_id: str) -> RunRow | None:
        record = await self._pool.fetchrow(_AWAITING, tenant, agent_id)
        return None if record is None else _row(record)

    async def continue_run(
        self, tenant: str, run_id: str, step_request: bytes, deltas: bool, seq: int, event: bytes
    ) -> bool:
        """Queue a run awaiting approval again, with its queued event; False when it no longer waits."""
        record = await self._pool.fetchrow(_CONTINUE, tenant, run_id, step_request, deltas, seq, event)
        return record is not None

    async def cancel_waiting(
        self, tenant: str, run_id: str, *, detail: str, seq: int, event: bytes, finished_at: datetime
    ) -> bool:
        """Cancel a queued run or one awaiting approval, storing its finished event."""
        record = await self._pool.fetchrow(_CANCEL_WAITING, tenant, run_id, detail, finished_at, seq, event)
        return record is not None

    async def request_cancel(self, tenant: str, run_id: str) -> bool:
        """Mark a running run to be cancelled by whichever gateway executes it."""
        return await self._pool.fetchrow(_REQUEST_CANCEL, tenant, run_id) is not None

    async def notify(self, channel: str, payload: str) -> None:
        await self._pool.execute(_NOTIFY, channel, payload)


class LeaseStore:
    """One row per agent: which gateway may run it, under which epoch, until when."""

    def __init__(self, pool: asyncpg.Pool, holder: str, ttl_seconds: float):
        self._pool = pool
        self.holder = holder
        self.ttl_seconds = ttl_seconds

    def offer(self, epoch: int | None) -> StartOffer:
        return StartOffer(self.holder, epoch, self.ttl_seconds)

    async def acquire(self, tenant: str, agent_id: str) -> int | None:
        """The new epoch when the lease was free, expired or ours; None while another holds it."""
        record = await self._pool.fetchrow(_ACQUIRE, tenant, agent_id, self.holder, self.ttl_seconds)
        if record is None:
            return None
        metrics.record_lease_acquired(takeover=record["took_over"])
        return record["epoch"]

    async def renew(self, held: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        """Extend the leases still held; returns the (tenant, agent) pairs renewed."""
        records = await self._pool.fetch(
            _RENEW,
            [h[0] for h in held],
            [h[1] for h in held],
            [h[2] for h in held],
            self.holder,
            self.ttl_seconds,
        )
        return {(record["tenant"], record["agent_id"]) for record in records}

    async def release(self, tenant: str, agent_id: str, epoch: int) -> bool:
        """Give the lease up; True when the agent has runs waiting (someone must take it again)."""
        return bool(await self._pool.fetchval(_RELEASE, tenant, agent_id, self.holder, epoch))

    async def orphaned(self, *, grace_seconds: float, limit: int = 500) -> list[tuple[str, str]]:
        """Agents with unfinished runs and no live lease (their gateway died, or none took them)."""
        records = await self._pool.fetch(_ORPHANED, grace_seconds, limit)
        return [(record["tenant"], record["agent_id"]) for record in records]
