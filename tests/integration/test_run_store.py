"""Runs and leases on the real PostgreSQL: acceptance with its stored queued event, idempotency, the
queue bound and busy rejection, starting at once under a lane's lease, per-agent serialization of
acceptances, claim order, epoch fencing of events and ends, lease epochs (DESIGN §4)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text

from agentsuite.gateway.v1 import gateway_pb2
from services.common.db import plain_dsn
from services.gateway.core.model import FinishRow
from services.gateway.store.runs import LeaseStore, RunStore

QUEUED, RUNNING, COMPLETED = 1, 2, 3


@pytest.fixture
def runs(migrated_pool) -> RunStore:
    return RunStore(migrated_pool)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def agent() -> str:
    return str(uuid.uuid4())


def leases(pool, holder: str = "gw-a", ttl: float = 30.0) -> LeaseStore:
    return LeaseStore(pool, holder, ttl)


async def accept(runs: RunStore, tenant: str, agent: str, **options):
    run_id = str(uuid.uuid4())
    head = gateway_pb2.RunEvent(run_id=run_id, seq=1).SerializeToString()
    defaults = dict(idempotency_key=None, step_request=b"", deltas=False, call_chain="", max_queued=10)
    acceptance = await runs.accept(
        run_id=run_id, tenant=tenant, agent_id=agent, event_head=head, **{**defaults, **options}
    )
    return run_id, acceptance


@pytest.mark.parametrize("ahead", [0, 1, 127, 128, 300, 20_000])
async def test_the_stored_queued_event_is_the_protobuf_encoding_of_its_position(migrated_engine, ahead):
    head = gateway_pb2.RunEvent(run_id="r", seq=1).SerializeToString()
    async with migrated_engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT gateway.queued_event(:head, :ahead)"), {"head": head, "ahead": ahead}
            )
        ).scalar()

    event = gateway_pb2.RunEvent.FromString(stored)
    assert event.WhichOneof("event") == "queued"
    assert event.queued.position == ahead
    assert event.run_id == "r"


async def test_accepting_stores_the_run_and_its_queued_event_with_runs_ahead(runs, tenant, agent):
    first, _ = await accept(runs, tenant, agent)
    second, acceptance = await accept(runs, tenant, agent)

    assert acceptance.accepted_id == second and acceptance.ahead == 1
    events = await runs.events_after(second, 0)
    assert [seq for seq, _ in events] == [1]
    assert gateway_pb2.RunEvent.FromString(events[0][1]).queued.position == 1
    assert (await runs.get(tenant, first)).status == QUEUED


async def test_a_repeated_idempotency_key_finds_the_first_run(runs, tenant, agent):
    first, _ = await accept(runs, tenant, agent, idempotency_key="k-1")
    _, again = await accept(runs, tenant, agent, idempotency_key="k-1")

    assert again.accepted_id is None and again.existing_id == first


async def test_a_full_queue_and_a_busy_agent_under_reject_accept_nothing(runs, tenant, agent):
    running, _ = await accept(runs, tenant, agent, max_queued=1)
    _, full = await accept(runs, tenant, agent, max_queued=1)
    _, rejected = await accept(runs, tenant, agent, reject_if_busy=True)

    assert full.accepted_id is None and full.queued == 1
    assert rejected.accepted_id is None and rejected.running_id == running


async def test_claim_needs_the_lease_and_takes_runs_in_acceptance_order(runs, migrated_pool, tenant, agent):
    first, _ = await accept(runs, tenant, agent)
    second, _ = await accept(runs, tenant, agent)
    lease = leases(migrated_pool)

    assert await runs.claim(tenant, agent, "gw-a", 1) is None  # no lease yet
    epoch = await lease.acquire(tenant, agent)
    claimed, waiting = await runs.claim(tenant, agent, "gw-a", epoch)

    assert claimed.id == first and waiting == 1 and claimed.epoch == epoch
    again, _ = await runs.claim(tenant, agent, "gw-a", epoch)
    assert again.id == first, "a run still running under the lease is claimed again (it was not finished)"
    assert second != first


async def test_an_interrupting_run_goes_before_the_queue(runs, migrated_pool, tenant, agent):
    await accept(runs, tenant, agent)
    urgent, acceptance = await accept(runs, tenant, agent, priority=1, interrupt=True)
    epoch = await leases(migrated_pool).acquire(tenant, agent)

    claimed, _ = await runs.claim(tenant, agent, "gw-a", epoch)

    assert acceptance.accepted_id == urgent
    assert claimed.id == urgent, "accepted later, but it interrupts: it runs next"


async def test_events_and_ends_of_a_stale_epoch_are_refused(runs, migrated_pool, tenant, agent):
    run_id, _ = await accept(runs, tenant, agent)
    lease = leases(migrated_pool, ttl=0.01)
    old_epoch = await lease.acquire(tenant, agent)
    await runs.claim(tenant, agent, "gw-a", old_epoch)
    taker = leases(migrated_pool, holder="gw-b")
    await asyncio.sleep(0.05)
    new_epoch = await taker.acquire(tenant, agent)
    assert new_epoch == old_epoch + 1
    await runs.claim(tenant, agent, "gw-b", new_epoch)

    end = FinishRow(run_id, old_epoch, COMPLETED, 1, "", b"", datetime.now(UTC))
    stale = await runs.store([(run_id, old_epoch, 2, b"late")], [end])
    fresh = await runs.store([(run_id, new_epoch, 2, b"current")], [])

    assert run_id not in stale.stored and run_id not in stale.finished
    assert run_id in fresh.stored
    assert [event for _, event in await runs.events_after(run_id, 1)] == [b"current"]
    assert (await runs.get(tenant, run_id)).status == RUNNING


async def test_lease_epochs_increase_at_every_acquisition_and_a_held_lease_is_not_taken(
    migrated_pool, tenant, agent
):
    a, b = leases(migrated_pool, "gw-a"), leases(migrated_pool, "gw-b")

    first = await a.acquire(tenant, agent)
    assert await b.acquire(tenant, agent) is None
    assert await a.renew([(tenant, agent, first)]) == {(tenant, agent)}
    assert await a.release(tenant, agent, first) is False
    second = await b.acquire(tenant, agent)

    assert second == first + 1
    assert await a.renew([(tenant, agent, first)]) == set(), "a lease passed on cannot be renewed"


async def test_release_reports_runs_left_and_orphans_are_found(runs, migrated_pool, tenant, agent):
    await accept(runs, tenant, agent)
    lease = leases(migrated_pool)
    epoch = await lease.acquire(tenant, agent)

    assert await lease.release(tenant, agent, epoch) is True
    orphaned = await lease.orphaned(grace_seconds=0)
    assert (tenant, agent) in orphaned


async def test_an_offer_of_an_idle_lane_starts_the_run_at_once_under_its_lease(
    runs, migrated_pool, tenant, agent
):
    lease = leases(migrated_pool)
    epoch = await lease.acquire(tenant, agent)

    run_id, acceptance = await accept(runs, tenant, agent, offer=lease.offer(epoch))

    assert acceptance.started is not None and acceptance.started.id == run_id
    assert acceptance.lease_epoch == epoch and acceptance.started.epoch == epoch
    stored = await runs.get(tenant, run_id)
    assert stored.status == RUNNING and stored.epoch == epoch and stored.last_seq == 1
    assert await runs.claim(tenant, agent, "gw-a", epoch) is not None, "it runs: a claim finds it running"


async def test_an_offer_without_a_lane_takes_a_free_lease_and_queues_behind_others(
    runs, migrated_pool, tenant, agent
):
    lease = leases(migrated_pool)

    first, took = await accept(runs, tenant, agent, offer=lease.offer(None))
    second, behind = await accept(runs, tenant, agent, offer=lease.offer(None))

    assert took.started is not None and took.lease_epoch == 1
    assert behind.started is None and behind.ahead == 1, "a run ahead: it queues, even with the lease"
    assert (await runs.get(tenant, second)).status == QUEUED
    assert (await runs.get(tenant, first)).status == RUNNING


async def test_an_offer_against_a_live_lease_of_another_gateway_queues_and_tells_the_holder(
    runs, migrated_pool, migrated_engine, tenant, agent
):
    await leases(migrated_pool, "gw-b").acquire(tenant, agent)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listening = await asyncpg.connect(plain_dsn(migrated_engine))
    try:
        await listening.add_listener("agentsuite_agent_work", lambda *args: heard.put_nowait(args[-1]))
        run_id, acceptance = await accept(runs, tenant, agent, offer=leases(migrated_pool).offer(None))
        told = await asyncio.wait_for(heard.get(), 5)
    finally:
        await listening.close()

    assert acceptance.started is None and acceptance.lease_epoch is None
    assert (await runs.get(tenant, run_id)).status == QUEUED
    assert told == f"{tenant}/{agent}"


async def test_concurrent_acceptances_of_one_agent_are_serialized(runs, migrated_pool, tenant, agent):
    """Each acceptance sees every one committed before it: exactly one starts, and the others queue
    at distinct positions in lane order (without the per-agent lock several would see an idle agent
    and start at once)."""
    lease = leases(migrated_pool)
    epoch = await lease.acquire(tenant, agent)

    results = await asyncio.gather(
        *(accept(runs, tenant, agent, offer=lease.offer(epoch), max_queued=100) for _ in range(20))
    )

    started = [acceptance for _, acceptance in results if acceptance.started is not None]
    assert len(started) == 1
    rows = {run_id: await runs.get(tenant, run_id) for run_id, _ in results}
    by_lane_order = sorted(results, key=lambda result: rows[result[0]].lane_seq)
    assert [acceptance.ahead for _, acceptance in by_lane_order] == list(range(20))
    assert by_lane_order[0][1].started is not None
