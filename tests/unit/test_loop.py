"""The agent loop against an in-memory memory and the offline or a stub model: events in order, the
input stored before the model is called, one fenced append per step, and nothing lost when the
model fails."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.agent.core.agents import Agent, ModelCatalog, ModelChoice
from services.agent.core.builtin_tools import BuiltinTools
from services.agent.core.events import (
    AssistantDelta,
    AssistantMessage,
    MessagePersisted,
    ReasoningDelta,
    Stopped,
    StopReason,
    UsageReport,
)
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.core.loop import AgentLoop
from services.agent.core.run_state import RunRequest
from services.agent.core.tool_calls import ToolExecutor
from services.agent.llm import (
    ChatRequest,
    Completion,
    LLMError,
    LLMEvent,
    ProviderRegistry,
    ScriptedModel,
    TextDelta,
    TokenUsage,
)
from services.agent.llm import (
    ReasoningDelta as LLMReasoningDelta,
)


@dataclass
class AppendCall:
    agent_id: str
    epoch: int
    run_id: str
    idempotency_key: str
    messages: tuple[HistoryMessage, ...]


class InMemoryMemory:
    """The ``Memory`` protocol in a dict: numbers messages per agent and answers retries from the first."""

    def __init__(self, history: Sequence[HistoryMessage] = ()):
        self.stored: list[HistoryMessage] = [replace(m, seq=i) for i, m in enumerate(history, start=1)]
        self.appends: list[AppendCall] = []
        self._by_key: dict[str, list[HistoryMessage]] = {}

    async def context(self, agent_id: str) -> ContextSnapshot:
        return ContextSnapshot(compiled_memory="", summary="", messages=tuple(self.stored), epoch=1)

    async def append(
        self,
        agent_id: str,
        *,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        messages: Sequence[HistoryMessage],
    ) -> list[HistoryMessage]:
        self.appends.append(AppendCall(agent_id, epoch, run_id, idempotency_key, tuple(messages)))
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        stored = [
            replace(m, seq=len(self.stored) + i, id=f"m{len(self.stored) + i}", run_id=run_id)
            for i, m in enumerate(messages, start=1)
        ]
        self.stored.extend(stored)
        self._by_key[idempotency_key] = stored
        return stored

    async def append_then_read(self, agent_id: str, **append) -> tuple[list[HistoryMessage], ContextSnapshot]:
        stored = await self.append(agent_id, **append)
        return stored, await self.context(agent_id)

    async def read(self, agent_id: str, *, epoch: int = 0) -> ContextSnapshot:
        return await self.context(agent_id)

    async def set_eviction_boundary(
        self, agent_id: str, *, epoch: int, boundary_seq: int, summary: str
    ) -> None:
        raise NotImplementedError


class StubModel:
    """A ChatModel that plays back fixed events, then optionally fails; it records what it was asked."""

    def __init__(self, events: Sequence[LLMEvent], *, fail_with: Exception | None = None):
        self._events = list(events)
        self._fail_with = fail_with
        self.requests: list[ChatRequest] = []

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        for event in self._events:
            yield event
        if self._fail_with is not None:
            raise self._fail_with

    async def complete(self, request: ChatRequest, *, deadline: float | None = None) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def make_agent(provider: str = "scripted") -> Agent:
    now = datetime.now(UTC)
    return Agent(
        id="agent-1",
        name="helper",
        system_prompt="Be brief.",
        model=ModelChoice(provider=provider, model="m", temperature=0.2, max_output_tokens=64),
        created_at=now,
        updated_at=now,
    )


def run_request(text: str = "hello there", *, deadline: float | None = None) -> RunRequest:
    return RunRequest(
        agent_id="agent-1",
        run_id="run-7",
        epoch=3,
        input=(HistoryMessage(role="user", content=text),),
        deadline=deadline,
    )


class NoCustomTools:
    async def definitions(self, tool_ids):
        return []

    async def execute(self, tool, arguments_json, *, agent_id, run_id, key):
        raise AssertionError("no custom tool is attached")


class OneAgent:
    """The agent directory of a test: always the same agent."""

    def __init__(self, agent: Agent):
        self.agent = agent

    async def get(self, agent_id: str) -> Agent:
        assert agent_id == self.agent.id
        return self.agent


def loop_with(memory: InMemoryMemory, model, agent: Agent | None = None) -> AgentLoop:
    custom = NoCustomTools()
    return AgentLoop(
        agents=OneAgent(agent or make_agent()),
        memory=memory,
        providers=ProviderRegistry(models={"scripted": model}, default_provider="scripted"),
        models=ModelCatalog(providers=("scripted",), default_provider="scripted", default_model="default-m"),
        tools=ToolExecutor(builtins=BuiltinTools(memory=memory, messaging=None), custom=custom),
        custom=custom,
    )


async def run_all(loop: AgentLoop, request: RunRequest) -> list:
    return [event async for event in loop.run(request)]


async def test_events_are_persisted_input_then_deltas_then_answer_then_usage_then_stop():
    memory = InMemoryMemory()

    events = await run_all(loop_with(memory, ScriptedModel()), run_request("hello there"))

    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "MessagePersisted"
    assert set(kinds[1:-3]) == {"AssistantDelta"}
    assert kinds[-3:] == ["AssistantMessage", "UsageReport", "Stopped"]
    deltas = "".join(e.text for e in events if isinstance(e, AssistantDelta))
    answer = next(e for e in events if isinstance(e, AssistantMessage)).message
    assert answer.content == deltas
    assert 'You said: "hello there"' in answer.content
    assert events[-1] == Stopped(1, StopReason.END_TURN)
    assert all(e.step == 1 for e in events)


async def test_input_then_answer_are_stored_in_fenced_appends_keyed_by_run_and_part():
    memory = InMemoryMemory()

    events = await run_all(loop_with(memory, ScriptedModel()), run_request("hello there"))

    assert [(a.agent_id, a.epoch, a.run_id) for a in memory.appends] == [("agent-1", 3, "run-7")] * 2
    assert [a.idempotency_key for a in memory.appends] == ["run-7:input", "run-7:step:1"]
    assert [[m.role for m in a.messages] for a in memory.appends] == [["user"], ["assistant"]]
    persisted = next(e for e in events if isinstance(e, MessagePersisted)).message
    answer = next(e for e in events if isinstance(e, AssistantMessage)).message
    assert (persisted.role, persisted.content, persisted.seq) == ("user", "hello there", 1)
    assert (answer.role, answer.seq, answer.run_id) == ("assistant", 2, "run-7")


async def test_model_sees_system_prompt_history_and_input_with_the_agents_model_settings():
    history = [HistoryMessage(role="user", content="earlier"), HistoryMessage(role="assistant", content="ok")]
    memory = InMemoryMemory(history)
    model = StubModel(
        [Completion(content="hi", reasoning="", tool_calls=(), usage=None, finish_reason="stop")]
    )

    await run_all(loop_with(memory, model), run_request("now"))

    (sent,) = model.requests
    assert [(m.role, m.content) for m in sent.messages] == [
        ("system", "Be brief."),
        ("user", "earlier"),
        ("assistant", "ok"),
        ("user", "now"),
    ]
    assert (sent.model, sent.temperature, sent.max_tokens) == ("m", 0.2, 64)


def loop_on(memory: InMemoryMemory, agent: Agent, models: dict, default: str) -> AgentLoop:
    """A loop whose suite has the providers ``models`` with ``default`` as its default provider."""
    custom = NoCustomTools()
    return AgentLoop(
        agents=OneAgent(agent),
        memory=memory,
        providers=ProviderRegistry(models=models, default_provider=default),
        models=ModelCatalog(providers=tuple(models), default_provider=default, default_model=f"{default}-m"),
        tools=ToolExecutor(builtins=BuiltinTools(memory=memory, messaging=None), custom=custom),
        custom=custom,
    )


async def test_an_agent_naming_no_model_follows_the_suites_default_and_its_answer_says_which_answered():
    agent = replace(make_agent(), model=ModelChoice(provider="", model=""))
    real = StubModel(
        [Completion(content="real", reasoning="", tool_calls=(), usage=None, finish_reason="stop")]
    )
    offline_memory, real_memory = InMemoryMemory(), InMemoryMemory()

    await run_all(loop_on(offline_memory, agent, {"scripted": ScriptedModel()}, "scripted"), run_request())
    # The same agent, once the suite has a real provider configured as its default.
    await run_all(
        loop_on(real_memory, agent, {"scripted": ScriptedModel(), "openai": real}, "openai"), run_request()
    )

    assert offline_memory.stored[-1].metadata["model"] == "scripted/scripted-m"
    assert (real_memory.stored[-1].content, real_memory.stored[-1].metadata["model"]) == (
        "real",
        "openai/openai-m",
    )
    assert real.requests[0].model == "openai-m"


async def test_an_agent_that_names_its_model_keeps_it_whatever_the_suites_default():
    agent = replace(make_agent(), model=ModelChoice(provider="scripted", model="pinned"))
    real = StubModel([])
    memory = InMemoryMemory()

    await run_all(
        loop_on(memory, agent, {"scripted": ScriptedModel(), "openai": real}, "openai"), run_request()
    )

    assert not real.requests
    assert memory.stored[-1].metadata["model"] == "scripted/pinned"


async def test_reasoning_is_streamed_apart_and_stored_with_the_answer_and_usage_reported():
    memory = InMemoryMemory()
    usage = TokenUsage(prompt_tokens=11, completion_tokens=5, total_tokens=16)
    model = StubModel(
        [
            LLMReasoningDelta(text="thinking"),
            TextDelta(text="Answer"),
            Completion(
                content="Answer", reasoning="thinking", tool_calls=(), usage=usage, finish_reason="stop"
            ),
        ]
    )

    events = await run_all(loop_with(memory, model), run_request())

    assert events[1:3] == [ReasoningDelta(1, "thinking"), AssistantDelta(1, "Answer")]
    assert memory.stored[-1].reasoning == "thinking"
    report = next(e for e in events if isinstance(e, UsageReport))
    assert (report.usage.prompt_tokens, report.usage.completion_tokens, report.usage.steps) == (11, 5, 1)


async def test_a_run_asked_again_after_its_answer_gives_the_same_answer_without_the_model():
    """A gateway that dies after the agent answered, before it stored the run's end, has the run
    executed again (by another replica, under the same id): the agent must not answer twice, and
    the record must say what the first execution said."""
    memory = InMemoryMemory()
    usage = TokenUsage(prompt_tokens=11, completion_tokens=5, total_tokens=16)
    model = StubModel(
        [Completion(content="Answer", reasoning="", tool_calls=(), usage=usage, finish_reason="stop")]
    )
    loop = loop_with(memory, model)
    first = await run_all(loop, run_request())

    again = await run_all(loop, run_request())

    assert len(model.requests) == 1
    assert [m.role for m in memory.stored] == ["user", "assistant"]
    answers = [[e.message for e in events if isinstance(e, AssistantMessage)] for events in (first, again)]
    assert answers[0] == answers[1] and answers[0][0].content == "Answer"
    usages = [next(e for e in events if isinstance(e, UsageReport)).usage for events in (first, again)]
    assert usages[0] == usages[1]
    assert first[-1] == again[-1] == Stopped(1, StopReason.END_TURN)


async def test_model_failure_keeps_the_input_and_stops_with_llm_error():
    memory = InMemoryMemory()
    model = StubModel([TextDelta(text="par")], fail_with=LLMError("provider answered 503", status=503))

    events = await run_all(loop_with(memory, model), run_request("keep me"))

    assert isinstance(events[0], MessagePersisted) and events[0].message.content == "keep me"
    assert events[1] == AssistantDelta(1, "par")
    assert events[-1] == Stopped(1, StopReason.LLM_ERROR, "provider answered 503")
    assert [m.content for m in memory.stored] == ["keep me"]
    assert [a.idempotency_key for a in memory.appends] == ["run-7:input"]


async def test_spent_deadline_stops_with_llm_error_after_the_input_was_stored():
    memory = InMemoryMemory()

    events = await run_all(loop_with(memory, ScriptedModel()), run_request(deadline=time.monotonic() - 1))

    assert isinstance(events[-1], Stopped) and events[-1].reason == StopReason.LLM_ERROR
    assert "deadline" in events[-1].detail
    assert [m.content for m in memory.stored] == ["hello there"]


async def test_stream_ending_without_a_completion_keeps_the_input_and_stops_with_llm_error():
    memory = InMemoryMemory()
    model = StubModel([TextDelta(text="cut off")])

    events = await run_all(loop_with(memory, model), run_request("keep me too"))

    assert events[-1] == Stopped(1, StopReason.LLM_ERROR, "the model's stream ended without a completion")
    assert [m.content for m in memory.stored] == ["keep me too"]


async def test_an_agent_whose_provider_is_not_configured_stops_with_an_error_and_keeps_the_input():
    memory = InMemoryMemory()
    loop = loop_with(memory, ScriptedModel(), make_agent(provider="nope"))

    events = await run_all(loop, run_request())

    # The agent and its memory are read at once, so the input is already stored: a retry of the
    # run (same run id) once the provider is configured continues it without storing it twice.
    assert isinstance(events[0], MessagePersisted)
    assert events[-1].reason == StopReason.ERROR and "provider 'nope'" in events[-1].detail
    assert [a.idempotency_key for a in memory.appends] == ["run-7:input"]


async def test_the_input_is_already_stored_when_the_model_is_called():
    memory = InMemoryMemory()
    stored_when_called: list[list[str]] = []

    class PeekingModel(StubModel):
        async def stream(self, request, *, deadline=None):
            stored_when_called.append([m.content for m in memory.stored])
            async for event in super().stream(request, deadline=deadline):
                yield event

    model = PeekingModel([], fail_with=LLMError("the connection dropped", retryable=True))
    await run_all(loop_with(memory, model), run_request("remember me"))

    assert stored_when_called == [["remember me"]]
