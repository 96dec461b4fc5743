"""Runs, their stored events and the agent leases, in the ``gateway`` schema.

The statements are in ``sql/runs.sql`` (and the SQL functions acceptance and release call, in
``sql/functions.sql``), run through asyncpg alone: they are on the path of every message.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import asyncpg

from services.common import metrics
from services.common.sql_file import SqlFile, Statement
from services.gateway.core.model import Acceptance, FinishRow, RunRow, StartOffer, StoredBatch
from services.gateway.core.statuses import RunStatus
from services.gateway.store.notifications import AGENT_WORK, RUN_CANCEL, RUN_EVENTS

SQL = SqlFile(Path(__file__).parent / "sql" / "runs.sql")


def _row(record: asyncpg.Record) -> RunRow:
    return RunRow(**{name: record[name] for name in RunRow.__dataclass_fields__})


class RunStore:
    """Implements ``services.gateway.core.ports.RunRepository`` over asyncpg."""

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
        record = await _fetchone(
            self._pool,
            SQL["accept"],
            run_id=run_id,
            tenant=tenant,
            agent_id=agent_id,
            idempotency_key=idempotency_key,
            step_request=step_request,
            deltas=deltas,
            call_chain=call_chain,
            event_head=event_head,
            max_queued=max_queued,
            priority=priority,
            reject_if_busy=reject_if_busy,
            interrupt=interrupt,
            holder=offer.holder if offer else None,
            epoch=offer.epoch if offer else None,
            start=offer is not None,
            ttl_seconds=offer.ttl_seconds if offer else 0.0,
            parent_run_id=parent_run_id,
        )
        started = None
        if record["started"]:
            started = RunRow(
                id=run_id,
                tenant=tenant,
                agent_id=agent_id,
                status=RunStatus.RUNNING,
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
        record = await _fetchrow(
            self._pool, SQL["claim"], tenant=tenant, agent_id=agent_id, holder=holder, epoch=epoch
        )
        if record is None:
            return None
        return _row(record), record["waiting"]

    async def store(
        self, events: Sequence[tuple[str, int, int, bytes]], finishes: Sequence[FinishRow]
    ) -> StoredBatch:
        """Store (run id, epoch, seq, event) rows and finish runs, each only while its epoch is the
        run's current one; listeners hear which runs have new events."""
        record = await _fetchone(
            self._pool,
            SQL["store"],
            event_run_ids=[e[0] for e in events],
            event_epochs=[e[1] for e in events],
            event_seqs=[e[2] for e in events],
            events=[e[3] for e in events],
            finish_run_ids=[f.run_id for f in finishes],
            finish_epochs=[f.epoch for f in finishes],
            statuses=[f.status for f in finishes],
            stop_reasons=[f.stop_reason for f in finishes],
            stop_details=[f.stop_detail for f in finishes],
            results=[f.result for f in finishes],
            finished_ats=[f.finished_at for f in finishes],
        )
        return StoredBatch(stored=frozenset(record["stored"]), finished=frozenset(record["finished"]))

    async def get(self, tenant: str, run_id: str) -> RunRow | None:
        record = await _fetchrow(self._pool, SQL["get"], run_id=run_id, tenant=tenant)
        return None if record is None else _row(record)

    async def list(
        self, tenant: str, *, agent_id: str, statuses: Sequence[int], before: int | None, limit: int
    ) -> builtins.list[RunRow]:
        """Newest first, optionally of one agent and some statuses, before a ``lane_seq``."""
        records = await _fetch(
            self._pool,
            SQL["list"],
            tenant=tenant,
            agent_id=agent_id,
            statuses=list(statuses),
            before=before,
            limit=limit,
        )
        return [_row(record) for record in records]

    async def events_after(
        self, run_id: str, after: int, limit: int = 500
    ) -> builtins.list[tuple[int, bytes]]:
        records = await _fetch(self._pool, SQL["events_after"], run_id=run_id, after=after, limit=limit)
        return [(record["seq"], record["event"]) for record in records]

    async def awaiting_approval(self, tenant: str, agent_id: str) -> RunRow | None:
        record = await _fetchrow(self._pool, SQL["awaiting_approval"], tenant=tenant, agent_id=agent_id)
        return None if record is None else _row(record)

    async def continue_run(
        self, tenant: str, run_id: str, step_request: bytes, deltas: bool, seq: int, event: bytes
    ) -> bool:
        """Queue a run awaiting approval again, with its queued event; False when it no longer waits."""
        record = await _fetchrow(
            self._pool,
            SQL["continue"],
            tenant=tenant,
            run_id=run_id,
            step_request=step_request,
            deltas=deltas,
            seq=seq,
            event=event,
        )
        return record is not None

    async def cancel_waiting(
        self, tenant: str, run_id: str, *, detail: str, seq: int, event: bytes, finished_at: datetime
    ) -> bool:
        """Cancel a queued run or one awaiting approval, storing its finished event."""
        record = await _fetchrow(
            self._pool,
            SQL["cancel_waiting"],
            tenant=tenant,
            run_id=run_id,
            detail=detail,
            finished_at=finished_at,
            seq=seq,
            event=event,
        )
        return record is not None

    async def request_cancel(self, tenant: str, run_id: str) -> bool:
        """Mark a running run to be cancelled by whichever gateway executes it."""
        return await _fetchrow(self._pool, SQL["request_cancel"], tenant=tenant, run_id=run_id) is not None

    async def tell_run_events(self, run_id: str) -> None:
        """Tell every replica's readers of the run that it has new stored events."""
        await _fetchrow(self._pool, SQL["notify"], channel=RUN_EVENTS, payload=run_id)

    async def tell_agent_work(self, tenant: str, agent_id: str) -> None:
        """Tell the replica holding the agent's lease that it has a new queued run."""
        await _fetchrow(self._pool, SQL["notify"], channel=AGENT_WORK, payload=f"{tenant}/{agent_id}")

    async def tell_cancel(self, run_id: str) -> None:
        """Tell the replica executing the run to cancel it."""
        await _fetchrow(self._pool, SQL["notify"], channel=RUN_CANCEL, payload=run_id)


