"""Runs and leases on the real PostgreSQL: acceptance with its stored queued event, idempotency, the
queue bound and busy rejection, claim order, epoch fencing of events and ends, lease epochs
(DESIGN §4)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from agentsuite.gateway.v1 import gateway_pb2
from services.gateway.store.runs import FinishRow, LeaseStore, RunStore

QUEUED, RUNNING, COMPLETED = 1, 2, 3


@pytest.fixture
def runs(migrated_engine) -> RunStore:
    return RunStore(migrated_engine)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def agent() -> str:
    return str(uuid.uuid4())


def leases(engine, holder: str = "gw-a", ttl: float = 30.0) -> LeaseStore:
    return LeaseStore(engine, holder, ttl)


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


async def test_claim_needs_the_lease_and_takes_runs_in_acceptance_order(runs, migrated_engine, tenant, agent):
    first, _ = await accept(runs, tenant, agent)
    second, _ = await accept(runs, tenant, agent)
    lease = leases(migrated_engine)

    assert await runs.claim(tenant, agent, "gw-a", 1) is None  # no lease yet
    epoch = await lease.acquire(tenant, agent)
    claimed, waiting = await runs.claim(tenant, agent, "gw-a", epoch)

    assert claimed.id == first and waiting == 1 and claimed.epoch == epoch
    again, _ = await runs.claim(tenant, agent, "gw-a", epoch)
    assert again.id == first, "a run still running under the lease is claimed again (it was not finished)"
    assert second != first


async def test_an_interrupting_run_goes_before_the_queue(runs, migrated_engine, tenant, agent):
    await accept(runs, tenant, agent)
    urgent, acceptance = await accept(runs, tenant, agent, priority=1, interrupt=True)
    epoch = await leases(migrated_engine).acquire(tenant, agent)

    claimed, _ = await runs.claim(tenant, agent, "gw-a", epoch)

    assert acceptance.accepted_id == urgent
    assert claimed.id == urgent, "accepted later, but it interrupts: it runs next"


async def test_events_and_ends_of_a_stale_epoch_are_refused(runs, migrated_engine, tenant, agent):
    run_id, _ = await accept(runs, tenant, agent)
    lease = leases(migrated_engine, ttl=0.01)
    old_epoch = await lease.acquire(tenant, agent)
    await runs.claim(tenant, agent, "gw-a", old_epoch)
    taker = leases(migrated_engine, holder="gw-b")
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
    migrated_engine, tenant, agent
):
    a, b = leases(migrated_engine, "gw-a"), leases(migrated_engine, "gw-b")

    first = await a.acquire(tenant, agent)
    assert await b.acquire(tenant, agent) is None
    assert await a.renew([(tenant, agent, first)]) == {(tenant, agent)}
    assert await a.release(tenant, agent, first) is False
    second = await b.acquire(tenant, agent)

    assert second == first + 1
    assert await a.renew([(tenant, agent, first)]) == set(), "a lease passed on cannot be renewed"


async def test_release_reports_runs_left_and_orphans_are_found(runs, migrated_engine, tenant, agent):
    await accept(runs, tenant, agent)
    lease = leases(migrated_engine)
    epoch = await lease.acquire(tenant, agent)

    assert await lease.release(tenant, agent, epoch) is True
    orphaned = await lease.orphaned(grace_seconds=0)
    assert (tenant, agent) in orphaned
