"""A slow or broken model provider, through the whole suite: the fake OpenAI server answers 429 and
500, drops the connection mid-answer, ends its body early, sends malformed chunks or nothing at all,
and every run ends with the right stop reason (or succeeds after retries), ends for good (no run
left running), leaves no half-written message in the agent's history, and the agent's next message
is answered."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.run_checks import (
    ASSISTANT,
    USER,
    conversation,
    echo,
    get_run,
    history,
    runs_oldest_first,
    send,
)

TOOL = common_pb2.MESSAGE_ROLE_TOOL
LLM_ERROR = common_pb2.STOP_REASON_LLM_ERROR
END_TURN = common_pb2.STOP_REASON_END_TURN


def model_name() -> str:
    return f"faults-{uuid.uuid4().hex[:10]}"


def streamed(llm, model: str) -> list[dict]:
    return [r for r in llm.requests(model) if r.get("stream")]


async def assert_usable_and_whole(channel, auth, agent_id: str, failed: gateway_pb2.Run) -> None:
    """The failed run ended for good, the next message is answered, and the history holds the
    failed run's input alone (no assistant text of the answer that broke), then the next exchange."""
    assert (await get_run(channel, auth, failed.id)).status == failed.status
    after = await send(channel, auth, agent_id, "are you there?")
    assert after.run.stop_reason == END_TURN
    assert after.messages[-1].content == echo("are you there?")
    stored = [m for m in await history(channel, auth, agent_id) if m.run_id == failed.id]
    assert [m.role for m in stored if m.role != TOOL] == [USER, *[ASSISTANT] * _tool_steps(stored)]
    assert all(m.tool_calls for m in stored if m.role == ASSISTANT), "only whole tool-call steps stay"
    runs = await runs_oldest_first(channel, auth, agent_id)
    assert all(run.status != gateway_pb2.RUN_STATUS_RUNNING for run in runs)


def _tool_steps(messages: list[common_pb2.Message]) -> int:
    return sum(1 for m in messages if m.role == ASSISTANT and m.tool_calls)


async def test_429_and_500_answers_are_retried_and_the_run_succeeds(gateway, tenant, running_suite):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(
        model,
        [
            {"error": {"status": 429, "retry_after": "0.2"}},
            {"error": {"status": 500, "retry_after": "0"}},
            {"content": "answered after two refusals"},
        ],
    )

    started = time.monotonic()
    response = await send(gateway, tenant, agent.id, "hello")

    assert response.run.stop_reason == END_TURN
    assert response.messages[-1].content == "answered after two refusals"
    assert len(streamed(running_suite.llm, model)) == 3
    assert time.monotonic() - started >= 0.2, "Retry-After was honoured"
    stored = await history(gateway, tenant, agent.id)
    assert [(m.role, m.content) for m in stored] == [
        (USER, "hello"),
        (ASSISTANT, "answered after two refusals"),
    ]


async def test_a_provider_that_keeps_failing_ends_the_run_as_llm_error(gateway, tenant, running_suite):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"error": {"status": 500, "retry_after": "0", "times": 4}}])

    response = await send(gateway, tenant, agent.id, "hello")

    assert response.run.stop_reason == LLM_ERROR
    assert response.run.status == gateway_pb2.RUN_STATUS_FAILED
    assert "HTTP 500" in response.run.stop_detail
    assert len(streamed(running_suite.llm, model)) == 4, "every attempt was made"
    await assert_usable_and_whole(gateway, tenant, agent.id, response.run)


