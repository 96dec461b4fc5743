"""The offline scripted model and the provider registry that must never pick it silently."""

from __future__ import annotations

import time

import pytest

from services.agent.llm import (
    ChatMessage,
    ChatRequest,
    Completion,
    OpenAICompatibleModel,
    ScriptedModel,
    TextDelta,
    build_providers,
)
from services.common.errors import DeadlineExceeded, InvalidArgument


def conversation(*user_texts: str) -> ChatRequest:
    messages = [ChatMessage(role="system", content="be nice")]
    for text in user_texts:
        messages += [ChatMessage(role="user", content=text), ChatMessage(role="assistant", content="ok")]
    return ChatRequest(model="scripted", messages=tuple(messages[:-1]) if user_texts else tuple(messages))


@pytest.mark.asyncio
async def test_scripted_reply_is_labelled_and_says_it_is_not_a_real_llm():
    completion = await ScriptedModel().complete(conversation("What is the capital of France?"))

    assert completion.content.startswith("[offline scripted model] ")
    assert "What is the capital of France?" in completion.content
    assert "not a real LLM" in completion.content
    assert "AGENTSUITE_OPENAI_BASE_URL" in completion.content and "OPENAI_API_KEY" in completion.content


@pytest.mark.asyncio
async def test_scripted_reply_depends_only_on_the_last_user_message():
    model = ScriptedModel()

    first = await model.complete(conversation("older", "latest question"))
    second = await model.complete(conversation("something else", "latest question"))

    assert first.content == second.content
    assert "latest question" in first.content and "older" not in first.content


@pytest.mark.asyncio
async def test_scripted_model_streams_word_by_word_then_a_completion_with_estimated_usage():
    request = conversation("hello there")

    events = [e async for e in ScriptedModel().stream(request)]

    deltas = [e for e in events if isinstance(e, TextDelta)]
    completion = events[-1]
    assert isinstance(completion, Completion)
    assert len(deltas) == len(completion.content.split())
    assert "".join(d.text for d in deltas) == completion.content
    assert completion.tool_calls == ()
    assert completion.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == round(len(completion.content) / 4)
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


@pytest.mark.asyncio
async def test_scripted_model_answers_even_without_a_user_message():
    completion = await ScriptedModel().complete(conversation())

    assert completion.content.startswith("[offline scripted model] ")


@pytest.mark.asyncio
async def test_scripted_model_respects_a_spent_deadline():
    with pytest.raises(DeadlineExceeded):
        [e async for e in ScriptedModel().stream(conversation("hi"), deadline=time.monotonic() - 1)]


@pytest.mark.asyncio
async def test_registry_defaults_to_scripted_only_when_no_provider_is_configured():
    registry = build_providers(openai_base_url=None, openai_api_key=None)
    try:
        assert registry.default_provider == "scripted"
        assert registry.names == ("scripted",)
        assert isinstance(registry.get(""), ScriptedModel)
    finally:
        await registry.aclose()


@pytest.mark.asyncio
async def test_registry_defaults_to_openai_whenever_a_key_is_configured():
    registry = build_providers(openai_base_url=None, openai_api_key="sk-secret")
    try:
        assert registry.default_provider == "openai"
        model = registry.get("openai")
        assert isinstance(model, OpenAICompatibleModel)
        assert "api.openai.com/v1" in repr(model)
        assert "sk-secret" not in repr(model)
        assert isinstance(registry.get("scripted"), ScriptedModel)
    finally:
        await registry.aclose()


@pytest.mark.asyncio
async def test_registry_registers_openai_for_a_keyless_local_base_url():
    registry = build_providers(openai_base_url="http://localhost:11434/v1", openai_api_key=None)
    try:
        assert registry.default_provider == "openai"
        assert "localhost:11434" in repr(registry.get("openai"))
    finally:
        await registry.aclose()


@pytest.mark.asyncio
async def test_unknown_provider_is_invalid_argument_naming_the_known_ones():
    registry = build_providers(openai_base_url=None, openai_api_key=None)
    try:
        with pytest.raises(InvalidArgument) as caught:
            registry.get("anthropic")
    finally:
        await registry.aclose()

    assert "anthropic" in str(caught.value)
    assert "scripted" in str(caught.value)
    assert caught.value.violations[0].field == "provider"
