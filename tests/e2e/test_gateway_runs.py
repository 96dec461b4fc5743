"""The gateway's runs with real processes (issue 6, item 7): the per-agent lane under concurrency, the
busy policies, resume after a dropped stream, idempotency, broadcast, call cycles, Converse and the
run API. Every test checks what was persisted — the agent's history in memory, read through the
gateway, and the runs from GetRun/ListRuns — not only what the call answered.

Failover between gateway replicas (SIGSTOP, SIGKILL) lives in ``test_gateway_failover.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.cli.supervisor import ServiceReplica
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.run_checks import (
    ASSISTANT,
    CALL_TIMEOUT_S,
    USER,
    assert_each_prompt_saw_every_earlier_run,
    assert_one_run_at_a_time_in_order,
    blocks_by_run,
    conversation,
    create_run,
    echo,
    error_info,
    finished,
    get_run,
    history,
    kinds,
    model_name,
    runs_oldest_first,
    send,
    step_level,
    wait_for_llm_requests,
    wait_for_run,
    watch,
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
async def tuned(running_suite) -> AsyncIterator[ServiceReplica]:
    """A second gateway on the suite's database with a small agent queue and quick heartbeats."""
    replica = await running_suite.suite.start_replica(
        "gateway",
        env={
            "AGENTSUITE_MAX_QUEUED_RUNS": str(TUNED_MAX_QUEUED),
            "AGENTSUITE_HEARTBEAT_SECONDS": str(TUNED_HEARTBEAT_S),
        },
    )
    try:
        yield replica
    finally:
        running_suite.suite.remove_replica(replica)


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


# -- resume ------------------------------------------------------------------------------------------


