"""The gateway's runs with real processes (issue 6, item 7): the per-agent lane under concurrency, the
busy policies, resume after a dropped stream, idempotency, broadcast, call cycles, Converse and the
run API. Every test checks what was persisted — the agent's history in memory, read through the
gateway, and the runs from GetRun/ListRuns — not only what the call answered.

Failover between gateway replicas (SIGSTOP, SIGKILL) lives in ``test_gateway_failover.py``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.cli.supervisor import GatewayReplica
from tests.e2e.e2e_client import create_agent
from tests.e2e.run_checks import (
    ASSISTANT,
    CALL_TIMEOUT_S,
    USER,
    assert_each_prompt_saw_every_earlier_run,
    assert_one_run_at_a_time_in_order,
    conversation,
    create_run,
    echo,
    error_info,
    finished,
    get_run,
    history,
    model_name,
    runs_oldest_first,
    send,
    wait_for_llm_requests,
    wait_for_run,
)

QUEUED = gateway_pb2.RUN_STATUS_QUEUED
RUNNING = gateway_pb2.RUN_STATUS_RUNNING
COMPLETED = gateway_pb2.RUN_STATUS_COMPLETED
FAILED = gateway_pb2.RUN_STATUS_FAILED
CANCELLED = gateway_pb2.RUN_STATUS_CANCELLED
AWAITING_APPROVAL = gateway_pb2.RUN_STATUS_AWAITING_APPROVAL
TUNED_MAX_QUEUED = 2
TUNED_HEARTBEAT_S = 0.2

ADD_SOURCE = '''
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''


@pytest.fixture(scope="module")
async def tuned(running_suite) -> AsyncIterator[GatewayReplica]:
    """A second gateway on the suite's database with a small agent queue and quick heartbeats."""
    replica = await running_suite.suite.start_gateway_replica(
        env={
            "AGENTSUITE_MAX_QUEUED_RUNS": str(TUNED_MAX_QUEUED),
            "AGENTSUITE_HEARTBEAT_SECONDS": str(TUNED_HEARTBEAT_S),
        }
    )
    try:
        yield replica
    finally:
        running_suite.suite.remove_gateway_replica(replica)


@pytest.fixture
async def tuned_channel(tuned) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(tuned.address) as channel:
        yield channel


def call(name: str, arguments: dict, call_id: str = "call_1") -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


async def refused(awaitable) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await awaitable
    return raised.value


# -- the lane: one run at a time, in acceptance order ---------------------------------------------


async def test_fifty_concurrent_messages_to_one_agent_run_one_at_a_time_in_acceptance_order(
    running_suite, gateway, tenant
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    texts = [f"message {index}" for index in range(50)]

    replies = await asyncio.gather(*(send(gateway, tenant, agent.id, text) for text in texts))

    for text, reply in zip(texts, replies, strict=True):
        assert reply.run.status == COMPLETED
        assert [m.content for m in reply.messages] == [text, echo(text)], "each caller got its own reply"
    runs = await runs_oldest_first(gateway, tenant, agent.id, page_size=7)
    assert len(runs) == 50 and {r.id for r in runs} == {reply.run.id for reply in replies}
    assert all(run.status == COMPLETED for run in runs)
    assert_one_run_at_a_time_in_order(await history(gateway, tenant, agent.id), runs)
    llm_requests = [r for r in running_suite.llm.requests(model) if r.get("stream")]
    assert_each_prompt_saw_every_earlier_run(llm_requests, runs)
    for earlier, later in itertools.pairwise(runs):
        assert later.start_time.ToNanoseconds() >= earlier.finish_time.ToNanoseconds()


# -- busy policies ---------------------------------------------------------------------------------


async def test_busy_policies_enqueue_reject_and_interrupt(running_suite, gateway, tenant):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "too slow to finish", "latency_ms": 5000}])
    slow = await create_run(gateway, tenant, agent.id, "slow")
    await wait_for_llm_requests(running_suite.llm, model, 1)  # the slow run is executing

    queued = await create_run(gateway, tenant, agent.id, "queued behind")  # ENQUEUE, the default
    rejected = await refused(
        send(gateway, tenant, agent.id, "rejected", busy_policy=gateway_pb2.BUSY_POLICY_REJECT)
    )
    interrupting = await send(
        gateway, tenant, agent.id, "interrupting", busy_policy=gateway_pb2.BUSY_POLICY_INTERRUPT
    )
    queued_done = await wait_for_run(gateway, tenant, queued.id, finished)
    slow_done = await get_run(gateway, tenant, slow.id)

    assert queued.status == QUEUED
    assert rejected.code() == grpc.StatusCode.ABORTED
    info = error_info(rejected)
    assert info.reason == "AGENT_BUSY" and info.metadata["run_id"] == slow.id
    assert (slow_done.status, slow_done.stop_reason) == (CANCELLED, common_pb2.STOP_REASON_CANCELLED)
    assert interrupting.run.status == COMPLETED and queued_done.status == COMPLETED
    # The interrupting run went next, ahead of the one queued before it, after the slow one stopped.
    assert interrupting.run.start_time.ToNanoseconds() >= slow_done.finish_time.ToNanoseconds()
    assert queued_done.start_time.ToNanoseconds() >= interrupting.run.finish_time.ToNanoseconds()
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [r.id for r in runs] == [slow.id, queued.id, interrupting.run.id], "the rejected one left no run"
    persisted = [(m.role, m.content, m.run_id) for m in await history(gateway, tenant, agent.id)]
    assert persisted == [
        (USER, "slow", slow.id),  # input is stored before the model is called; the reply never came
        (USER, "interrupting", interrupting.run.id),
        (ASSISTANT, echo("interrupting"), interrupting.run.id),
        (USER, "queued behind", queued.id),
        (ASSISTANT, echo("queued behind"), queued.id),
    ]


