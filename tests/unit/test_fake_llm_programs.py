"""The fake LLM's ``effects`` program answers each request from its own context, so concurrent
conversations of one model (the fault tests) each get the reply their history calls for."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from services.fake_llm import FakeLLMServer

TOOLS = [{"type": "function", "function": {"name": "fault_probe", "parameters": {"type": "object"}}}]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    server = FakeLLMServer()
    await server.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=15.0) as client:
        yield client
    await server.stop()


async def complete(http, model: str, messages: list[dict], *, tools=TOOLS) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": False}
    if tools:
        body["tools"] = tools
    response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    return response.json()["choices"][0]["message"]


async def test_a_user_message_is_answered_with_three_calls_carrying_it_and_fresh_ids(http):
    await http.post("/_admin/program", json={"model": "m", "tool": "fault_probe", "label": "notes"})
    said = [{"role": "system", "content": "x"}, {"role": "user", "content": "a01s1n0001"}]

    first = await complete(http, "m", said)
    again = await complete(http, "m", said)

    calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in first["tool_calls"]]
    assert calls == [
        ("core_memory_append", {"label": "notes", "content": "a01s1n0001"}),
        ("archival_memory_insert", {"content": "a01s1n0001"}),
        ("fault_probe", {"marker": "a01s1n0001"}),
    ]
    ids = {c["id"] for c in first["tool_calls"]} | {c["id"] for c in again["tool_calls"]}
    assert len(ids) == 6, "a step asked again gets new call ids, as from a real provider"


async def test_tool_results_or_a_stored_answer_are_answered_with_the_marker_and_no_calls(http):
    await http.post("/_admin/program", json={"model": "m", "tool": "fault_probe"})
    messages = [
        {"role": "user", "content": "a01s1n0002"},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]

    after_tools = await complete(http, "m", messages)
    after_answer = await complete(http, "m", [*messages, {"role": "assistant", "content": "done"}])

    for reply in (after_tools, after_answer):
        assert reply["content"] == "done: a01s1n0002" and "tool_calls" not in reply


async def test_the_summariser_gets_a_summary_and_other_models_still_get_the_echo(http):
    await http.post("/_admin/program", json={"model": "m"})

    summary = await complete(http, "m", [{"role": "user", "content": "summarise"}], tools=None)
    echo = await complete(http, "other", [{"role": "user", "content": "hi"}])

    assert summary["content"] and "tool_calls" not in summary
    assert echo["content"] == "echo: hi"


async def test_the_first_step_can_be_slow_and_the_final_reply_fast(http):
    await http.post("/_admin/program", json={"model": "m", "first_step_latency_ms": 300})

    started = time.monotonic()
    await complete(http, "m", [{"role": "user", "content": "slow"}])
    slow = time.monotonic() - started
    started = time.monotonic()
    await complete(http, "m", [{"role": "user", "content": "slow"}, {"role": "tool", "content": "ok"}])
    fast = time.monotonic() - started

    assert slow >= 0.3 > fast


async def test_a_malformed_program_is_refused(http):
    response = await http.post("/_admin/program", json={"model": "m", "program": "chess"})

    assert response.status_code == 400 and "chess" in response.json()["error"]