class LeaseStore:
    """One row per agent: which gateway may run it, under which epoch, until when. Implements
    ``services.gateway.core.ports.LeaseRepository`` over asyncpg."""

    def __init__(self, pool: asyncpg.Pool, holder: str, ttl_seconds: float):
        self._pool = pool
        self.holder = holder
        self.ttl_seconds = ttl_seconds

    def offer(self, epoch: int | None) -> StartOffer:
        return StartOffer(self.holder, epoch, self.ttl_seconds)

    async def acquire(self, tenant: str, agent_id: str) -> int | None:
        """The new epoch when the lease was free, expired or ours; None while another holds it."""
        record = await _fetchrow(
            self._pool,
            SQL["acquire"],
            tenant=tenant,
            agent_id=agent_id,
            holder=self.holder,
            ttl_seconds=self.ttl_seconds,
        )
        if record is None:
            return None
        metrics.record_lease_acquired(takeover=record["took_over"])
        return record["epoch"]

    async def renew(self, held: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        """Extend the leases still held; returns the (tenant, agent) pairs renewed."""
        records = await _fetch(
            self._pool,
            SQL["renew"],
            tenants=[h[0] for h in held],
            agent_ids=[h[1] for h in held],
            epochs=[h[2] for h in held],
            holder=self.holder,
            ttl_seconds=self.ttl_seconds,
        )
        return {(record["tenant"], record["agent_id"]) for record in records}

    async def release(self, tenant: str, agent_id: str, epoch: int) -> bool:
        """Give the lease up; True when the agent has runs waiting (someone must take it again)."""
        record = await _fetchrow(
            self._pool, SQL["release"], tenant=tenant, agent_id=agent_id, holder=self.holder, epoch=epoch
        )
        return bool(record is not None and record[0])

    async def orphaned(self, *, grace_seconds: float, limit: int = 500) -> builtins.list[tuple[str, str]]:
        """Agents with unfinished runs and no live lease (their gateway died, or none took them)."""
        records = await _fetch(self._pool, SQL["orphaned"], grace_seconds=grace_seconds, limit=limit)
        return [(record["tenant"], record["agent_id"]) for record in records]


async def _fetchrow(pool: asyncpg.Pool, statement: Statement, **parameters) -> asyncpg.Record | None:
    return await pool.fetchrow(statement.sql, *statement.arguments(parameters))


async def _fetch(pool: asyncpg.Pool, statement: Statement, **parameters) -> builtins.list[asyncpg.Record]:
    return await pool.fetch(statement.sql, *statement.arguments(parameters))


async def _fetchone(pool: asyncpg.Pool, statement: Statement, **parameters) -> asyncpg.Record:
    """The row of a statement that always answers one."""
    record = await _fetchrow(pool, statement, **parameters)
    if record is None:
        raise RuntimeError(f"statement {statement.name} answered no row")
    return record