async def test_a_dropped_stream_resumes_with_exactly_the_missed_events_on_any_replica(
    running_suite, gateway, tenant, tuned_channel
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(
        model,
        [
            {"tool_calls": [call("conversation_search", {"query": "anything"})]},
            {"content": "the answer after a quiet while", "latency_ms": 800, "chunk_size": 6},
        ],
    )
    stream = conversation(gateway).StreamMessage(
        gateway_service_pb2.StreamMessageRequest(agent_id=agent.id, messages=[user("resume me")]),
        metadata=tenant,
        timeout=CALL_TIMEOUT_S,
    )
    seen = []
    async for response in stream:
        seen.append(response.event)
        if response.event.HasField("tool_return"):
            break
    stream.cancel()  # the client drops its stream while the run waits for the model
    run_id, last_seq = seen[0].run_id, seen[-1].seq
    resumed_by_converse = conversation(gateway).Converse(metadata=tenant, timeout=CALL_TIMEOUT_S)
    await resumed_by_converse.write(
        gateway_service_pb2.ConverseRequest(
            open=gateway_service_pb2.ConverseOpen(agent_id=agent.id, resume_run_id=run_id, resume_after_seq=2)
        )
    )

    # Live on another replica (which follows through the database), and on a Converse here.
    resumed, conversed = await asyncio.gather(
        watch(tuned_channel, tenant, run_id, last_seq), read_until_finished(resumed_by_converse)
    )
    await resumed_by_converse.done_writing()
    ending = await asyncio.wait_for(resumed_by_converse.read(), CALL_TIMEOUT_S)
    stored = await watch(gateway, tenant, run_id)

    assert [event.seq for event in stored] == list(range(1, len(stored) + 1))
    assert kinds(stored)[-1] == "finished" and stored[-1].finished.run.status == COMPLETED
    assert step_level(seen) == stored[:last_seq], "the dropped stream saw a prefix"
    assert step_level(resumed) == stored[last_seq:], "no gap, no duplicate"
    assert step_level(conversed) == stored[2:]
    assert "heartbeat" in kinds(resumed), "the quiet model call was bridged by heartbeats"
    assert all(event.run_id == run_id for event in (*resumed, *conversed))
    assert ending is grpc.aio.EOF
    assert (await get_run(gateway, tenant, run_id)).last_seq == len(stored)
    assert [m.content for m in await history(gateway, tenant, agent.id)][-1] == (
        "the answer after a quiet while"
    )


async def test_watching_past_the_last_event_is_out_of_range_and_an_unknown_run_not_found(
    gateway, tenant, tuned_channel
):
    agent = await create_agent(gateway, tenant, model_name())
    done = (await send(gateway, tenant, agent.id, "hello")).run

    past = await refused(watch(tuned_channel, tenant, done.id, done.last_seq + 1))
    unknown = await refused(watch(gateway, tenant, str(uuid.uuid4())))
    converse = conversation(gateway).Converse(metadata=tenant, timeout=CALL_TIMEOUT_S)
    await converse.write(
        gateway_service_pb2.ConverseRequest(
            open=gateway_service_pb2.ConverseOpen(agent_id=agent.id, resume_run_id=str(uuid.uuid4()))
        )
    )
    resumed_unknown = await refused(converse.read())
    at_the_end = await watch(tuned_channel, tenant, done.id, done.last_seq - 1)

    assert past.code() == grpc.StatusCode.OUT_OF_RANGE
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert resumed_unknown.code() == grpc.StatusCode.NOT_FOUND
    assert kinds(at_the_end) == ["finished"] and at_the_end[0].seq == done.last_seq


# -- idempotency -------------------------------------------------------------------------------------


async def test_a_repeated_idempotency_key_returns_the_same_run_and_stores_the_input_once(
    running_suite, gateway, tenant, tuned_channel
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)

    first = await send(gateway, tenant, agent.id, "once", idempotency_key="key-1")
    again = await send(gateway, tenant, agent.id, "once", idempotency_key="key-1")
    together = await asyncio.gather(
        *(send(gateway, tenant, agent.id, "at once", idempotency_key="key-2") for _ in range(4)),
        send(tuned_channel, tenant, agent.id, "at once", idempotency_key="key-2"),
        create_run(tuned_channel, tenant, agent.id, "at once", idempotency_key="key-2"),
    )

    assert again.run.id == first.run.id
    assert (
        [m.content for m in again.messages] == [m.content for m in first.messages] == ["once", echo("once")]
    )
    ids = {answer.run.id if hasattr(answer, "run") else answer.id for answer in together}
    assert len(ids) == 1
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [(r.id, r.idempotency_key) for r in runs] == [(first.run.id, "key-1"), (ids.pop(), "key-2")]
    assert_one_run_at_a_time_in_order(await history(gateway, tenant, agent.id), runs)
    assert len([r for r in running_suite.llm.requests(model) if r.get("stream")]) == 2


# -- broadcast ---------------------------------------------------------------------------------------


async def test_broadcast_to_200_agents_reports_each_failure_and_the_rest_succeed(
    running_suite, gateway, tenant
):
    echoing, failing = model_name(), model_name()
    team, leads = f"team-{uuid.uuid4().hex[:6]}", f"leads-{uuid.uuid4().hex[:6]}"
    running_suite.llm.script(failing, [{"error": {"status": 400, "times": 5, "message": "model refuses"}}])
    creating = asyncio.Semaphore(16)

    async def make(index: int):
        tags = [team, leads] if index < 40 else [team]
        async with creating:
            model = failing if index >= 185 else echoing
            return await create_agent(gateway, tenant, model, name=f"b{index}", tags=tags)

    agents = await asyncio.gather(*(make(index) for index in range(190)))
    unknown = [str(uuid.uuid4()) for _ in range(10)]
    by_ids = gateway_pb2.AgentSelector(agent_ids=[a.id for a in agents] + unknown)
    by_tags = gateway_pb2.AgentSelector(tags=[team, leads], tag_match=common_pb2.TAG_MATCH_ALL)

    results, summary = await broadcast(gateway, tenant, by_ids, "roll call")
    tagged, tagged_summary = await broadcast(gateway, tenant, by_tags, "leads only")

    by_agent = {result.agent_id: result for result in results}
    assert len(results) == len(by_agent) == 200, "one result per agent"
    for agent_id in unknown:
        assert by_agent[agent_id].error_code == grpc.StatusCode.NOT_FOUND.value[0]
        assert by_agent[agent_id].error_message and not by_agent[agent_id].HasField("run")
    for agent in agents:
        result = by_agent[agent.id]
        assert result.error_code == 0 and result.run.agent_id == agent.id
        if agent.model.model == failing:  # the run stopped for its model's error; reported in the run
            assert (result.run.status, result.run.stop_reason) == (FAILED, common_pb2.STOP_REASON_LLM_ERROR)
        else:
            assert result.run.status == COMPLETED
            assert [m.content for m in result.messages] == ["roll call", echo("roll call")]
    assert (summary.total, summary.succeeded, summary.failed) == (200, 190, 10)
    assert {r.agent_id for r in tagged} == {a.id for a in agents[:40]}
    assert all(r.run.status == COMPLETED for r in tagged)
    assert (tagged_summary.total, tagged_summary.succeeded, tagged_summary.failed) == (40, 40, 0)
    # Persisted: one run per agent per broadcast, each history holding its own exchanges.
    page = await conversation(gateway).ListRuns(
        gateway_service_pb2.ListRunsRequest(page_size=1000), metadata=tenant, timeout=CALL_TIMEOUT_S
    )
    assert sorted(r.id for r in page.runs) == sorted(r.run.id for r in (*results, *tagged) if r.run.id)
    reading = asyncio.Semaphore(16)

    async def contents(agent_id: str) -> list[str]:
        async with reading:
            return [m.content for m in await history(gateway, tenant, agent_id)]

    histories = await asyncio.gather(*(contents(a.id) for a in agents))
    for index, said in enumerate(histories):
        if index < 40:
            assert said == ["roll call", echo("roll call"), "leads only", echo("leads only")]
        elif index < 185:
            assert said == ["roll call", echo("roll call")]
        else:
            assert said == ["roll call"]


async def broadcast(channel, auth, selector, text: str):
    request = gateway_service_pb2.BroadcastRequest(
        selector=selector, messages=[user(text)], max_concurrency=32
    )
    call = conversation(channel).Broadcast(request, metadata=auth, timeout=60)
    responses = [response async for response in call]
    assert all(r.HasField("result") for r in responses[:-1]) and responses[-1].HasField("summary")
    return [r.result for r in responses[:-1]], responses[-1].summary


# -- agent-to-agent cycles ---------------------------------------------------------------------------


async def test_an_a_to_b_to_a_cycle_is_refused_in_bounded_time_instead_of_deadlocking_and_runs_name_their_parent(
    running_suite, gateway, tenant
):
    a_model, b_model = model_name(), model_name()
    a = await create_agent(gateway, tenant, a_model, name="a")
    b = await create_agent(gateway, tenant, b_model, name="b")
    ask = "send_message_to_agent_and_wait_for_reply"
    running_suite.llm.script(
        a_model, [{"tool_calls": [call(ask, {"agent_id": b.id, "message": "hi b"})]}, {"content": "done"}]
    )
    running_suite.llm.script(
        b_model,
        [{"tool_calls": [call(ask, {"agent_id": a.id, "message": "hi a"})]}, {"content": "could not ask a"}],
    )

    started = time.monotonic()
    response = await asyncio.wait_for(send(gateway, tenant, a.id, "start"), 15)
    elapsed = time.monotonic() - started

    assert elapsed < 10 and response.run.status == COMPLETED
    a_history = await history(gateway, tenant, a.id)
    b_history = await history(gateway, tenant, b.id)
    assert [m.content for m in a_history if m.role != ASSISTANT or m.content] == [
        "start",
        "could not ask a",
        "done",
    ]
    (refusal,) = [m for m in b_history if m.role == common_pb2.MESSAGE_ROLE_TOOL]
    assert "already waiting" in refusal.content and "deadlock" in refusal.content
    assert (b_history[0].content, b_history[-1].content) == ("hi b", "could not ask a")
    (b_run,) = await runs_oldest_first(gateway, tenant, b.id)
    assert b_run.status == COMPLETED
    assert b_run.parent_run_id == response.run.id, "b's run names the run of a that sent it"
    assert response.run.parent_run_id == "", "a client's run has no parent"


async def test_the_gateway_refuses_a_message_whose_call_chain_holds_its_target_or_is_too_deep(
    gateway, running_suite
):
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    tenant = (("authorization", f"Bearer {await running_suite.new_key(tenant_id)}"),)
    agent = await create_agent(gateway, tenant, model_name())
    others = [str(uuid.uuid4()) for _ in range(5)]
    as_agent_service = (
        ("authorization", f"Service {running_suite.suite.internal_token}"),
        ("x-agentsuite-tenant", tenant_id),
    )

    def chained(*chain: str, caller=as_agent_service):
        request = gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("hi")])
        metadata = (*caller, ("x-agentsuite-call-chain", ",".join(chain)))
        return conversation(gateway).SendMessage(request, metadata=metadata, timeout=CALL_TIMEOUT_S)

    cycle = await refused(chained(others[0], agent.id))
    too_deep = await refused(chained(*others))
    allowed = await chained(others[0])
    from_a_client = await chained(agent.id, caller=tenant)

    assert cycle.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(cycle).reason == "CALL_CYCLE"
    assert too_deep.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(too_deep).reason == "CALL_DEPTH"
    assert allowed.run.status == COMPLETED
    assert from_a_client.run.status == COMPLETED, "a client's call chain is not trusted: it starts one"
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [r.id for r in runs] == [allowed.run.id, from_a_client.run.id]
    assert [m.content for m in await history(gateway, tenant, agent.id)] == ["hi", echo("hi")] * 2


