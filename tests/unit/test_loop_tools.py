"""The agent loop with tools, against the fake OpenAI-compatible server scripting the model over real
HTTP/SSE, an in-memory memory and fake custom tools: multi-step tool use, parallel calls arriving
interleaved, tool rules, approvals, invalid calls, summarisation, every stop reason, cancellation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from services.agent.core.agents import Agent, ModelCatalog, ModelChoice
from services.agent.core.builtin_tools import BlockEdit, BuiltinTools, CallSite, Found
from services.agent.core.events import (
    ApprovalRequested,
    AssistantMessage,
    MessagePersisted,
    Stopped,
    StopReason,
    ToolCallEvent,
    ToolReturnEvent,
    UsageReport,
)
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.core.loop import AgentLoop
from services.agent.core.run_state import Decision, RunRequest
from services.agent.core.tool_calls import ToolExecutor
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.agent.core.tools import ToolDefinition, ToolOutcome, ToolStatus
from services.agent.llm import OpenAICompatibleModel, ProviderRegistry
from services.common.errors import FailedPrecondition, InvalidArgument
from services.fake_llm import FakeLLMServer, ScriptedReply, ScriptedToolCall


class WorldMemory:
    """Memory in dicts: messages numbered per agent, appends deduplicated by key, core memory blocks."""

    def __init__(self, blocks: dict[str, str] | None = None):
        self.stored: list[HistoryMessage] = []
        self.blocks = dict(blocks or {"human": "Name unknown."})
        self.keys: list[str] = []
        self.boundary = 0
        self.summary = ""
        self.cap = 100  # like AGENTSUITE_CONTEXT_MAX_MESSAGES
        self._by_key: dict[str, list[HistoryMessage]] = {}
        self.effects: dict[str, str] = {}
        """Keyed block edits and passage inserts applied, by key."""

    def context(self) -> ContextSnapshot:
        compiled = "\n".join(f"<{label}>{value}</{label}>" for label, value in sorted(self.blocks.items()))
        messages = tuple(m for m in self.stored if m.seq > self.boundary)[-self.cap :]
        return ContextSnapshot(
            compiled_memory=compiled,
            summary=self.summary,
            messages=messages,
            epoch=1,
            boundary_seq=self.boundary,
        )

    async def messages_between(self, agent_id, *, after_seq, before_seq, limit):
        return [m for m in self.stored if after_seq < m.seq < before_seq][-limit:]

    async def append(self, agent_id, *, epoch, run_id, idempotency_key, messages):
        self.keys.append(idempotency_key)
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        start = len(self.stored)
        stored = [
            replace(m, seq=start + i, id=f"m{start + i}", run_id=run_id) for i, m in enumerate(messages, 1)
        ]
        self.stored.extend(stored)
        self._by_key[idempotency_key] = stored
        return stored

    async def append_then_read(self, agent_id, **append):
        return await self.append(agent_id, **append), self.context()

    async def read(self, agent_id, *, epoch=0):
        return self.context()

    async def set_eviction_boundary(self, agent_id, *, epoch, boundary_seq, summary):
        self.boundary, self.summary = boundary_seq, summary

    async def edit_block(self, agent_id, label, edit: BlockEdit, *, run_id, epoch, key):
        assert edit.kind == "append"
        if key not in self.effects:  # as memory does: a keyed edit is applied once
            self.effects[key] = label
            self.blocks[label] = f"{self.blocks[label]}\n{edit.text}"
        return self.blocks[label]

    async def insert_passage(self, archive_id, text, tags, *, agent_id, epoch, key):
        self.effects.setdefault(key, f"p{len(self.effects) + 1}")
        return self.effects[key]

    async def search_passages(self, agent_id, query, **filters) -> list[Found]:
        return []

    async def search_messages(self, agent_id, query, **filters) -> list[Found]:
        return [
            Found(text=m.content, score=1.0, when=None, role=m.role)
            for m in self.stored
            if query in m.content
        ]


class OneAgent:
    """The agent directory of a test: the agent of the last request made."""

    def __init__(self, agent: Agent | None):
        self.agent = agent

    async def get(self, agent_id: str) -> Agent:
        return self.agent


@dataclass
class FakeCustomTools:
    """Custom tools that sleep a little and answer with their arguments; they record what ran when."""

    tools: list[ToolDefinition]
    delay: float = 0.0
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    block: asyncio.Event | None = None
    keys: list[str] = field(default_factory=list)
    """The effect key of every call, in the order they were made."""

    async def definitions(self, tool_ids):
        return [t for t in self.tools if t.id in tool_ids]

    async def execute(self, tool, arguments_json, *, agent_id, run_id, key):
        self.keys.append(key)
        started = time.monotonic()
        try:
            if self.block is not None:
                await self.block.wait()
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.append(tool.name)
            raise
        self.spans.append((tool.name, started, time.monotonic()))
        return ToolOutcome(status=ToolStatus.OK, content=f"{tool.name} got {arguments_json}")


def custom_tool(name: str, **flags) -> ToolDefinition:
    return ToolDefinition(
        id=str(uuid.uuid4()),
        name=name,
        description=f"The {name} tool.",
        parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        **flags,
    )


@pytest_asyncio.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


@dataclass
class World:
    llm: FakeLLMServer
    memory: WorldMemory
    custom: FakeCustomTools
    loop: AgentLoop
    model: str
    directory: OneAgent

    def script(self, *replies: ScriptedReply) -> None:
        self.llm.script(model=self.model, replies=list(replies))

    def requests(self) -> list[dict]:
        return self.llm.requests(model=self.model)

    def agent(self, **changes) -> Agent:
        now = datetime.now(UTC)
        base = Agent(
            id="agent-1",
            name="helper",
            system_prompt="Be brief.",
            model=ModelChoice(provider="openai", model=self.model, context_window=128_000),
            tool_ids=tuple(t.id for t in self.custom.tools),
            archive_id="archive-1",
            created_at=now,
            updated_at=now,
        )
        return replace(base, **changes)

    def request(self, text: str | None = "hello", *, run_id: str = "run-1", **changes) -> RunRequest:
        self.directory.agent = changes.pop("agent", None) or self.agent()
        run_input = (HistoryMessage(role="user", content=text),) if text else ()
        return RunRequest(agent_id="agent-1", run_id=run_id, epoch=1, input=run_input, **changes)

    async def run(self, request: RunRequest) -> list:
        return [event async for event in self.loop.run(request)]


@pytest_asyncio.fixture
async def world(fake_llm: FakeLLMServer) -> AsyncIterator[World]:
    memory = WorldMemory()
    custom = FakeCustomTools(
        [
            custom_tool("lookup", parallel_safe=True),
            custom_tool("write_file"),
            custom_tool("deploy", requires_approval=True),
        ]
    )
    model = OpenAICompatibleModel(base_url=fake_llm.base_url, api_key=None, max_attempts=2, backoff_base=0.01)
    directory = OneAgent(None)
    loop = AgentLoop(
        agents=directory,
        memory=memory,
        providers=ProviderRegistry(models={"openai": model}, default_provider="openai"),
        models=ModelCatalog(providers=("openai",), default_provider="openai", default_model="default-m"),
        tools=ToolExecutor(builtins=BuiltinTools(memory=memory, messaging=None), custom=custom),
        custom=custom,
    )
    yield World(fake_llm, memory, custom, loop, model=f"m-{uuid.uuid4().hex[:8]}", directory=directory)
    await model.aclose()


def calls(*pairs: tuple[str, dict], prefix: str = "call") -> tuple[ScriptedToolCall, ...]:
    return tuple(
        ScriptedToolCall(id=f"{prefix}_{i}", name=name, arguments=json.dumps(args))
        for i, (name, args) in enumerate(pairs)
    )


def stop_of(events: Sequence) -> Stopped:
    assert isinstance(events[-1], Stopped)
    return events[-1]


async def test_multi_step_tool_use_stores_each_steps_calls_before_running_them_and_feeds_each_result_back(
    world,
):
    world.script(
        ScriptedReply(content="Let me look.", tool_calls=calls(("lookup", {"q": "weather"}))),
        ScriptedReply(content="It is sunny."),
    )

    events = await world.run(world.request("weather?"))

    assert stop_of(events).reason == StopReason.END_TURN
    assert world.memory.keys == ["run-1:input", "run-1:step:1", "run-1:results:1", "run-1:step:2"]
    assert world.custom.keys == ["run-1:1:call_0"], "the call's effects are keyed by run, step and call"
    assert [(m.role, m.step) for m in world.memory.stored] == [
        ("user", 0),
        ("assistant", 1),
        ("tool", 1),
        ("assistant", 2),
    ]
    tool_message = world.memory.stored[2]
    assert (tool_message.tool_call_id, tool_message.name) == ("call_0", "lookup")
    assert tool_message.content == 'lookup got {"q": "weather"}'
    second = world.requests()[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == "call_0"
    assert second[-1] == {
        "role": "tool",
        "content": 'lookup got {"q": "weather"}',
        "tool_call_id": "call_0",
        "name": "lookup",
    }
    kinds = [type(e).__name__ for e in events if not type(e).__name__.endswith("Delta")]
    assert kinds == [
        "MessagePersisted",
        "AssistantMessage",
        "ToolCallEvent",
        "ToolReturnEvent",
        "MessagePersisted",
        "UsageReport",
        "AssistantMessage",
        "UsageReport",
        "Stopped",
    ]
    usage = [e for e in events if isinstance(e, UsageReport)][-1].usage
    assert usage.steps == 2 and usage.prompt_tokens > 0 and usage.tool_seconds > 0


async def test_parallel_calls_interleaved_in_the_stream_run_concurrently_and_are_stored_in_call_order(world):
    world.custom.delay = 0.3
    world.script(
        ScriptedReply(
            tool_calls=calls(("lookup", {"q": "first question"}), ("lookup", {"q": "second question"})),
            chunk_size=3,  # arguments split in many chunks, the two calls interleaved by index
        ),
        ScriptedReply(content="Both done."),
    )

    started = time.monotonic()
    events = await world.run(world.request())
    elapsed = time.monotonic() - started

    assert stop_of(events).reason == StopReason.END_TURN
    assert [e.call.arguments for e in events if isinstance(e, ToolCallEvent)] == [
        '{"q": "first question"}',
        '{"q": "second question"}',
    ]
    (_, a_start, a_end), (_, b_start, b_end) = sorted(world.custom.spans, key=lambda s: s[1])
    assert a_start < b_end and b_start < a_end, "parallel-safe calls must overlap"
    assert elapsed < 0.55
    tools = [m for m in world.memory.stored if m.role == "tool"]
    assert [m.tool_call_id for m in tools] == ["call_0", "call_1"]


async def test_calls_that_are_not_parallel_safe_run_one_after_another(world):
    world.custom.delay = 0.1
    world.script(
        ScriptedReply(tool_calls=calls(("write_file", {"q": "a"}), ("write_file", {"q": "b"}))),
        ScriptedReply(content="ok"),
    )

    await world.run(world.request())

    (_, _, first_end), (_, second_start, _) = sorted(world.custom.spans, key=lambda s: s[1])
    assert second_start >= first_end


async def test_an_unknown_tool_is_reported_to_the_model_which_can_correct_itself(world):
    world.script(
        ScriptedReply(tool_calls=calls(("teleport", {"q": "x"}))),
        ScriptedReply(tool_calls=calls(("lookup", {"q": 3}), prefix="c2")),
        ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}), prefix="c3")),
        ScriptedReply(content="done"),
    )

    events = await world.run(world.request())

    returns = [e for e in events if isinstance(e, ToolReturnEvent)]
    assert returns[0].status == ToolStatus.ERROR and "unknown tool 'teleport'" in returns[0].content
    assert "lookup" in returns[0].content, "the error lists the tools the model has"
    assert returns[1].status == ToolStatus.ERROR and "q: 3 is not of type 'string'" in returns[1].content
    assert returns[2].status == ToolStatus.OK
    assert stop_of(events).reason == StopReason.END_TURN


async def test_a_model_that_keeps_making_invalid_calls_stops_with_invalid_tool_call(world):
    world.script(*(ScriptedReply(tool_calls=calls(("teleport", {}), prefix=f"c{i}")) for i in range(3)))

    events = await world.run(world.request())

    stop = stop_of(events)
    assert stop.reason == StopReason.INVALID_TOOL_CALL and "teleport" in stop.detail
    assert sum(isinstance(e, ToolReturnEvent) for e in events) == 3


async def test_max_steps_stops_a_model_that_never_stops_calling_tools(world):
    world.script(*(ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}), prefix=f"c{i}")) for i in range(5)))

    events = await world.run(world.request(max_steps=2))

    assert stop_of(events) == Stopped(2, StopReason.MAX_STEPS, "the run reached its limit of 2 steps")
    assert len(world.requests()) == 2


async def test_a_terminal_tool_ends_the_run_after_it_returns(world):
    agent = world.agent(tool_rules=(ToolRule(tool_name="lookup", kind=RuleKind.TERMINAL),))
    world.script(ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}))), ScriptedReply(content="never"))

    events = await world.run(world.request(agent=agent))

    assert stop_of(events).reason == StopReason.TERMINAL_TOOL
    assert len(world.requests()) == 1
    assert world.memory.stored[-1].role == "tool"


async def test_run_first_rule_offers_only_that_tool_and_denies_any_other_first_call(world):
    agent = world.agent(tool_rules=(ToolRule(tool_name="write_file", kind=RuleKind.RUN_FIRST),))
    world.script(
        ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}))),
        ScriptedReply(tool_calls=calls(("write_file", {"q": "x"}), prefix="c2")),
        ScriptedReply(content="ok"),
    )

    events = await world.run(world.request(agent=agent))

    first_offer = [t["function"]["name"] for t in world.requests()[0]["tools"]]
    assert first_offer == ["write_file"]
    returns = [e for e in events if isinstance(e, ToolReturnEvent)]
    assert returns[0].status == ToolStatus.DENIED and "must be the first call" in returns[0].content
    assert returns[1].status == ToolStatus.OK
    assert len(world.requests()[2]["tools"]) > 1, "after the first call every tool is offered again"


async def test_allowed_children_and_max_calls_limit_what_may_follow(world):
    agent = world.agent(
        tool_rules=(
            ToolRule(tool_name="write_file", kind=RuleKind.ALLOWED_CHILDREN, children=("lookup",)),
            ToolRule(tool_name="lookup", kind=RuleKind.MAX_CALLS, max_calls=1),
        )
    )
    world.script(
        ScriptedReply(tool_calls=calls(("write_file", {"q": "x"}))),
        ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}), ("lookup", {"q": "y"}), prefix="c2")),
        ScriptedReply(content="ok"),
    )

    events = await world.run(world.request(agent=agent))

    assert [t["function"]["name"] for t in world.requests()[1]["tools"]] == ["lookup"]
    returns = {e.call.id: e for e in events if isinstance(e, ToolReturnEvent)}
    assert {i: r.status for i, r in returns.items()} == {
        "call_0": ToolStatus.OK,
        "c2_0": ToolStatus.OK,
        "c2_1": ToolStatus.DENIED,
    }
    assert "at most 1 times" in returns["c2_1"].content
    assert "lookup" not in [t["function"]["name"] for t in world.requests()[2]["tools"]]


async def test_approval_stops_the_run_then_an_approval_continues_it_under_the_same_run(world):
    world.script(
        ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}), ("deploy", {"q": "prod"}))),
        ScriptedReply(content="Deployed."),
    )

    first = await world.run(world.request("deploy it"))

    assert stop_of(first).reason == StopReason.APPROVAL_REQUIRED
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]
    assert asked.call.name == "deploy"
    assert [n for n, *_ in world.custom.spans] == ["lookup"], "the call needing approval did not run"
    assert [m.role for m in world.memory.stored] == ["user", "assistant", "tool"]

    again = await world.run(world.request(None))  # asked again without decisions: same answer
    assert stop_of(again).reason == StopReason.APPROVAL_REQUIRED

    second = await world.run(
        world.request(None, approvals=(Decision(tool_call_id=asked.call.id, approve=True),))
    )

    assert stop_of(second).reason == StopReason.END_TURN
    assert [n for n, *_ in world.custom.spans] == ["lookup", "deploy"]
    assert [m.role for m in world.memory.stored] == ["user", "assistant", "tool", "tool", "assistant"]
    assert world.memory.stored[-1].step == 2
    assert world.memory.keys[-2:] == ["run-1:approvals:1", "run-1:step:2"]


async def test_a_denial_becomes_the_tools_result_with_the_reason(world):
    world.script(ScriptedReply(tool_calls=calls(("deploy", {"q": "prod"}))), ScriptedReply(content="Okay."))
    first = await world.run(world.request())
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]

    denial = Decision(tool_call_id=asked.call.id, approve=False, reason="not on a Friday")
    events = await world.run(world.request(None, approvals=(denial,)))

    (returned,) = [e for e in events if isinstance(e, ToolReturnEvent)]
    assert returned.status == ToolStatus.DENIED and returned.content == "denied by a human: not on a Friday"
    assert world.requests()[-1]["messages"][-1]["content"] == "denied by a human: not on a Friday"
    assert world.custom.spans == []


async def test_approvals_must_decide_exactly_the_waiting_calls(world):
    world.script(ScriptedReply(tool_calls=calls(("deploy", {"q": "a"}), ("deploy", {"q": "b"}))))
    await world.run(world.request())

    with pytest.raises(InvalidArgument, match="missing: call_1"):
        await world.run(world.request(None, approvals=(Decision(tool_call_id="call_0", approve=True),)))
    with pytest.raises(FailedPrecondition, match="no tool calls of run other await approval"):
        await world.run(
            world.request(None, run_id="other", approvals=(Decision(tool_call_id="call_0", approve=True),))
        )


async def test_a_new_message_after_an_unanswered_approval_tells_the_model_the_call_did_not_run(world):
    world.script(ScriptedReply(tool_calls=calls(("deploy", {"q": "a"}))), ScriptedReply(content="Fine."))
    await world.run(world.request("deploy"))

    events = await world.run(world.request("forget it", run_id="run-2"))

    assert stop_of(events).reason == StopReason.END_TURN
    sent = world.requests()[-1]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "user"]
    assert sent[-2]["content"].startswith("no result")


async def test_running_a_finished_run_again_does_not_answer_twice(world):
    world.script(ScriptedReply(content="Once."))
    await world.run(world.request())

    events = await world.run(world.request())

    assert stop_of(events).reason == StopReason.END_TURN
    assert len(world.requests()) == 1
    assert [m.role for m in world.memory.stored] == ["user", "assistant"]


async def test_a_core_memory_edit_is_in_the_next_steps_prompt(world):
    world.script(
        ScriptedReply(tool_calls=calls(("core_memory_append", {"label": "human", "content": "Name: Ada."}))),
        ScriptedReply(content="Nice to meet you, Ada."),
    )

    await world.run(world.request("I am Ada"))

    first, second = (r["messages"][0]["content"] for r in world.requests())
    assert "Name: Ada." not in first
    assert "Name: Ada." in second


async def test_past_the_threshold_the_oldest_messages_are_summarised_and_evicted(world):
    for i in range(40):
        role = "user" if i % 2 == 0 else "assistant"
        world.memory.stored.append(
            HistoryMessage(role=role, content=f"message {i} " + "word " * 60, seq=i + 1, run_id="old")
        )
    # Evicted messages are folded into the summary in pieces that fit the window: one reply each.
    world.script(*[ScriptedReply(content="SUMMARY: they talked about words.")] * 10)
    agent = world.agent(model=ModelChoice(provider="openai", model=world.model, context_window=4000))

    events = await world.run(world.request("and now?", agent=agent))

    assert stop_of(events).reason == StopReason.END_TURN
    *summary_calls, answer_call = world.requests()
    assert all(not call.get("stream") for call in summary_calls)
    assert "message 0" in json.dumps(summary_calls[0]["messages"])
    assert "SUMMARY: they talked about words." in json.dumps(summary_calls[-1]["messages"]), "folded"
    assert world.memory.summary == "SUMMARY: they talked about words."
    assert world.memory.boundary > 0
    sent = answer_call["messages"]
    assert "SUMMARY: they talked about words." in sent[0]["content"]
    assert "message 0 " not in json.dumps(sent)
    assert sent[-1] == {"role": "user", "content": "and now?"}
    assert "message 39 " in json.dumps(sent), "the newest history stays"


async def test_a_system_prompt_and_memory_that_alone_overflow_stop_with_context_overflow(world):
    agent = world.agent(
        system_prompt="rule " * 3000,
        model=ModelChoice(provider="openai", model=world.model, context_window=2000),
    )

    events = await world.run(world.request(agent=agent))

    assert stop_of(events).reason == StopReason.CONTEXT_OVERFLOW
    assert world.requests() == []
    assert [m.role for m in world.memory.stored] == ["user"], "the input is kept"


async def test_llm_failure_after_retries_stops_with_llm_error(world):
    world.script(ScriptedReply.from_json({"error": {"status": 503, "times": 2}})[0])
    world.script(ScriptedReply.from_json({"error": {"status": 503}})[0])

    events = await world.run(world.request())

    stop = stop_of(events)
    assert stop.reason == StopReason.LLM_ERROR and "503" in stop.detail


async def test_cancelling_a_run_cancels_its_tool_calls_in_flight(world):
    world.custom.block = asyncio.Event()
    world.script(ScriptedReply(tool_calls=calls(("lookup", {"q": "a"}), ("lookup", {"q": "b"}))))
    calling = asyncio.Event()

    async def consume():
        async for event in world.loop.run(world.request()):
            if isinstance(event, ToolCallEvent):
                calling.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(calling.wait(), 5)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(world.custom.cancelled) == ["lookup", "lookup"]
    assert [m.role for m in world.memory.stored] == ["user", "assistant"], (
        "a cancelled step keeps its calls (stored before they ran) but no results"
    )


async def test_cancelling_a_run_closes_the_models_http_stream(world):
    world.script(ScriptedReply(content="word " * 200, chunk_size=5, chunk_delay_ms=20))

    async def consume():
        async for _ in world.loop.run(world.request()):
            pass

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + 5
    while world.llm.active_streams == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 (a counter)
        await asyncio.sleep(0.01)
    assert world.llm.active_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    while world.llm.active_streams and time.monotonic() < deadline:  # noqa: ASYNC110 (a counter)
        await asyncio.sleep(0.01)
    assert world.llm.active_streams == 0


async def test_persisted_events_carry_their_step(world):
    world.script(ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}))), ScriptedReply(content="ok"))

    events = await world.run(world.request())

    steps = [(type(e).__name__, e.step) for e in events if isinstance(e, MessagePersisted | AssistantMessage)]
    assert steps == [
        ("MessagePersisted", 1),
        ("AssistantMessage", 1),
        ("MessagePersisted", 1),
        ("AssistantMessage", 2),
    ]


async def test_usage_stays_cumulative_when_an_approved_run_continues(world):
    world.script(ScriptedReply(tool_calls=calls(("deploy", {"q": "prod"}))), ScriptedReply(content="Done."))
    first = await world.run(world.request())
    before = [e for e in first if isinstance(e, UsageReport)][-1].usage
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]

    second = await world.run(
        world.request(None, approvals=(Decision(tool_call_id=asked.call.id, approve=True),))
    )

    after = [e for e in second if isinstance(e, UsageReport)][-1].usage
    assert after.steps == 2
    assert after.prompt_tokens > before.prompt_tokens > 0
    assert after.llm_seconds > before.llm_seconds


async def test_a_repeated_finished_run_sends_its_stored_answer_again(world):
    world.script(ScriptedReply(content="Once."))
    await world.run(world.request())

    events = await world.run(world.request())

    (answer,) = [e for e in events if isinstance(e, AssistantMessage)]
    assert answer.message.content == "Once." and answer.step == 1
    assert stop_of(events).reason == StopReason.END_TURN
    assert len(world.requests()) == 1


async def test_a_terminal_tool_that_ran_beside_an_approval_ends_the_run_once_approved(world):
    agent = world.agent(tool_rules=(ToolRule(tool_name="lookup", kind=RuleKind.TERMINAL),))
    world.script(ScriptedReply(tool_calls=calls(("lookup", {"q": "x"}), ("deploy", {"q": "y"}))))
    first = await world.run(world.request(agent=agent))
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]

    second = await world.run(
        world.request(None, agent=agent, approvals=(Decision(tool_call_id=asked.call.id, approve=True),))
    )

    assert stop_of(second).reason == StopReason.TERMINAL_TOOL
    assert len(world.requests()) == 1


async def test_calls_that_did_not_run_do_not_count_toward_max_calls_after_an_approval(world):
    agent = world.agent(tool_rules=(ToolRule(tool_name="lookup", kind=RuleKind.MAX_CALLS, max_calls=1),))
    world.script(
        ScriptedReply(tool_calls=calls(("lookup", {"q": 3}), ("deploy", {"q": "y"}))),
        ScriptedReply(tool_calls=calls(("lookup", {"q": "fixed"}), prefix="c2")),
        ScriptedReply(content="ok"),
    )
    first = await world.run(world.request(agent=agent))
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]

    second = await world.run(
        world.request(None, agent=agent, approvals=(Decision(tool_call_id=asked.call.id, approve=True),))
    )

    returned = {e.call.id: e.status for e in second if isinstance(e, ToolReturnEvent)}
    assert returned["c2_0"] == ToolStatus.OK


async def test_an_approval_overtaken_by_a_new_message_can_no_longer_be_given(world):
    world.script(ScriptedReply(tool_calls=calls(("deploy", {"q": "a"}))), ScriptedReply(content="Fine."))
    first = await world.run(world.request("deploy"))
    (asked,) = [e for e in first if isinstance(e, ApprovalRequested)]
    await world.run(world.request("forget it", run_id="run-2"))

    with pytest.raises(FailedPrecondition, match="no tool calls of run run-1 await approval"):
        await world.run(world.request(None, approvals=(Decision(tool_call_id=asked.call.id, approve=True),)))


async def test_messages_a_capped_context_read_left_out_are_summarised_not_dropped(world):
    world.memory.cap = 10
    for i in range(30):
        role = "user" if i % 2 == 0 else "assistant"
        world.memory.stored.append(HistoryMessage(role=role, content=f"message {i}", seq=i + 1, run_id="old"))
    world.script(ScriptedReply(content="SUMMARY: messages 0 to 24."), ScriptedReply(content="Sure."))

    events = await world.run(world.request("and now?"))

    assert stop_of(events).reason == StopReason.END_TURN
    summary_call, answer_call = world.requests()
    folded = json.dumps(summary_call["messages"])
    assert "message 0" in folded and "message 20" in folded, "the left-out and the older half"
    assert "SUMMARY: messages 0 to 24." in answer_call["messages"][0]["content"]
    assert world.memory.boundary >= 25
    assert world.memory.stored[world.memory.boundary].role != "tool"


async def interrupt_at_first_custom_call(world: World, request: RunRequest) -> None:
    """Run ``request`` until a custom tool starts, then end that try as a crash would (cancelled
    while the tool runs: the step's results are never stored)."""
    world.custom.block = asyncio.Event()
    started = asyncio.Event()
    task = asyncio.create_task(world.run(request))
    original = world.custom.execute

    async def announce(*args, **kwargs):
        started.set()
        return await original(*args, **kwargs)

    world.custom.execute = announce
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    world.custom.execute = original
    world.custom.block = None


async def test_a_step_executed_again_carries_out_its_stored_calls_without_asking_the_model_again(world):
    world.script(
        ScriptedReply(
            tool_calls=calls(
                ("core_memory_append", {"label": "human", "content": "likes tea"}), ("write_file", {"q": "x"})
            )
        ),
        ScriptedReply(content="Noted."),
    )
    await interrupt_at_first_custom_call(world, world.request("remember tea"))
    assert world.memory.blocks["human"].count("likes tea") == 1, "the first try edited the block"
    assert [m.role for m in world.memory.stored] == ["user", "assistant"], "its results were never stored"

    events = await world.run(world.request("remember tea"))  # the same run, executed again

    assert stop_of(events).reason == StopReason.END_TURN
    assert len(world.requests()) == 2, (
        "the stored calls are carried out; the model is asked only for the answer"
    )
    assert world.memory.blocks["human"].count("likes tea") == 1, "the edit is keyed, so applied once"
    assert world.custom.keys == ["run-1:1:call_1", "run-1:1:call_1"], "both tries key the call alike"
    assert [(m.role, m.step) for m in world.memory.stored] == [
        ("user", 0),
        ("assistant", 1),
        ("tool", 1),
        ("tool", 1),
        ("assistant", 2),
    ]
    told = [e.message.id for e in events if isinstance(e, (AssistantMessage, MessagePersisted))]
    assert told == [m.id for m in world.memory.stored], "every stored message of the run is told again"


async def test_a_run_executed_again_tells_the_messages_an_earlier_try_stored(world):
    world.script(
        ScriptedReply(tool_calls=calls(("lookup", {"q": "weather"}))),
        ScriptedReply(content="Sunny."),
    )
    first = await world.run(world.request("weather?"))
    assert stop_of(first).reason == StopReason.END_TURN

    again = await world.run(world.request("weather?"))

    assert len(world.requests()) == 2, "an answered run is not answered twice"
    assert [e.message.id for e in again if isinstance(e, (AssistantMessage, MessagePersisted))] == [
        m.id for m in world.memory.stored
    ]
    assert [e.call.id for e in again if isinstance(e, ToolCallEvent)] == ["call_0"]
    assert [e.call.id for e in again if isinstance(e, ToolReturnEvent)] == ["call_0"]


def test_an_effect_key_fits_the_key_limit_whatever_call_id_the_provider_made():
    site = CallSite(agent_id="a", archive_id="", run_id=str(uuid.uuid4()), epoch=1, step=12)

    plain = replace(site, call_id="call_abc").effect_key
    long_one = replace(site, call_id="x" * 5000).effect_key
    with_nul = replace(site, call_id="call\x00id").effect_key

    assert plain == f"{site.run_id}:12:call_abc"
    assert len(long_one) <= 200 and long_one == replace(site, call_id="x" * 5000).effect_key
    assert "\x00" not in with_nul and len(with_nul) <= 200
