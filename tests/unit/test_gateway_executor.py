"""Executing a run (``RunExecutor``) and following it (``Runs.watch``) over in-memory ports: a step
the agent service did not answer is tried again; what an earlier execution told is told once; a
cancelled run ends cancelled; a lost lease stores nothing more; a reader resumes from the store and
one that fell behind the live window catches up from it."""

from __future__ import annotations

import asyncio

import pytest

from agentsuite.gateway.v1 import gateway_pb2
from services.common.errors import Unavailable
from services.gateway.core import executor as executor_module
from services.gateway.core import hub as hub_module
from services.gateway.core.events import Numbering
from services.gateway.core.executor import RunExecutor
from services.gateway.core.hub import RunHubs
from services.gateway.core.lanes import Lane, Lanes, StopReason
from services.gateway.core.runs import Runs, RunWatchers
from services.gateway.core.statuses import RunStatus
from services.gateway.core.writer import EventWriter
from tests.unit.gateway_fakes import FakeAgentRuntime, FakeLeases, FakeRuns, queued_run, reply


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(executor_module, "STEP_RETRY_PAUSES", (0.01,))
    monkeypatch.setattr(executor_module, "RESULT_STORE_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(executor_module, "STREAMED_STORE_DELAY_SECONDS", 0.0)


def executor_over(runs: FakeRuns, runtime: FakeAgentRuntime, hubs: RunHubs | None = None) -> RunExecutor:
    hubs = RunHubs(on_open=lambda run_id: None) if hubs is None else hubs
    return RunExecutor(runtime, runs, EventWriter(runs), hubs, run_timeout_seconds=30)


def claimed(runs: FakeRuns, run_id: str = "r1", epoch: int = 1):
    run = queued_run(run_id, status=RunStatus.RUNNING, epoch=epoch)
    runs.add(run)
    return Lane("t", "a", epoch=epoch), run


def stored_events(runs: FakeRuns, run_id: str = "r1") -> list[gateway_pb2.RunEvent]:
    return [
        gateway_pb2.RunEvent.FromString(data) for seq, data in sorted(runs.events[run_id].items()) if seq > 1
    ]


def kinds(events) -> list[str]:
    return [event.WhichOneof("event") for event in events]


async def test_a_step_the_agent_service_did_not_answer_is_tried_again_under_the_same_run():
    runs = FakeRuns()
    runtime = FakeAgentRuntime(Unavailable("agent service restarting"), reply("hi", "m1"))
    lane, run = claimed(runs)

    await executor_over(runs, runtime).execute(lane, run)

    assert [r.run_id for r in runtime.requests] == ["r1", "r1"]
    assert kinds(stored_events(runs)) == ["started", "retried", "assistant_message", "finished"]
    assert runs.runs["r1"].status == RunStatus.COMPLETED


async def test_what_an_earlier_execution_told_is_told_once():
    runs = FakeRuns()
    lane, run = claimed(runs, epoch=2)
    numbering = Numbering("r1", 1)
    earlier = [
        numbering.event(started=gateway_pb2.RunStarted(epoch=1)),
        *[numbering.event(1, assistant_message=e.assistant_message) for e in reply("one", "m1")[1:2]],
    ]  # the first execution's gateway died here
    for event in earlier:
        runs.events["r1"][event.seq] = event.SerializeToString()
    run = queued_run("r1", status=RunStatus.RUNNING, epoch=2, last_seq=numbering.seq)
    runs.runs["r1"] = run
    runtime = FakeAgentRuntime([*reply("one", "m1")[:2], *reply("two", "m2", step=2)])

    await executor_over(runs, runtime).execute(lane, run)

    messages = [e.assistant_message.id for e in stored_events(runs) if e.HasField("assistant_message")]
    assert messages == ["m1", "m2"], "m1 was told by the first execution"
    assert "retried" in kinds(stored_events(runs)), "readers learn the run continues after a failure"


async def test_a_cancelled_run_ends_cancelled():
    runs = FakeRuns()
    hangs = asyncio.Event()
    lane, run = claimed(runs)
    execution = asyncio.create_task(executor_over(runs, FakeAgentRuntime(hangs)).execute(lane, run))
    lane.execution = execution
    await asyncio.sleep(0.05)

    lane.stop(StopReason.CANCELLED)
    await execution  # a cancel that is the lane's own ends the run instead of the task

    assert runs.runs["r1"].status == RunStatus.CANCELLED
    assert kinds(stored_events(runs))[-1] == "finished"


async def test_after_the_lease_passed_on_nothing_more_is_stored():
    runs = FakeRuns()
    lane, run = claimed(runs)
    runs.runs["r1"] = queued_run("r1", status=RunStatus.RUNNING, epoch=2)  # another gateway took it

    await executor_over(runs, FakeAgentRuntime(reply("late", "m1"))).execute(lane, run)

    assert lane.stop_reason == StopReason.LEASE_LOST
    assert stored_events(runs) == []
    assert runs.runs["r1"].status == RunStatus.RUNNING, "its new holder finishes it"


def runs_over(store: FakeRuns, hubs: RunHubs, watchers: RunWatchers) -> Runs:
    leases = FakeLeases()
    executor = executor_over(store, FakeAgentRuntime(), hubs)
    lanes = Lanes(store, leases, executor, ttl_seconds=30, linger_seconds=0.01, sweep_seconds=60)
    return Runs(
        store,
        lanes,
        hubs,
        watchers,
        executor,
        FakeAgentRuntime(),
        max_queued=10,
        heartbeat_seconds=0.05,
        max_call_depth=5,
    )


async def test_a_reader_resumes_from_the_stored_events_after_the_last_it_saw():
    store = FakeRuns()
    lane, run = claimed(store)
    await executor_over(store, FakeAgentRuntime(reply("hi", "m1"))).execute(lane, run)
    watchers = RunWatchers()
    runs = runs_over(store, RunHubs(on_open=watchers.wake), watchers)

    resumed = [event async for event in runs.watch("r1", 2, heartbeats=False)]

    assert [e.seq for e in resumed] == [3, 4]
    assert kinds(resumed) == ["assistant_message", "finished"]


async def test_a_reader_that_fell_behind_the_live_window_catches_up_from_the_store(monkeypatch):
    monkeypatch.setattr(hub_module, "WINDOW", 2)
    store = FakeRuns()
    watchers = RunWatchers()
    hubs = RunHubs(on_open=watchers.wake)
    runs = runs_over(store, hubs, watchers)
    lane, run = claimed(store)
    many = [e for n in range(5) for e in reply(f"part {n}", f"m{n}", step=n + 1)[:2]]
    gate = asyncio.Event()

    class SlowRuntime(FakeAgentRuntime):
        async def step(self, request):
            for event in many:
                yield event
            await gate.wait()  # the reader starts while the run still executes
            for event in reply("done", "last", step=9):
                yield event

    execution = asyncio.create_task(executor_over(store, SlowRuntime(), hubs).execute(lane, run))
    await asyncio.sleep(0.1)
    assert hubs.get("r1") is not None, execution.done() and execution.exception()

    async def read() -> list[gateway_pb2.RunEvent]:
        return [event async for event in runs.watch("r1", 1, heartbeats=False)]

    reading = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    gate.set()
    seen = await reading
    await execution

    step_level = [e.seq for e in seen if e.WhichOneof("event") != "assistant_delta"]
    assert step_level == list(range(2, step_level[-1] + 1)), "no gap, no duplicate"
    assert kinds(seen)[-1] == "finished"
    assert [e.assistant_message.id for e in seen if e.HasField("assistant_message")] == [
        *(f"m{n}" for n in range(5)),
        "last",
    ]