# -- Converse ----------------------------------------------------------------------------------------


async def read_until_finished(call, *, within: float = 10.0) -> list[gateway_pb2.RunEvent]:
    """Events read from a Converse stream up to the next finished event (pongs skipped)."""
    responses = await read_until(call, lambda r: r.HasField("event") and r.event.HasField("finished"), within)
    return [response.event for response in responses if response.HasField("event")]


async def read_until(
    call, stop: Callable[[gateway_service_pb2.ConverseResponse], bool], within: float = 10.0
) -> list[gateway_service_pb2.ConverseResponse]:
    deadline = time.monotonic() + within
    responses = []
    while True:
        response = await asyncio.wait_for(call.read(), max(0.0, deadline - time.monotonic()))
        assert response is not grpc.aio.EOF, "the stream ended early"
        responses.append(response)
        if stop(response):
            return responses


def assert_numbered(events: list[gateway_pb2.RunEvent], run_id: str, first_seq: int = 1) -> None:
    """Every event carries the run id; step-level ones count up by one; the rest carry the seq before."""
    seq = first_seq - 1
    for event in events:
        assert event.run_id == run_id
        if event in step_level([event]):
            assert event.seq == seq + 1
            seq = event.seq
        else:
            assert event.seq == seq


async def test_converse_carries_sends_pings_heartbeats_cancels_and_approvals(
    running_suite, gateway, tenant, tuned_channel
):
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = await tools.CreateTool(
        tools_service_pb2.CreateToolRequest(
            tool=tools_pb2.Tool(source_code=ADD_SOURCE, requires_approval=True)
        ),
        metadata=tenant,
    )
    model = model_name()
    agent = await create_agent(gateway, tenant, model, tool_ids=[tool.tool.id])
    running_suite.llm.script(
        model,
        [
            {"content": "hi"},
            {"content": "slowly", "latency_ms": 700},
            {"content": "never said", "latency_ms": 5000},
            {"tool_calls": [call("add", {"a": 1, "b": 1})]},
            {"content": "Two."},
        ],
    )
    stream = conversation(tuned_channel).Converse(metadata=tenant, timeout=30)

    def request(**kind) -> gateway_service_pb2.ConverseRequest:
        return gateway_service_pb2.ConverseRequest(**kind)

    def sending(text: str) -> gateway_service_pb2.ConverseRequest:
        return request(send=gateway_service_pb2.ConverseSend(messages=[user(text)]))

    await stream.write(request(open=gateway_service_pb2.ConverseOpen(agent_id=agent.id)))
    await stream.write(request(ping=gateway_service_pb2.ConversePing(nonce=7)))
    (pong,) = await read_until(stream, lambda r: r.HasField("pong"))
    await stream.write(sending("hello"))
    hello = await read_until_finished(stream)
    await stream.write(sending("take your time"))
    slow = await read_until_finished(stream)
    await stream.write(sending("cancel me"))
    started = await read_until(stream, lambda r: r.HasField("event") and r.event.HasField("started"))
    cancelled_id = started[-1].event.run_id
    await wait_for_llm_requests(running_suite.llm, model, 3)  # cancelled while the model is slow
    await stream.write(request(cancel=gateway_service_pb2.ConverseCancel(run_id=cancelled_id)))
    cancelled = await read_until_finished(stream)
    await stream.write(sending("1+1?"))
    asking = await read_until_finished(stream)
    (asked,) = [e.approval_request for e in asking if e.HasField("approval_request")]
    approval = common_pb2.ToolApproval(tool_call_id=asked.tool_call.id, approve=True)
    await stream.write(
        request(approval=gateway_service_pb2.ConverseApproval(run_id=asking[0].run_id, approvals=[approval]))
    )
    approved = await read_until_finished(stream)
    await stream.done_writing()
    ending = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)

    assert pong.pong.nonce == 7 and ending is grpc.aio.EOF
    assert kinds(hello)[:2] == ["queued", "started"] and hello[-1].finished.run.status == COMPLETED
    assert_numbered(hello, hello[0].run_id)
    assert_numbered(slow, slow[0].run_id)
    waiting = kinds(slow)[kinds(slow).index("message_persisted") + 1 : kinds(slow).index("assistant_message")]
    assert waiting.count("heartbeat") >= 2, "heartbeats came while the model was quiet"
    assert cancelled[-1].finished.run.status == CANCELLED
    assert cancelled[-1].finished.run.stop_reason == common_pb2.STOP_REASON_CANCELLED
    assert asking[-1].finished.run.status == AWAITING_APPROVAL
    assert_numbered(asking + approved, asking[0].run_id)
    assert approved[0].HasField("queued"), "the approved run continues under its own id"
    (returned,) = [e.tool_return for e in approved if e.HasField("tool_return")]
    assert returned.content == "2" and approved[-1].finished.run.status == COMPLETED
    assert [m.content for m in (await get_run(gateway, tenant, asking[0].run_id)).input] == ["1+1?"]
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [(r.id, r.status) for r in runs] == [
        (hello[0].run_id, COMPLETED),
        (slow[0].run_id, COMPLETED),
        (cancelled_id, CANCELLED),
        (asking[0].run_id, COMPLETED),
    ]
    blocks = blocks_by_run(await history(gateway, tenant, agent.id))
    assert [(run_id, [m.content for m in block if m.content]) for run_id, block in blocks] == [
        (hello[0].run_id, ["hello", "hi"]),
        (slow[0].run_id, ["take your time", "slowly"]),
        (cancelled_id, ["cancel me"]),
        (asking[0].run_id, ["1+1?", "2", "Two."]),
    ]