async def test_a_connection_dropped_before_any_text_is_retried_and_answered_once(
    gateway, tenant, running_suite
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(
        model,
        [
            {"content": "lost", "fault": {"kind": "drop", "after_chunks": 1}},
            {"content": "the whole answer"},
        ],
    )

    response = await send(gateway, tenant, agent.id, "hello")

    assert response.run.stop_reason == END_TURN
    assert [m.content for m in response.messages] == ["hello", "the whole answer"]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "after_chunks": 3},
        {"kind": "end", "after_chunks": 3},
        {"kind": "insert", "after_chunks": 3, "text": "data: {not json\n\n"},
        {"kind": "insert", "after_chunks": 3, "text": 'data: {"choices": [{"index": 0, "delta": "x"}]}\n\n'},
        {"kind": "insert", "after_chunks": 1, "text": 'data: {"choices": "none"}\n\n'},
    ],
    ids=[
        "dropped-mid-answer",
        "ended-mid-answer",
        "invalid-json",
        "delta-not-an-object",
        "choices-not-a-list",
    ],
)
async def test_an_answer_broken_mid_stream_ends_the_run_as_llm_error_and_stores_none_of_it(
    gateway, tenant, running_suite, fault
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(
        model, [{"content": "half of this answer is never stored", "chunk_size": 5, "fault": fault}]
    )

    response = await send(gateway, tenant, agent.id, "hello")

    assert response.run.stop_reason == LLM_ERROR, response.run.stop_detail
    assert [m.content for m in response.messages] == ["hello"]
    await assert_usable_and_whole(gateway, tenant, agent.id, response.run)
    recall = await memory_service_pb2_grpc.MemoryServiceStub(gateway).SearchMessages(
        memory_service_pb2.SearchMessagesRequest(agent_id=agent.id, query="half"), metadata=tenant
    )
    assert not recall.results, "recall finds nothing of the broken answer"


async def test_a_streaming_client_saw_text_of_an_answer_that_broke_and_is_told_it_failed(
    gateway, tenant, running_suite
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    script = {"content": "abcdefghij" * 3, "chunk_size": 5, "chunk_delay_ms": 20}
    running_suite.llm.script(model, [{**script, "fault": {"kind": "drop", "after_chunks": 4}}])

    stream = conversation(gateway).StreamMessage(
        gateway_service_pb2.StreamMessageRequest(agent_id=agent.id, messages=[user("hello")]),
        metadata=tenant,
        timeout=20,
    )
    events = [response.event async for response in stream]

    deltas = "".join(e.assistant_delta.text for e in events if e.HasField("assistant_delta"))
    assert deltas == "abcdefghijabcde"
    assert not any(e.HasField("assistant_message") for e in events)
    (finished,) = [e.finished.run for e in events if e.HasField("finished")]
    assert finished.stop_reason == LLM_ERROR
    await assert_usable_and_whole(gateway, tenant, agent.id, finished)


async def test_a_break_in_a_later_step_keeps_the_whole_steps_before_it(gateway, tenant, running_suite):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    search = {"id": "call_1", "name": "conversation_search", "arguments": {"query": "anything"}}
    running_suite.llm.script(
        model,
        [
            {"tool_calls": [search]},
            {"content": "this answer breaks", "chunk_size": 4, "fault": {"kind": "drop", "after_chunks": 2}},
        ],
    )

    response = await send(gateway, tenant, agent.id, "look it up")

    assert response.run.stop_reason == LLM_ERROR
    assert [m.role for m in response.messages] == [USER, ASSISTANT, TOOL]
    await assert_usable_and_whole(gateway, tenant, agent.id, response.run)
    next_prompt = streamed(running_suite.llm, model)[-1]["messages"]
    assert [m["role"] for m in next_prompt[1:]] == ["user", "assistant", "tool", "user"]


async def test_a_model_slower_than_the_run_deadline_ends_as_llm_error(running_suite, replicas, tenant):
    gateway_replica = await replicas.start(env={"AGENTSUITE_RUN_TIMEOUT_SECONDS": "2.5"})
    async with grpc.aio.insecure_channel(gateway_replica.address) as channel:
        model = model_name()
        agent = await create_agent(channel, tenant, model)
        for reply in (
            {"content": "never sent", "first_byte_delay_ms": 4000},  # silent
            {"content": "word " * 100, "chunk_size": 5, "chunk_delay_ms": 100},  # too slow
        ):
            running_suite.llm.script(model, [reply])
            started = time.monotonic()
            response = await send(channel, tenant, agent.id, "hello")

            assert response.run.stop_reason == LLM_ERROR, response.run.stop_detail
            assert "deadline" in response.run.stop_detail
            assert time.monotonic() - started < 4.0
            await assert_usable_and_whole(channel, tenant, agent.id, response.run)
