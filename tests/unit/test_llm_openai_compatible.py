"""OpenAICompatibleModel against the real fake OpenAI server (real HTTP, real SSE), never a mock of itself."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from services.agent.llm import (
    ChatMessage,
    ChatRequest,
    Completion,
    LLMError,
    LLMEvent,
    OpenAICompatibleModel,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolSpec,
)
from services.common.errors import DeadlineExceeded
from services.fake_llm import FakeLLMServer

API_KEY = "sk-test-very-secret-key"


@pytest_asyncio.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def model(fake_llm: FakeLLMServer) -> AsyncIterator[OpenAICompatibleModel]:
    llm = OpenAICompatibleModel(
        base_url=fake_llm.base_url, api_key=API_KEY, backoff_base=0.01, backoff_max=0.05
    )
    yield llm
    await llm.aclose()


def unique_model() -> str:
    return f"test-{uuid.uuid4().hex}"


def ask(model_name: str, text: str = "hello", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model=model_name, messages=(ChatMessage(role="user", content=text),), **kwargs)


async def script(server: FakeLLMServer, model_name: str, *replies: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{server.port}/_admin/script",
            json={"model": model_name, "replies": list(replies)},
        )
        response.raise_for_status()


async def collect(stream: AsyncIterator[LLMEvent]) -> list[LLMEvent]:
    return [event async for event in stream]


@pytest.mark.asyncio
async def test_text_streams_as_deltas_and_completion_is_the_last_event(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "Hello there, world!", "chunk_size": 4, "chunk_delay_ms": 5})

    events = await collect(model.stream(ask(name)))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 5
    assert "".join(deltas) == "Hello there, world!"
    assert isinstance(events[-1], Completion)
    assert events[-1].content == "Hello there, world!"
    assert events[-1].finish_reason == "stop"
    assert all(not isinstance(e, Completion) for e in events[:-1])


@pytest.mark.asyncio
async def test_text_that_arrives_in_one_read_is_one_delta(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"reasoning": "think it", "content": "Hello there, world!", "chunk_size": 4})

    events = await collect(model.stream(ask(name)))

    # One write from the server of 2 + 5 chunks: the text that came in one read is one delta.
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    reasoning = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert len(texts) < 5 and "".join(texts) == "Hello there, world!"
    assert len(reasoning) < 2 and "".join(reasoning) == "think it"
    assert isinstance(events[-1], Completion)


@pytest.mark.asyncio
async def test_reasoning_deltas_are_kept_apart_from_the_answer(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"reasoning": "think think", "content": "answer", "chunk_size": 3})

    events = await collect(model.stream(ask(name)))

    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "think think"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "answer"
    assert events[-1].reasoning == "think think"
    assert events[-1].content == "answer"


@pytest.mark.asyncio
async def test_tool_call_arguments_split_across_chunks_are_reassembled(model, fake_llm):
    name = unique_model()
    arguments = json.dumps({"query": "weather in Paris", "units": "metric"})
    await script(
        fake_llm,
        name,
        {"tool_calls": [{"id": "call_a", "name": "search", "arguments": arguments}], "chunk_size": 5},
    )

    events = await collect(model.stream(ask(name)))

    assert [e for e in events if isinstance(e, ToolCallStarted)] == [
        ToolCallStarted(index=0, id="call_a", name="search")
    ]
    completion = events[-1]
    assert completion.tool_calls == (ToolCall(id="call_a", name="search", arguments=arguments),)
    assert completion.finish_reason == "tool_calls"
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_parallel_tool_calls_interleaved_by_index_are_assembled_in_index_order(model, fake_llm):
    name = unique_model()
    calls = [
        {"id": "call_0", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "call_1", "name": "get_time", "arguments": '{"zone": "Europe/Paris", "format": "24h"}'},
        {"id": "call_2", "name": "noop", "arguments": "{}"},
    ]
    await script(fake_llm, name, {"tool_calls": calls, "chunk_size": 4})

    events = await collect(model.stream(ask(name)))

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.index, e.id, e.name) for e in started] == [
        (i, c["id"], c["name"]) for i, c in enumerate(calls)
    ]
    assert events[-1].tool_calls == tuple(ToolCall(**c) for c in calls)


@pytest.mark.asyncio
async def test_usage_from_the_final_chunk_without_choices_is_captured(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "x" * 40})

    completion = (await collect(model.stream(ask(name, "y" * 80))))[-1]

    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 10)
    assert completion.usage.total_tokens == 30


@pytest.mark.asyncio
async def test_request_carries_stream_options_tools_and_tool_history(model, fake_llm):
    name = unique_model()
    request = ChatRequest(
        model=name,
        messages=(
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="weather?"),
            ChatMessage(role="assistant", tool_calls=(ToolCall(id="c1", name="w", arguments='{"a":1}'),)),
            ChatMessage(role="tool", content="sunny", tool_call_id="c1", name="w"),
        ),
        tools=(ToolSpec(name="w", description="weather", parameters={"type": "object", "properties": {}}),),
        temperature=0.2,
        max_tokens=50,
        parallel_tool_calls=False,
    )

    await collect(model.stream(request))

    (sent,) = fake_llm.requests(model=name)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tools"][0] == {
        "type": "function",
        "function": {
            "name": "w",
            "description": "weather",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    assert sent["parallel_tool_calls"] is False
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 50)
    assert sent["messages"][2]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a":1}'}}
    ]
    assert sent["messages"][3] == {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "w"}


@pytest.mark.asyncio
async def test_a_history_sent_again_reads_the_same_with_its_text_intact(model, fake_llm):
    name = unique_model()
    history = (
        ChatMessage(role="user", content='Grüße 👋, "quoted"\nand a new line'),
        ChatMessage(
            role="assistant", content=None, tool_calls=(ToolCall(id="c1", name="w", arguments="{}"),)
        ),
        ChatMessage(role="tool", content="ok", tool_call_id="c1"),
    )

    await collect(model.stream(ChatRequest(model=name, messages=history)))
    await collect(
        model.stream(ChatRequest(model=name, messages=(*history, ChatMessage(role="user", content="again"))))
    )

    first, second = fake_llm.requests(model=name)
    assert first["messages"] == second["messages"][:3]
    assert first["messages"][0] == {"role": "user", "content": 'Grüße 👋, "quoted"\nand a new line'}
    assert first["messages"][1]["content"] is None
    assert second["messages"][3] == {"role": "user", "content": "again"}


@pytest.mark.asyncio
async def test_sse_lines_cut_across_network_writes_are_reassembled(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {
            "content": "split me please",
            "tool_calls": [{"name": "f", "arguments": '{"k": "v"}'}],
            "fragment_bytes": 7,
        },
    )

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "split me please"
    assert completion.tool_calls == (ToolCall(id="call_1", name="f", arguments='{"k": "v"}'),)


@pytest.mark.asyncio
async def test_429_is_retried_then_the_answer_streams(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"error": {"status": 429, "times": 2}}, {"content": "finally"})

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "finally"
    assert len(fake_llm.requests(model=name)) == 3


@pytest.mark.asyncio
async def test_retry_after_header_is_honoured(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"error": {"status": 429, "retry_after": "0.3"}}, {"content": "ok"})

    started = time.monotonic()
    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "ok"
    assert time.monotonic() - started >= 0.3


@pytest.mark.asyncio
async def test_500_is_retried_up_to_max_attempts_then_raises_llm_error(fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"error": {"status": 500, "times": 10}})
    llm = OpenAICompatibleModel(
        base_url=fake_llm.base_url, api_key=API_KEY, max_attempts=3, backoff_base=0.01
    )
    try:
        with pytest.raises(LLMError) as caught:
            await collect(llm.stream(ask(name)))
    finally:
        await llm.aclose()

    assert caught.value.status == 500
    assert caught.value.retryable
    assert len(fake_llm.requests(model=name)) == 3


@pytest.mark.asyncio
async def test_400_is_not_retried(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"error": {"status": 400, "message": "unknown parameter", "times": 3}})

    with pytest.raises(LLMError) as caught:
        await collect(model.stream(ask(name)))

    assert caught.value.status == 400
    assert not caught.value.retryable
    assert "unknown parameter" in str(caught.value)
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_api_key_never_appears_in_error_messages(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm, name, {"error": {"status": 401, "message": f"Incorrect API key provided: {API_KEY}"}}
    )

    with pytest.raises(LLMError) as caught:
        await collect(model.stream(ask(name)))

    assert caught.value.status == 401
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(model)


@pytest.mark.asyncio
async def test_latency_beyond_the_deadline_fails_at_the_deadline_not_after_the_latency(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "too late", "latency_ms": 5000})

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await collect(model.stream(ask(name), deadline=started + 0.3))

    assert time.monotonic() - started < 1.5
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_no_retry_sleeps_past_the_deadline(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"error": {"status": 429, "retry_after": "5"}}, {"content": "never seen"})

    started = time.monotonic()
    with pytest.raises(LLMError) as caught:
        await collect(model.stream(ask(name), deadline=started + 1.0))

    assert caught.value.status == 429
    assert time.monotonic() - started < 0.5


@pytest.mark.asyncio
async def test_closing_the_stream_early_releases_the_connection(fake_llm):
    name = unique_model()
    await script(
        fake_llm, name, {"content": "word " * 200, "chunk_size": 5, "chunk_delay_ms": 20}, {"content": "next"}
    )
    # One connection only: if the abandoned stream kept it, the next call could not start.
    client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    llm = OpenAICompatibleModel(
        base_url=fake_llm.base_url, api_key=API_KEY, client=client, max_attempts=1, timeout=2.0
    )
    try:
        stream = llm.stream(ask(name))
        assert isinstance(await anext(stream), TextDelta)
        await stream.aclose()

        for _ in range(100):
            if fake_llm.active_streams == 0:
                break
            await asyncio.sleep(0.01)
        assert fake_llm.active_streams == 0
        completion = (await asyncio.wait_for(collect(llm.stream(ask(name))), timeout=2.0))[-1]
        assert completion.content == "next"
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_cancelling_the_consumer_task_closes_the_stream(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "word " * 200, "chunk_size": 5, "chunk_delay_ms": 20})
    first_event = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(ask(name)):
            first_event.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_event.wait(), timeout=2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for _ in range(100):
        if fake_llm.active_streams == 0:
            break
        await asyncio.sleep(0.01)
    assert fake_llm.active_streams == 0


@pytest.mark.asyncio
async def test_a_stream_broken_after_the_first_event_is_not_replayed(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "word " * 200, "chunk_size": 5, "chunk_delay_ms": 20})

    stream = model.stream(ask(name))
    assert isinstance(await anext(stream), TextDelta)
    await fake_llm.stop()  # drops the connection mid-answer

    with pytest.raises(LLMError) as caught:
        async for _ in stream:
            pass
    assert caught.value.retryable
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_unreachable_provider_is_retried_then_raises_llm_error():
    free_server = FakeLLMServer()
    await free_server.start()
    base_url = free_server.base_url
    await free_server.stop()  # nothing listens on this port any more
    llm = OpenAICompatibleModel(base_url=base_url, api_key=API_KEY, max_attempts=2, backoff_base=0.01)
    try:
        with pytest.raises(LLMError) as caught:
            await collect(llm.stream(ask("m")))
    finally:
        await llm.aclose()

    assert caught.value.status is None
    assert caught.value.retryable


@pytest.mark.asyncio
async def test_complete_returns_the_whole_answer_without_streaming(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {"error": {"status": 503}},
        {
            "content": "summary",
            "reasoning": "hmm",
            "tool_calls": [{"id": "c9", "name": "f", "arguments": "{}"}],
        },
    )

    completion = await model.complete(ask(name, "summarise this"))

    assert completion.content == "summary"
    assert completion.reasoning == "hmm"
    assert completion.tool_calls == (ToolCall(id="c9", name="f", arguments="{}"),)
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.finish_reason == "tool_calls"
    sent = fake_llm.requests(model=name)
    assert len(sent) == 2
    assert sent[-1]["stream"] is False
    assert "stream_options" not in sent[-1]


@pytest.mark.asyncio
async def test_complete_respects_the_deadline(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "slow", "latency_ms": 5000})

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await model.complete(ask(name), deadline=started + 0.3)
    assert time.monotonic() - started < 1.5


# Provider quirks the fake server does not produce, served as they are by a one-route HTTP server so
# the real client and parsing path still run.


@asynccontextmanager
async def quirky_provider(body: str) -> AsyncIterator[str]:
    """The base URL of a provider answering every chat completion with ``body``."""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=body.encode(), content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_sse_comments_keepalives_and_a_missing_done_are_tolerated():
    body = (
        ": keepalive\n\n"
        "event: message\n"
        'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\r\n\r\n'
        "\n\n"
        'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"x","function":{"name":"f","arguments":"{"}}]}}]}\n\n'
        'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}}]},"finish_reason":"tool_calls"}]}\n\n'
        'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}'
    )
    async with quirky_provider(body) as base_url:
        llm = OpenAICompatibleModel(base_url=base_url, api_key=None)
        try:
            events = await collect(llm.stream(ask("m")))
        finally:
            await llm.aclose()

    completion = events[-1]
    assert completion.content == "Hi"
    assert completion.tool_calls == (ToolCall(id="x", name="f", arguments="{}"),)
    assert completion.usage is not None and completion.usage.total_tokens == 5
    assert completion.finish_reason == "tool_calls"


@pytest.mark.asyncio
async def test_an_error_object_inside_the_stream_raises_llm_error():
    body = 'data: {"error":{"message":"upstream overloaded","code":400}}\n\n'
    async with quirky_provider(body) as base_url:
        llm = OpenAICompatibleModel(base_url=base_url, api_key=None)
        try:
            with pytest.raises(LLMError, match="upstream overloaded"):
                await collect(llm.stream(ask("m")))
        finally:
            await llm.aclose()


async def test_consecutive_streamed_calls_reuse_one_pooled_connection(model, fake_llm):
    name = unique_model()
    before = fake_llm.connections_seen

    for _ in range(5):
        await collect(model.stream(ask(name)))

    assert fake_llm.connections_seen - before <= 1


# A slow or broken provider, scripted on the fake server: every failure is an LLMError (or the
# deadline), a retry happens only while nothing reached the caller, and nothing half-made is
# ever handed on as an answer.


def drop(after_chunks: int, **fields: Any) -> dict[str, Any]:
    return {"kind": "drop", "after_chunks": after_chunks, **fields}


@pytest.mark.asyncio
async def test_a_connection_dropped_before_any_event_is_retried_and_the_answer_streams(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {"content": "lost", "fault": drop(0)},
        {"content": "lost too", "fault": drop(1)},  # only the role chunk came: still nothing to show
        {"content": "whole answer"},
    )

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "whole answer"
    assert len(fake_llm.requests(model=name)) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("paced", [True, False], ids=["chunk-by-chunk", "one-write"])
async def test_a_connection_dropped_after_text_was_streamed_is_an_llm_error_never_a_replay(
    model, fake_llm, paced
):
    name = unique_model()
    pacing = {"chunk_delay_ms": 10} if paced else {}
    await script(fake_llm, name, {"content": "abcdefgh", "chunk_size": 2, "fault": drop(3), **pacing})

    seen: list[LLMEvent] = []
    with pytest.raises(LLMError) as caught:
        async for event in model.stream(ask(name)):
            seen.append(event)

    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "abcd"
    assert not any(isinstance(e, Completion) for e in seen)
    assert caught.value.status is None
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_a_body_ended_before_the_answer_is_retried_while_nothing_was_streamed(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {"content": "cut", "fault": {"kind": "end", "after_chunks": 1}},
        {"content": "whole answer"},
    )

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "whole answer"
    assert len(fake_llm.requests(model=name)) == 2


@pytest.mark.asyncio
async def test_a_connection_dropped_after_done_loses_nothing(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "complete", "fault": drop(99)})  # past [DONE]

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "complete"
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_a_body_ended_mid_answer_is_an_llm_error_not_a_short_answer(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {
            "content": "abcdefgh",
            "chunk_size": 2,
            "chunk_delay_ms": 10,
            "fault": {"kind": "end", "after_chunks": 3},
        },
    )

    with pytest.raises(LLMError, match="ended before"):
        await collect(model.stream(ask(name)))
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_a_tool_call_cut_off_mid_arguments_is_never_handed_on(model, fake_llm):
    name = unique_model()
    calls = [{"id": "c1", "name": "f", "arguments": '{"city": "Lisbon", "days": 3}'}]
    await script(
        fake_llm,
        name,
        {
            "tool_calls": calls,
            "chunk_size": 6,
            "chunk_delay_ms": 10,
            "fault": {"kind": "end", "after_chunks": 3},
        },
    )

    seen: list[LLMEvent] = []
    with pytest.raises(LLMError):
        async for event in model.stream(ask(name)):
            seen.append(event)
    assert [type(e) for e in seen] == [ToolCallStarted]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        "garbage that is not a field\n\n",
        "event: ping\n\n",
        ": keepalive comment\n\n",
        "id: 7\nretry: 1000\n\n",
        "\n\n\n",
    ],
    ids=["bare-line", "event-field", "comment", "id-and-retry", "blank-lines"],
)
async def test_lines_that_are_not_data_are_ignored_as_sse_says(model, fake_llm, text):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {
            "content": "abcdefgh",
            "chunk_size": 2,
            "fault": {"kind": "insert", "after_chunks": 2, "text": text},
        },
    )

    completion = (await collect(model.stream(ask(name))))[-1]

    assert completion.content == "abcdefgh"


MALFORMED_CHUNKS = {
    "invalid-json": "data: {not json\n\n",
    "truncated-json": 'data: {"choices": [{"index": 0, "delta": {"content": "ab\n\n',
    "not-an-object": "data: [1, 2, 3]\n\n",
    "null": "data: null\n\n",
    "choices-not-a-list": 'data: {"choices": "nope"}\n\n',
    "choice-is-null": 'data: {"choices": [null]}\n\n',
    "delta-not-an-object": 'data: {"choices": [{"index": 0, "delta": "text"}]}\n\n',
    "content-a-number": 'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n',
    "reasoning-a-list": 'data: {"choices": [{"index": 0, "delta": {"reasoning_content": ["x"]}}]}\n\n',
    "tool-calls-not-a-list": 'data: {"choices": [{"index": 0, "delta": {"tool_calls": "f"}}]}\n\n',
    "tool-call-index-a-string": 'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "a", "id": "x", "function": {"name": "f"}}]}}]}\n\n',
    "function-not-an-object": 'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": "f"}]}}]}\n\n',
    "arguments-an-object": 'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "x", "function": {"name": "f", "arguments": {"a": 1}}}]}}]}\n\n',
    "usage-not-numbers": 'data: {"choices": [], "usage": {"prompt_tokens": "many"}}\n\n',
    "usage-not-an-object": 'data: {"choices": [], "usage": 12}\n\n',
    "choice-index-a-list": 'data: {"choices": [{"index": [], "delta": {"content": "x"}}]}\n\n',
}


@pytest.mark.asyncio
@pytest.mark.parametrize("where", [1, 3], ids=["before-any-event", "mid-answer"])
@pytest.mark.parametrize("text", MALFORMED_CHUNKS.values(), ids=MALFORMED_CHUNKS.keys())
async def test_a_malformed_chunk_is_an_llm_error_never_another_exception(model, fake_llm, text, where):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {
            "content": "abcdefgh",
            "chunk_size": 2,
            "fault": {"kind": "insert", "after_chunks": where, "text": text},
        },
    )

    with pytest.raises(LLMError, match="malformed"):
        await collect(model.stream(ask(name)))


@pytest.mark.asyncio
async def test_a_dropped_or_broken_stream_leaves_the_client_usable(fake_llm):
    name = unique_model()
    await script(
        fake_llm,
        name,
        {"content": "abcdefgh", "chunk_size": 2, "chunk_delay_ms": 10, "fault": drop(3)},
        {
            "content": "abcdefgh",
            "chunk_size": 2,
            "fault": {"kind": "insert", "after_chunks": 3, "text": "data: {\n\n"},
        },
        {"content": "still here"},
    )
    # One connection only: a broken response left in the pool would block or poison the next call.
    client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    llm = OpenAICompatibleModel(base_url=fake_llm.base_url, api_key=API_KEY, client=client, max_attempts=1)
    try:
        for _ in range(2):
            with pytest.raises(LLMError):
                await asyncio.wait_for(collect(llm.stream(ask(name))), timeout=2.0)
        completion = (await asyncio.wait_for(collect(llm.stream(ask(name))), timeout=2.0))[-1]
    finally:
        await client.close()

    assert completion.content == "still here"


@pytest.mark.asyncio
async def test_a_provider_silent_before_its_first_byte_fails_at_the_deadline(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "too late", "first_byte_delay_ms": 5000})

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        await collect(model.stream(ask(name), deadline=started + 0.3))

    assert 0.3 <= time.monotonic() - started < 1.0
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_a_stream_slower_than_the_deadline_stops_at_the_deadline_after_its_first_text(model, fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "word " * 100, "chunk_size": 5, "chunk_delay_ms": 100})

    started = time.monotonic()
    seen: list[LLMEvent] = []
    with pytest.raises(DeadlineExceeded):
        async for event in model.stream(ask(name), deadline=started + 0.5):
            seen.append(event)

    assert 0.5 <= time.monotonic() - started < 1.0
    assert seen and not any(isinstance(e, Completion) for e in seen)
    assert len(fake_llm.requests(model=name)) == 1


@pytest.mark.asyncio
async def test_an_attempt_past_the_client_timeout_is_retried_within_the_deadline(fake_llm):
    name = unique_model()
    await script(fake_llm, name, {"content": "stuck", "first_byte_delay_ms": 2000}, {"content": "prompt"})
    llm = OpenAICompatibleModel(base_url=fake_llm.base_url, api_key=API_KEY, timeout=0.2, backoff_base=0.01)
    try:
        completion = (await collect(llm.stream(ask(name), deadline=time.monotonic() + 5)))[-1]
    finally:
        await llm.aclose()

    assert completion.content == "prompt"
    assert len(fake_llm.requests(model=name)) == 2


@pytest.mark.asyncio
async def test_retry_after_is_honoured_for_a_500_within_the_deadline(model, fake_llm):
    name = unique_model()
    await script(
        fake_llm, name, {"error": {"status": 503, "retry_after": "0.2", "times": 2}}, {"content": "back"}
    )

    started = time.monotonic()
    completion = (await collect(model.stream(ask(name), deadline=started + 3)))[-1]

    assert completion.content == "back"
    assert time.monotonic() - started >= 0.4


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fault", "retried"),
    [
        (drop(0), True),
        ({"kind": "end"}, False),
        ({"kind": "insert", "text": "<html>502 Bad Gateway</html>"}, False),
    ],
    ids=["dropped", "half-a-body", "not-json"],
)
async def test_a_broken_whole_answer_is_retried_or_an_llm_error(model, fake_llm, fault, retried):
    name = unique_model()
    await script(fake_llm, name, {"content": "broken", "fault": fault}, {"content": "whole"})

    if retried:
        assert (await model.complete(ask(name))).content == "whole"
    else:
        with pytest.raises(LLMError, match="malformed"):
            await model.complete(ask(name))
        assert len(fake_llm.requests(model=name)) == 1


MALFORMED_ANSWERS = {
    "not-an-object": "[]",
    "no-choices": '{"choices": []}',
    "choice-null": '{"choices": [null]}',
    "message-a-string": '{"choices": [{"message": "hi"}]}',
    "content-a-number": '{"choices": [{"message": {"content": 5}}]}',
    "tool-call-without-function": '{"choices": [{"message": {"tool_calls": [{"id": "x", "function": 1}]}}]}',
    "usage-negative": '{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": -1}}',
}


@pytest.mark.asyncio
@pytest.mark.parametrize("text", MALFORMED_ANSWERS.values(), ids=MALFORMED_ANSWERS.keys())
async def test_a_whole_answer_of_the_wrong_shape_is_an_llm_error(model, fake_llm, text):
    name = unique_model()
    await script(fake_llm, name, {"content": "x", "fault": {"kind": "insert", "text": text}})

    with pytest.raises(LLMError, match="malformed completion"):
        await model.complete(ask(name))