# -- the run API -------------------------------------------------------------------------------------


async def test_background_runs_are_polled_and_listed_by_agent_and_status_page_by_page(gateway, tenant):
    agent = await create_agent(gateway, tenant, model_name())
    bystander = await create_agent(gateway, tenant, model_name())

    accepted = [await create_run(gateway, tenant, agent.id, f"background {index}") for index in range(5)]
    elsewhere = await create_run(gateway, tenant, bystander.id, "elsewhere")
    done = [await wait_for_run(gateway, tenant, run.id, finished) for run in (*accepted, elsewhere)]

    assert all(run.status in (QUEUED, RUNNING) for run in accepted)
    assert all(run.status == COMPLETED and run.usage.total_tokens > 0 for run in done)
    pages, token = [], ""
    for _ in range(5):
        page = await conversation(gateway).ListRuns(
            gateway_service_pb2.ListRunsRequest(agent_id=agent.id, page_size=2, page_token=token),
            metadata=tenant,
        )
        pages.append([run.id for run in page.runs])
        token = page.next_page_token
        if not token:
            break
    assert pages == [[r.id for r in accepted[::-1][i : i + 2]] for i in (0, 2, 4)], "newest first, in pages"
    listed = await runs_oldest_first(gateway, tenant, "")
    assert [r.id for r in listed] == [r.id for r in (*accepted, elsewhere)], "the tenant's runs, all agents"
    completed = await conversation(gateway).ListRuns(
        gateway_service_pb2.ListRunsRequest(agent_id=agent.id, statuses=[COMPLETED, FAILED]), metadata=tenant
    )
    queued = await conversation(gateway).ListRuns(
        gateway_service_pb2.ListRunsRequest(agent_id=agent.id, statuses=[QUEUED]), metadata=tenant
    )
    assert len(completed.runs) == 5 and not queued.runs
    bad_token = await refused(
        conversation(gateway).ListRuns(
            gateway_service_pb2.ListRunsRequest(agent_id=agent.id, page_token="not-a-token"), metadata=tenant
        )
    )
    assert bad_token.code() == grpc.StatusCode.INVALID_ARGUMENT
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert_one_run_at_a_time_in_order(await history(gateway, tenant, agent.id), runs)


