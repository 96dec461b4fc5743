"""Per-agent lanes (``services.gateway.core.lanes``) over in-memory ports: one run at a time per
agent, in acceptance order; a lane lingers, then gives its lease up; a lost lease stops the run;
an agent whose lease another replica holds is left to it; an idle lane takes an acceptance's run
directly."""

from __future__ import annotations

import asyncio

from services.gateway.core.lanes import Lane, Lanes, StopReason
from services.gateway.core.model import Acceptance, FinishRow, RunRow
from tests.unit.gateway_fakes import NOW, FakeLeases, FakeRuns, queued_run


class RecordingExecutor:
    """Executes each run by waiting ``seconds``; records order and overlap."""

    def __init__(self, seconds: float = 0.01, runs: FakeRuns | None = None):
        self.seconds = seconds
        self.runs = runs
        self.executed: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.stopped: dict[str, str | None] = {}
        self.started = asyncio.Event()

    async def execute(self, lane: Lane, run: RunRow) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.executed.append(run.id)
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
            if self.runs is not None:  # the run ends: it leaves the queue
                await self.runs.store([], [FinishRow(run.id, lane.epoch or 0, 3, 1, "", b"", NOW)])
        except asyncio.CancelledError:
            self.stopped[run.id] = lane.stop_reason
            raise
        finally:
            self.running -= 1


def lanes_over(
    runs: FakeRuns, leases: FakeLeases, executor, *, linger: float = 0.05, ttl: float = 30.0
) -> Lanes:
    return Lanes(runs, leases, executor, ttl_seconds=ttl, linger_seconds=linger, sweep_seconds=60)


async def wait_until(condition, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 (a condition of plain objects, no event to wait on)
            await asyncio.sleep(0.005)


async def test_an_agent_s_runs_execute_one_at_a_time_in_acceptance_order():
    runs, leases = FakeRuns(), FakeLeases()
    for seq, run_id in enumerate(["r1", "r2", "r3"], start=1):
        runs.add(queued_run(run_id, lane_seq=seq))
    executor = RecordingExecutor(runs=runs)
    lanes = lanes_over(runs, leases, executor)

    lanes.kick("t", "a")
    await wait_until(lambda: len(executor.executed) == 3 and not len(lanes))

    assert executor.executed == ["r1", "r2", "r3"]
    assert executor.most_at_once == 1


async def test_different_agents_run_at_the_same_time():
    runs, leases = FakeRuns(), FakeLeases()
    runs.add(queued_run("r1", agent_id="a"))
    runs.add(queued_run("r2", agent_id="b", lane_seq=2))
    executor = RecordingExecutor(seconds=0.1, runs=runs)
    lanes = lanes_over(runs, leases, executor)

    lanes.kick("t", "a")
    lanes.kick("t", "b")
    await wait_until(lambda: len(executor.executed) == 2)

    assert executor.most_at_once == 2


async def test_an_idle_lane_lingers_then_releases_its_lease_and_goes():
    runs, leases = FakeRuns(), FakeLeases()
    runs.add(queued_run("r1"))
    executor = RecordingExecutor(runs=runs)
    lanes = lanes_over(runs, leases, executor, linger=0.2)

    lanes.kick("t", "a")
    await wait_until(lambda: executor.executed == ["r1"] and executor.running == 0)
    await asyncio.sleep(0.05)
    assert len(lanes) == 1 and not leases.released, "it lingers for more work"

    await wait_until(lambda: not len(lanes))
    assert leases.released == [("t", "a", 1)]


async def test_work_that_comes_while_a_lane_lingers_runs_under_the_same_lease():
    runs, leases = FakeRuns(), FakeLeases()
    runs.add(queued_run("r1"))
    executor = RecordingExecutor(runs=runs)
    lanes = lanes_over(runs, leases, executor, linger=0.5)
    lanes.kick("t", "a")
    await wait_until(lambda: executor.executed == ["r1"] and executor.running == 0)

    runs.add(queued_run("r2", lane_seq=2))
    lanes.kick("t", "a")
    await wait_until(lambda: executor.executed == ["r1", "r2"])

    assert leases.epochs[("t", "a")] == 1, "no new acquisition"


async def test_a_lost_lease_stops_the_running_run_and_drops_the_lane():
    runs, leases = FakeRuns(), FakeLeases()
    runs.add(queued_run("r1"))
    executor = RecordingExecutor(seconds=10)
    lanes = Lanes(runs, leases, executor, ttl_seconds=0.15, linger_seconds=0.05, sweep_seconds=60)
    lanes.start()
    try:
        lanes.kick("t", "a")
        await executor.started.wait()
        leases.renewable = False  # another gateway took the agent over

        await wait_until(lambda: "r1" in executor.stopped)
        assert executor.stopped["r1"] == StopReason.LEASE_LOST
        await wait_until(lambda: not len(lanes))
    finally:
        await lanes.close(0)


async def test_an_agent_another_replica_holds_is_left_to_it_and_told():
    runs, leases = FakeRuns(), FakeLeases()
    runs.add(queued_run("r1"))
    leases.held[("t", "a")] = "another gateway"
    executor = RecordingExecutor()
    lanes = lanes_over(runs, leases, executor)

    lanes.kick("t", "a")
    await wait_until(lambda: not len(lanes))

    assert executor.executed == []
    assert runs.told_work == [("t", "a")]


async def test_an_acceptance_on_a_reserved_lane_hands_its_run_over_without_a_claim():
    runs, leases = FakeRuns(), FakeLeases()
    executor = RecordingExecutor(runs=runs)
    lanes = lanes_over(runs, leases, executor)

    reserved = lanes.reserve("t", "a")
    assert reserved is not None
    lane, offer = reserved
    assert offer.epoch is None, "no lane yet: the acceptance may take the lease"
    assert lanes.reserve("t", "a") is None, "one acceptance at a time may start a run"
    started = queued_run("r1", status=2, epoch=1)
    runs.add(started)  # what the acceptance recorded, already claimed under epoch 1
    lanes.settle(lane, Acceptance("r1", None, 0, 0, None, (), lease_epoch=1, started=started))

    await wait_until(lambda: executor.executed == ["r1"])
    assert lane.epoch == 1