async def test_a_full_agent_queue_answers_resource_exhausted_and_cancel_frees_a_place(
    running_suite, gateway, tenant, tuned_channel
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "too slow to finish", "latency_ms": 5000}])
    running = await create_run(tuned_channel, tenant, agent.id, "running")
    await wait_for_llm_requests(running_suite.llm, model, 1)
    queued = [
        await create_run(tuned_channel, tenant, agent.id, f"queued {i}") for i in range(TUNED_MAX_QUEUED)
    ]

    full = await refused(create_run(tuned_channel, tenant, agent.id, "one too many"))
    cancelled_queued = (
        await conversation(tuned_channel).CancelRun(
            gateway_service_pb2.CancelRunRequest(run_id=queued[0].id), metadata=tenant, timeout=CALL_TIMEOUT_S
        )
    ).run
    after_cancel = await create_run(tuned_channel, tenant, agent.id, "after a cancel")
    cancelled_running = (
        await conversation(gateway).CancelRun(
            gateway_service_pb2.CancelRunRequest(run_id=running.id), metadata=tenant, timeout=CALL_TIMEOUT_S
        )
    ).run
    rest = [await wait_for_run(gateway, tenant, r.id, finished) for r in (queued[1], after_cancel)]

    assert full.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(full).reason == "AGENT_QUEUE_FULL"
    assert (cancelled_queued.status, cancelled_queued.stop_reason) == (
        CANCELLED,
        common_pb2.STOP_REASON_CANCELLED,
    )
    assert (cancelled_running.status, cancelled_running.stop_reason) == (
        CANCELLED,
        common_pb2.STOP_REASON_CANCELLED,
    )
    assert [r.status for r in rest] == [COMPLETED, COMPLETED]
    by_status = {}
    for status in (CANCELLED, COMPLETED, QUEUED, RUNNING):
        page = await conversation(gateway).ListRuns(
            gateway_service_pb2.ListRunsRequest(agent_id=agent.id, statuses=[status]), metadata=tenant
        )
        by_status[status] = [r.id for r in page.runs]
    assert by_status == {
        CANCELLED: [queued[0].id, running.id],
        COMPLETED: [after_cancel.id, queued[1].id],
        QUEUED: [],
        RUNNING: [],
    }
    persisted = [(m.content, m.run_id) for m in await history(gateway, tenant, agent.id)]
    assert persisted == [
        ("running", running.id),
        ("queued 1", queued[1].id),
        (echo("queued 1"), queued[1].id),
        ("after a cancel", after_cancel.id),
        (echo("after a cancel"), after_cancel.id),
    ]