async def test_policies_and_approvals_hold_across_replicas_and_apis(
    running_suite, gateway, tenant, tuned_channel
):
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = await tools.CreateTool(
        tools_service_pb2.CreateToolRequest(
            tool=tools_pb2.Tool(source_code=ADD_SOURCE, requires_approval=True)
        ),
        metadata=tenant,
    )
    model = model_name()
    agent = await create_agent(gateway, tenant, model, tool_ids=[tool.tool.id])
    running_suite.llm.script(
        model,
        [
            {"content": "too slow to finish", "latency_ms": 5000},
            {"tool_calls": [call("add", {"a": 2, "b": 2})]},
            {"tool_calls": [call("add", {"a": 3, "b": 3}, "call_2")]},
            {"content": "Six."},
        ],
    )
    slow = await create_run(tuned_channel, tenant, agent.id, "slow")
    await wait_for_llm_requests(running_suite.llm, model, 1)

    # A Converse send refused as busy is an error event; the stream goes on.
    stream = conversation(gateway).Converse(metadata=tenant, timeout=30)
    await stream.write(
        gateway_service_pb2.ConverseRequest(open=gateway_service_pb2.ConverseOpen(agent_id=agent.id))
    )
    await stream.write(
        gateway_service_pb2.ConverseRequest(
            send=gateway_service_pb2.ConverseSend(
                messages=[user("not now")], busy_policy=gateway_pb2.BUSY_POLICY_REJECT
            )
        )
    )
    (busy,) = await read_until(stream, lambda r: r.HasField("event") and r.event.HasField("error"))
    await stream.write(gateway_service_pb2.ConverseRequest(ping=gateway_service_pb2.ConversePing(nonce=1)))
    (pong,) = await read_until(stream, lambda r: r.HasField("pong"))
    await stream.done_writing()
    # Interrupt through this gateway a run executing on the other one.
    asking = await send(gateway, tenant, agent.id, "2+2?", busy_policy=gateway_pb2.BUSY_POLICY_INTERRUPT)
    slow_done = await get_run(gateway, tenant, slow.id)
    # A run awaiting approval can be cancelled; the next one awaiting approval continues by SendMessage.
    cancelled = (
        await conversation(tuned_channel).CancelRun(
            gateway_service_pb2.CancelRunRequest(run_id=asking.run.id),
            metadata=tenant,
            timeout=CALL_TIMEOUT_S,
        )
    ).run
    asking_again = await send(tuned_channel, tenant, agent.id, "3+3?")
    (pending,) = asking_again.run.pending_approvals
    approved = await conversation(gateway).SendMessage(
        gateway_service_pb2.SendMessageRequest(
            agent_id=agent.id, approvals=[common_pb2.ToolApproval(tool_call_id=pending.id, approve=True)]
        ),
        metadata=tenant,
        timeout=CALL_TIMEOUT_S,
    )
    nothing_waits = await refused(
        conversation(gateway).SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id, approvals=[common_pb2.ToolApproval(tool_call_id=pending.id, approve=True)]
            ),
            metadata=tenant,
            timeout=CALL_TIMEOUT_S,
        )
    )

    assert busy.event.error.code == grpc.StatusCode.ABORTED.value[0] and slow.id in busy.event.error.message
    assert pong.pong.nonce == 1
    assert (slow_done.status, slow_done.stop_reason) == (CANCELLED, common_pb2.STOP_REASON_CANCELLED)
    assert asking.run.status == AWAITING_APPROVAL
    assert (cancelled.status, cancelled.stop_reason) == (CANCELLED, common_pb2.STOP_REASON_CANCELLED)
    assert asking_again.run.status == AWAITING_APPROVAL
    assert approved.run.id == asking_again.run.id and approved.run.status == COMPLETED
    assert [m.content for m in approved.messages if m.content][-2:] == ["6", "Six."]
    assert nothing_waits.code() == grpc.StatusCode.FAILED_PRECONDITION
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [(r.id, r.status) for r in runs] == [
        (slow.id, CANCELLED),
        (asking.run.id, CANCELLED),
        (asking_again.run.id, COMPLETED),
    ]
    blocks = blocks_by_run(await history(gateway, tenant, agent.id))
    assert [(run_id, [m.content for m in block if m.content]) for run_id, block in blocks] == [
        (slow.id, ["slow"]),
        (asking.run.id, ["2+2?"]),
        (asking_again.run.id, ["3+3?", "6", "Six."]),
    ]


async def test_a_retried_broadcast_with_its_key_returns_the_same_runs_and_stores_each_input_once(
    gateway, tenant
):
    agents = [await create_agent(gateway, tenant, model_name(), name=f"r{index}") for index in range(3)]
    selector = gateway_pb2.AgentSelector(agent_ids=[a.id for a in agents])

    async def broadcast_once() -> dict[str, str]:
        request = gateway_service_pb2.BroadcastRequest(
            selector=selector, messages=[user("only once")], idempotency_key="broadcast-1"
        )
        call = conversation(gateway).Broadcast(request, metadata=tenant, timeout=CALL_TIMEOUT_S)
        return {r.result.agent_id: r.result.run.id async for r in call if r.HasField("result")}

    first = await broadcast_once()
    retried = await broadcast_once()

    assert first == retried and len(set(first.values())) == 3
    for agent in agents:
        assert [m.content for m in await history(gateway, tenant, agent.id)] == [
            "only once",
            echo("only once"),
        ]
