"""The fake OpenAI server speaks the real wire format, so tests of our client mean something."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.fake_llm import FakeLLMServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def http(fake_llm: FakeLLMServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake_llm.port}", timeout=5.0) as client:
        yield client


def chat_body(model: str, text: str = "hi", *, stream: bool = True, usage: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


def sse_chunks(text: str) -> list[Any]:
    """The decoded ``data:`` payloads of an SSE body, with ``[DONE]`` kept as a string."""
    payloads = [block.removeprefix("data: ") for block in text.split("\n\n") if block]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


@pytest.mark.asyncio
async def test_health_answers_200(http):
    assert (await http.get("/health")).status_code == 200


@pytest.mark.asyncio
async def test_base_url_points_at_the_v1_api_on_the_bound_port(fake_llm):
    assert fake_llm.port > 0
    assert fake_llm.base_url == f"http://127.0.0.1:{fake_llm.port}/v1"


@pytest.mark.asyncio
async def test_unscripted_model_gets_a_deterministic_echo_in_openai_chunk_format(http):
    response = await http.post("/v1/chat/completions", json=chat_body("bench", "ping pong"))

    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(response.text)
    assert chunks[-1] == "[DONE]"
    *deltas, finish, usage_chunk, _ = chunks
    for chunk in [*deltas, finish, usage_chunk]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "bench"
    assert deltas[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in deltas)
    assert text == "echo: ping pong"
    assert len(deltas) > 2
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] > 0


@pytest.mark.asyncio
async def test_usage_chunk_only_when_include_usage_is_asked(http):
    response = await http.post("/v1/chat/completions", json=chat_body("m", usage=False))

    assert all("usage" not in c for c in sse_chunks(response.text) if c != "[DONE]")


@pytest.mark.asyncio
async def test_parallel_tool_calls_are_interleaved_by_index_with_id_and_name_first(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post(
        "/_admin/script",
        json={
            "model": model,
            "replies": [
                {
                    "tool_calls": [
                        {"id": "a", "name": "f", "arguments": '{"x": 1, "y": 2}'},
                        {"id": "b", "name": "g", "arguments": {"z": "three"}},
                    ],
                    "chunk_size": 4,
                }
            ],
        },
    )

    chunks = sse_chunks((await http.post("/v1/chat/completions", json=chat_body(model))).text)

    calls = [
        d for c in chunks if c != "[DONE]" for ch in c["choices"] for d in ch["delta"].get("tool_calls", [])
    ]
    assert [d["index"] for d in calls[:4]] == [0, 1, 0, 1]
    first = {d["index"]: d for d in reversed(calls)}
    assert (first[0]["id"], first[0]["function"]["name"]) == ("a", "f")
    assert (first[1]["id"], first[1]["function"]["name"]) == ("b", "g")
    assert all("id" not in d for d in calls if d is not first[d["index"]])
    args = {i: "".join(d["function"]["arguments"] for d in calls if d["index"] == i) for i in (0, 1)}
    assert args == {0: '{"x": 1, "y": 2}', 1: '{"z": "three"}'}
    assert sum(d["index"] == 0 for d in calls) > 2
    assert [c for c in chunks if c != "[DONE]" and c["choices"]][-1]["choices"][0][
        "finish_reason"
    ] == "tool_calls"


@pytest.mark.asyncio
async def test_scripted_replies_are_served_in_order_then_fall_back_to_echo(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post(
        "/_admin/script", json={"model": model, "replies": [{"content": "one"}, {"content": "two"}]}
    )

    texts = []
    for _ in range(3):
        body = (await http.post("/v1/chat/completions", json=chat_body(model, stream=False))).json()
        texts.append(body["choices"][0]["message"]["content"])

    assert texts == ["one", "two", "echo: hi"]


@pytest.mark.asyncio
async def test_error_reply_repeats_its_status_n_times_with_retry_after(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post(
        "/_admin/script",
        json={
            "model": model,
            "replies": [{"error": {"status": 429, "retry_after": 2, "times": 2}}, {"content": "ok"}],
        },
    )

    answers = [await http.post("/v1/chat/completions", json=chat_body(model)) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert "message" in answers[0].json()["error"]


@pytest.mark.asyncio
async def test_non_streaming_answer_is_a_chat_completion_object(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post(
        "/_admin/script",
        json={
            "model": model,
            "replies": [{"content": "c", "tool_calls": [{"id": "x", "name": "f", "arguments": "{}"}]}],
        },
    )

    body = (await http.post("/v1/chat/completions", json=chat_body(model, stream=False))).json()

    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["tool_calls"] == [
        {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


@pytest.mark.asyncio
async def test_received_requests_are_recorded_per_model_and_cleared(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post("/v1/chat/completions", json=chat_body(model, "first"))
    await http.post("/v1/chat/completions", json=chat_body(f"{model}-other", "elsewhere"))

    recorded = (await http.get("/_admin/requests", params={"model": model})).json()
    assert [r["messages"][0]["content"] for r in recorded] == ["first"]

    await http.delete("/_admin/script", params={"model": model})
    assert (await http.get("/_admin/requests", params={"model": model})).json() == []


@pytest.mark.asyncio
async def test_delete_clears_queued_replies(http):
    model = f"t-{uuid.uuid4().hex}"
    await http.post("/_admin/script", json={"model": model, "replies": [{"content": "scripted"}]})
    await http.delete("/_admin/script", params={"model": model})

    body = (await http.post("/v1/chat/completions", json=chat_body(model, stream=False))).json()
    assert body["choices"][0]["message"]["content"] == "echo: hi"


@pytest.mark.asyncio
async def test_malformed_script_is_rejected_with_400(http):
    response = await http.post("/_admin/script", json={"model": "m", "replies": [{"contnet": "typo"}]})
    assert response.status_code == 400


# Scripted faults: what a slow or broken provider does on the wire.


async def script(http: httpx.AsyncClient, model: str, *replies: dict[str, Any]) -> None:
    (await http.post("/_admin/script", json={"model": model, "replies": list(replies)})).raise_for_status()


async def read_until_broken(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[bytes, Exception | None]:
    """The bytes of a streamed answer as far as they came, and how reading them ended."""
    received = b""
    try:
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            async for part in response.aiter_raw():
                received += part
    except httpx.TransportError as exc:
        return received, exc
    return received, None


@pytest.mark.asyncio
async def test_first_byte_delay_holds_back_even_the_status_line(http):
    model = f"t-{uuid.uuid4().hex}"
    await script(http, model, {"content": "late", "first_byte_delay_ms": 300})

    started = time.monotonic()
    async with http.stream("POST", "/v1/chat/completions", json=chat_body(model)) as response:
        waited_for_headers = time.monotonic() - started
        body = (await response.aread()).decode()

    assert waited_for_headers >= 0.3
    assert sse_chunks(body)[-1] == "[DONE]"


@pytest.mark.asyncio
async def test_a_drop_fault_cuts_the_connection_after_k_chunks(http):
    model = f"t-{uuid.uuid4().hex}"
    await script(
        http, model, {"content": "abcdefgh", "chunk_size": 2, "fault": {"kind": "drop", "after_chunks": 3}}
    )

    received, ended = await read_until_broken(http, chat_body(model))

    assert isinstance(ended, httpx.RemoteProtocolError)
    chunks = sse_chunks(received.decode())
    assert len(chunks) == 3
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "abcd"


@pytest.mark.asyncio
async def test_an_end_fault_ends_the_body_cleanly_without_the_rest_or_done(http):
    model = f"t-{uuid.uuid4().hex}"
    await script(
        http, model, {"content": "abcdefgh", "chunk_size": 2, "fault": {"kind": "end", "after_chunks": 2}}
    )

    response = await http.post("/v1/chat/completions", json=chat_body(model))

    assert response.status_code == 200
    chunks = sse_chunks(response.text)
    assert len(chunks) == 2 and "[DONE]" not in chunks
    assert chunks[-1]["choices"][0]["finish_reason"] is None


@pytest.mark.asyncio
async def test_an_insert_fault_writes_raw_text_between_chunks_then_goes_on(http):
    model = f"t-{uuid.uuid4().hex}"
    raw = "data: {not json\n\n"
    await script(
        http,
        model,
        {"content": "abcd", "chunk_size": 2, "fault": {"kind": "insert", "after_chunks": 2, "text": raw}},
    )

    text = (await http.post("/v1/chat/completions", json=chat_body(model))).text

    before, after = text.split(raw)
    assert len(sse_chunks(before)) == 2
    assert sse_chunks(after)[-1] == "[DONE]"


@pytest.mark.asyncio
async def test_a_fault_repeats_times_then_the_next_reply_is_clean(http):
    model = f"t-{uuid.uuid4().hex}"
    await script(
        http,
        model,
        {"content": "x", "fault": {"kind": "drop", "after_chunks": 0, "times": 2}},
        {"content": "ok"},
    )

    endings = [(await read_until_broken(http, chat_body(model)))[1] for _ in range(2)]
    clean = await http.post("/v1/chat/completions", json=chat_body(model))

    assert all(isinstance(e, httpx.RemoteProtocolError) for e in endings)
    assert "ok" in clean.text


@pytest.mark.asyncio
async def test_faults_of_a_whole_answer_drop_truncate_or_replace_its_body(http):
    model = f"t-{uuid.uuid4().hex}"
    await script(
        http,
        model,
        {"content": "x", "fault": {"kind": "drop"}},
        {"content": "x", "fault": {"kind": "end"}},
        {"content": "x", "fault": {"kind": "insert", "text": "<html>bad gateway</html>"}},
    )

    with pytest.raises(httpx.RemoteProtocolError):
        await http.post("/v1/chat/completions", json=chat_body(model, stream=False))
    truncated = await http.post("/v1/chat/completions", json=chat_body(model, stream=False))
    replaced = await http.post("/v1/chat/completions", json=chat_body(model, stream=False))

    with pytest.raises(ValueError):
        truncated.json()
    assert replaced.text == "<html>bad gateway</html>"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "explode"},
        {"kind": "drop", "after_chunks": -1},
        {"kind": "insert"},
        {"kind": "drop", "surprise": 1},
    ],
)
async def test_a_malformed_fault_is_rejected_with_400(http, fault):
    response = await http.post(
        "/_admin/script", json={"model": "m", "replies": [{"content": "x", "fault": fault}]}
    )
    assert response.status_code == 400


@pytest.mark.asyncio
async def test_server_wide_latency_delays_the_first_chunk():
    server = FakeLLMServer(latency_ms=200)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            started = time.monotonic()
            await client.post(f"{server.base_url}/chat/completions", json=chat_body("m"))
            assert time.monotonic() - started >= 0.2
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_command_line_prints_the_port_and_stops_on_sigterm():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.fake_llm",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency-ms",
        "0",
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        port = json.loads(line)["port"]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=5) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
