"""The agent loop: context in, model called, tools executed, each step persisted, events out.

One run is a sequence of steps. A step builds the prompt from the context (summarising the oldest
messages first when the context nears the model's window), streams the model's answer, executes
the tool calls it made, and appends the step's messages to memory in one fenced append keyed by run
and step, so a retried step stores once. The loop goes on while the model calls tools and stops
with one distinct reason for every ending.

A run can also continue: after an approval (the calls that waited are decided, then the loop goes
on), or after a crash of whoever drove it (the run's messages already in memory say where it was,
so a repeated run never answers twice).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from services.agent.core.agents import Agent, AgentDirectory
from services.agent.core.builtin_tools import BUILTIN_TOOLS, CallSite
from services.agent.core.context_window import (
    ContextBudget,
    ContextMeter,
    choose_eviction,
    history_tokens,
    overflow_detail,
    summary_request,
)
from services.agent.core.events import (
    ApprovalRequested,
    AssistantDelta,
    AssistantMessage,
    LoopEvent,
    MessagePersisted,
    ReasoningDelta,
    RunUsage,
    Stopped,
    StopReason,
    ToolCallEvent,
    ToolReturnEvent,
    UsageReport,
)
from services.agent.core.history import ContextSnapshot, HistoryMessage, Memory, unanswered_calls
from services.agent.core.prompt import chat_messages, system_message
from services.agent.core.tool_calls import ToolExecutor
from services.agent.core.tool_rules import RunRules
from services.agent.core.toolbox import CheckedCall, CustomTools, Toolbox
from services.agent.core.tools import ToolOutcome, ToolStatus
from services.agent.llm import ChatModel, ChatRequest, Completion, LLMError, ProviderRegistry
from services.agent.llm import ReasoningDelta as LLMReasoningDelta
from services.agent.llm import TextDelta as LLMTextDelta
from services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument

A = TypeVar("A")
B = TypeVar("B")

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "llm_seconds", "tool_seconds")

MAX_LEFT_OUT_FOLDED = 2_000
"""Most messages left out of a capped context read that are folded into the summary at once (the
newest; older ones stay in recall)."""
SUMMARY_PROMPT_TOKENS = 1_000
"""Room for the summariser's instructions in a summary request."""
SUMMARY_MESSAGE_TOKENS = 700
"""Most tokens one evicted message takes in a summary request (it is shown cut to 2,000 characters)."""

MAX_INVALID_STEPS = 3
"""Steps in a row whose every call was invalid before the run stops with INVALID_TOOL_CALL."""
MEMORY_EDITING_TOOLS = frozenset(
    {"core_memory_append", "core_memory_replace", "core_memory_insert", "core_memory_rewrite"}
)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A human's decision on a call that waited for approval."""

    tool_call_id: str
    approve: bool
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One run of an agent, as the gateway asked for it."""

    agent_id: str
    run_id: str
    epoch: int
    input: tuple[HistoryMessage, ...] = ()
    approvals: tuple[Decision, ...] = ()
    max_steps: int = 0
    """0 uses the agent's limit."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` by which the run must end."""


@dataclass(kw_only=True)
class _Run:
    """The mutable state of one run while it executes."""

    request: RunRequest
    agent: Agent
    model: ChatModel
    toolbox: Toolbox
    rules: RunRules
    budget: ContextBudget
    context: ContextSnapshot = field(
        default_factory=lambda: ContextSnapshot(compiled_memory="", summary="", messages=(), epoch=0)
    )
    meter: ContextMeter = field(default_factory=ContextMeter)
    step: int = 0
    calls: Counter = field(default_factory=Counter)
    previous_tool: str | None = None
    invalid_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    tool_seconds: float = 0.0
    usage_mark: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)

    @property
    def site(self) -> CallSite:
        return CallSite(
            agent_id=self.agent.id,
            archive_id=self.agent.archive_id,
            run_id=self.request.run_id,
            epoch=self.request.epoch,
            deadline=self.request.deadline,
        )

    @property
    def step_limit(self) -> int:
        return self.request.max_steps or self.agent.step_limit

    def usage(self) -> UsageReport:
        return UsageReport(
            self.step,
            RunUsage(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                steps=self.step,
                llm_seconds=self.llm_seconds,
                tool_seconds=self.tool_seconds,
            ),
        )

    def take_usage(self) -> dict[str, float]:
        """What the run spent since the last stored step; stored with that step, so a run that
        continues (after an approval, after a crash) keeps reporting the whole run's usage."""
        now = (self.prompt_tokens, self.completion_tokens, self.llm_seconds, self.tool_seconds)
        spent = {key: a - b for key, a, b in zip(_USAGE_KEYS, now, self.usage_mark, strict=True)}
        self.usage_mark = now
        return spent

    def restore_usage(self, messages: Sequence[HistoryMessage]) -> None:
        for message in messages:
            spent = message.metadata.get("usage") or {}
            self.prompt_tokens += int(spent.get("prompt_tokens", 0))
            self.completion_tokens += int(spent.get("completion_tokens", 0))
            self.llm_seconds += float(spent.get("llm_seconds", 0.0))
            self.tool_seconds += float(spent.get("tool_seconds", 0.0))
        self.usage_mark = (self.prompt_tokens, self.completion_tokens, self.llm_seconds, self.tool_seconds)

    def remember(self, stored: Sequence[HistoryMessage]) -> None:
        self.context = replace(self.context, messages=(*self.context.messages, *stored))


class _Stop(Exception):
    """Ends a run from deep inside a step with a stop reason."""

    def __init__(self, reason: StopReason, detail: str = ""):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class AgentLoop:
    """Runs agents; holds only its collaborators, so one instance serves every run concurrently."""

    def __init__(
        self,
        *,
        agents: AgentDirectory,
        memory: Memory,
        providers: ProviderRegistry,
        tools: ToolExecutor,
        custom: CustomTools,
    ):
        self._agents = agents
        self._memory = memory
        self._providers = providers
        self._tools = tools
        self._custom = custom

    async def run(self, request: RunRequest) -> AsyncIterator[LoopEvent]:
        # The agent's configuration and its memory are read at once: two services, one wait.
        # Accepted input is stored in that same memory call, before the model is called: a
        # deadline, a cancel or a crash during the answer must not lose what the user said, and
        # the context read then ends with that input.
        if request.input:
            memory_read = self._memory.append_then_read(
                request.agent_id,
                epoch=request.epoch,
                run_id=request.run_id,
                idempotency_key=f"{request.run_id}:input",
                messages=request.input,
            )
        else:
            memory_read = self._memory.read(request.agent_id)
        agent, loaded = await _together(self._agents.get(request.agent_id), memory_read)
        stored, context = loaded if request.input else ([], loaded)
        for message in stored:
            yield MessagePersisted(1, message)
        try:
            run = await self._start(request, agent)
        except _Stop as stop:
            yield Stopped(1, stop.reason, stop.detail)
            return
        run.context = context
        try:
            async for event in self._resume(run):
                yield event
            while True:
                if run.step >= run.step_limit:
                    raise _Stop(StopReason.MAX_STEPS, f"the run reached its limit of {run.step_limit} steps")
                run.step += 1
                async for event in self._step(run):
                    yield event
        except _Stop as stop:
            yield run.usage()
            yield Stopped(run.step, stop.reason, stop.detail)

    async def _start(self, request: RunRequest, agent: Agent) -> _Run:
        custom = await self._custom.definitions(agent.tool_ids) if agent.tool_ids else []
        return _Run(
            request=request,
            agent=agent,
            model=self._model(agent),
            toolbox=Toolbox((*BUILTIN_TOOLS, *custom)),
            rules=RunRules(agent.tool_rules),
            budget=ContextBudget.for_model(
                context_window=agent.model.context_window, max_output_tokens=agent.model.max_output_tokens
            ),
        )

    # -- continuing a run ------------------------------------------------------------------------

    async def _resume(self, run: _Run) -> AsyncIterator[LoopEvent]:
        """Pick the run up where its messages in memory left it, applying approvals if given."""
        request = run.request
        mine = [m for m in run.context.messages if m.run_id == request.run_id]
        run.step = max((m.step for m in mine), default=0)
        run.restore_usage(mine)
        for message in mine:
            # Only calls that ran count: an invalid call or one a rule or a human refused did not.
            if message.role == "tool" and message.metadata.get("ran"):
                run.calls[message.name] += 1
                run.previous_tool = message.name
        waiting, calls = unanswered_calls(run.context.messages)
        if waiting is None or waiting.run_id != request.run_id or not calls:
            if request.approvals:
                raise FailedPrecondition(
                    f"no tool calls of run {request.run_id} await approval", reason="NOTHING_TO_APPROVE"
                )
            if mine and mine[-1].step > 0:
                last = mine[-1]
                if last.role == "assistant":
                    # Answered before (the caller lost the answer): the same answer, not a new one.
                    yield AssistantMessage(last.step, last)
                    raise _Stop(StopReason.END_TURN)
                self._stop_if_terminal_ran(run, mine)
            return
        if not request.approvals:
            # The run stopped for approval and is asked to run again without decisions: say so again.
            for call in calls:
                yield ApprovalRequested(run.step, call)
            raise _Stop(StopReason.APPROVAL_REQUIRED, _awaiting(calls))
        decisions = {d.tool_call_id: d for d in request.approvals}
        _check_decisions(decisions, calls)
        checked = [run.toolbox.check(call) for call in calls]
        outcomes: dict[int, ToolOutcome] = {}
        approved = []
        for index, item in enumerate(checked):
            decision = decisions[item.call.id]
            if not decision.approve:
                reason = f": {decision.reason}" if decision.reason else ""
                outcomes[index] = ToolOutcome(status=ToolStatus.DENIED, content=f"denied by a human{reason}")
            elif not item.valid:
                outcomes[index] = ToolOutcome(status=ToolStatus.ERROR, content=f"error: {item.problem}")
            else:
                approved.append((index, item))
                run.calls[item.call.name] += 1
                run.previous_tool = item.call.name
        async for event in self._execute(run, approved, outcomes, checked):
            yield event
        results = _tool_messages(run.step, checked, outcomes, ran={index for index, _ in approved})
        stored = await self._append(run, f"approvals:{run.step}", results)
        for message in stored:
            yield MessagePersisted(run.step, message)
        self._stop_if_terminal_ran(run, mine)  # a terminal call of the same step that ran before
        self._after_tools(run, checked, outcomes)
        yield run.usage()

    @staticmethod
    def _stop_if_terminal_ran(run: _Run, mine: Sequence[HistoryMessage]) -> None:
        """Stop a continuing run whose last stored step already ran a terminal tool."""
        for message in mine:
            if (
                message.role == "tool"
                and message.step == run.step
                and message.metadata.get("ran")
                and message.metadata.get("status") == "ok"
                and run.rules.is_terminal(message.name)
            ):
                raise _Stop(StopReason.TERMINAL_TOOL, f"{message.name} ended the run")

    # -- one step --------------------------------------------------------------------------------

    async def _step(self, run: _Run) -> AsyncIterator[LoopEvent]:
        step, agent = run.step, run.agent
        tools = run.toolbox.specs(
            only=run.rules.allowed_next(previous=run.previous_tool, calls=run.calls),
            without=run.rules.exhausted(run.calls),
        )
        if run.context.skipped:
            await self._fold_left_out(run)
        messages = chat_messages(agent, run.context)
        estimated = run.meter.tokens(messages, tools)
        if run.budget.over_threshold(estimated):
            await self._summarise(run, tools)
            messages = chat_messages(agent, run.context)
            estimated = run.meter.tokens(messages, tools)
        if not run.budget.fits(estimated):
            raise _Stop(
                StopReason.CONTEXT_OVERFLOW,
                f"the context needs about {estimated} tokens, more than the model's window of "
                f"{run.budget.window} (less {run.budget.reserve_output} kept for the answer), "
                "and nothing more can be summarised",
            )
        chat = ChatRequest(
            model=agent.model.model,
            messages=messages,
            tools=tools,
            temperature=agent.model.temperature,
            max_tokens=agent.model.max_output_tokens or None,
        )
        completion = None
        async for event in self._call_model(run, chat):
            if isinstance(event, Completion):
                completion = event
            else:
                yield event
        assert completion is not None
        if completion.usage:
            run.meter.observe(estimated, completion.usage.prompt_tokens)
        reply = HistoryMessage(
            role="assistant",
            content=completion.content,
            reasoning=completion.reasoning,
            tool_calls=completion.tool_calls,
            step=step,
        )
        if not completion.tool_calls:
            (stored,) = await self._append(run, f"step:{step}", (reply,))
            yield AssistantMessage(step, stored)
            raise _Stop(StopReason.END_TURN)

        checked = [run.toolbox.check(call) for call in completion.tool_calls]
        for item in checked:
            yield ToolCallEvent(step, item.call)
        outcomes, to_run, waiting = self._admit(run, checked)
        async for event in self._execute(run, to_run, outcomes, checked):
            yield event
        results = _tool_messages(step, checked, outcomes, ran={index for index, _ in to_run})
        edited = any(
            checked[i].call.name in MEMORY_EDITING_TOOLS and o.status is ToolStatus.OK
            for i, o in outcomes.items()
        )
        stored = await self._append(run, f"step:{step}", (reply, *results), reread=edited)
        yield AssistantMessage(step, stored[0])
        for message in stored[1:]:
            yield MessagePersisted(step, message)
        if waiting:
            for item in waiting:
                yield ApprovalRequested(step, item.call)
            raise _Stop(StopReason.APPROVAL_REQUIRED, _awaiting([item.call for item in waiting]))
        self._after_tools(run, checked, outcomes)
        yield run.usage()

    def _admit(
        self, run: _Run, checked: Sequence[CheckedCall]
    ) -> tuple[dict[int, ToolOutcome], list[tuple[int, CheckedCall]], list[CheckedCall]]:
        """Decide, in call order, which calls run now, which are refused, and which wait for approval."""
        outcomes: dict[int, ToolOutcome] = {}
        to_run: list[tuple[int, CheckedCall]] = []
        waiting: list[CheckedCall] = []
        for index, item in enumerate(checked):
            if not item.valid:
                outcomes[index] = ToolOutcome(status=ToolStatus.ERROR, content=f"error: {item.problem}")
                continue
            refusal = run.rules.refusal(item.call.name, previous=run.previous_tool, calls=run.calls)
            if refusal:
                outcomes[index] = ToolOutcome(status=ToolStatus.DENIED, content=refusal)
                continue
            run.calls[item.call.name] += 1
            run.previous_tool = item.call.name
            assert item.tool is not None
            if item.tool.requires_approval:
                waiting.append(item)
            else:
                to_run.append((index, item))
        return outcomes, to_run, waiting

    async def _execute(
        self,
        run: _Run,
        to_run: list[tuple[int, CheckedCall]],
        outcomes: dict[int, ToolOutcome],
        checked: Sequence[CheckedCall],
    ) -> AsyncIterator[LoopEvent]:
        """Report the refused calls, run the others, and collect every outcome into ``outcomes``."""
        for index, outcome in sorted(outcomes.items()):
            yield ToolReturnEvent(run.step, checked[index].call, outcome.status, outcome.content, 0.0)
        if not to_run:
            return
        started = time.monotonic()
        async for executed in self._tools.run_all(to_run, run.site):
            outcome = executed.outcome
            outcomes[executed.index] = outcome
            call = checked[executed.index].call
            yield ToolReturnEvent(run.step, call, outcome.status, outcome.content, outcome.seconds)
        run.tool_seconds += time.monotonic() - started

    def _after_tools(
        self, run: _Run, checked: Sequence[CheckedCall], outcomes: dict[int, ToolOutcome]
    ) -> None:
        """Stop the run when a terminal tool ran, or when the model keeps making invalid calls."""
        for index, item in enumerate(checked):
            if (
                outcomes.get(index)
                and outcomes[index].status is ToolStatus.OK
                and run.rules.is_terminal(item.call.name)
            ):
                raise _Stop(StopReason.TERMINAL_TOOL, f"{item.call.name} ended the run")
        if checked and all(not item.valid for item in checked):
            run.invalid_steps += 1
            if run.invalid_steps >= MAX_INVALID_STEPS:
                problems = "; ".join(item.problem for item in checked)
                raise _Stop(
                    StopReason.INVALID_TOOL_CALL,
                    f"the model made only invalid tool calls {MAX_INVALID_STEPS} steps in a row: {problems}",
                )
        else:
            run.invalid_steps = 0

    # -- the model -------------------------------------------------------------------------------

    async def _call_model(self, run: _Run, chat: ChatRequest) -> AsyncIterator[LoopEvent | Completion]:
        started = time.monotonic()
        completion: Completion | None = None
        try:
            async for event in run.model.stream(chat, deadline=run.request.deadline):
                if isinstance(event, LLMTextDelta):
                    yield AssistantDelta(run.step, event.text)
                elif isinstance(event, LLMReasoningDelta):
                    yield ReasoningDelta(run.step, event.text)
                elif isinstance(event, Completion):
                    completion = event
        except (LLMError, DeadlineExceeded) as exc:
            raise _Stop(StopReason.LLM_ERROR, exc.message) from None
        finally:
            run.llm_seconds += time.monotonic() - started
        if completion is None:
            raise _Stop(StopReason.LLM_ERROR, "the model's stream ended without a completion")
        if completion.usage:
            run.prompt_tokens += completion.usage.prompt_tokens
            run.completion_tokens += completion.usage.completion_tokens
        yield completion

    async def _summarise(self, run: _Run, tools) -> None:
        """Replace the oldest in-context messages by a summary, moving the eviction boundary in memory."""
        agent, context = run.agent, run.context
        fixed = run.meter.tokens((system_message(agent, context),), tools)
        if not run.budget.fits(fixed):
            raise _Stop(StopReason.CONTEXT_OVERFLOW, overflow_detail(fixed, run.budget))
        boundary = choose_eviction(
            context.messages,
            fixed_tokens=fixed,
            budget=run.budget,
            tokens_of=lambda message: run.meter.scale(history_tokens(message)),
        )
        if boundary is None:
            return
        await self._evict(run, [m for m in context.messages if m.seq <= boundary], boundary)

    async def _fold_left_out(self, run: _Run) -> None:
        """Summarise the messages the context read left out (its size cap) together with the older
        half of those it holds, and move the boundary past them: the prompt keeps a summary of
        everything it no longer shows, and this happens once per half a read, not every step."""
        context = run.context
        left_out = await self._memory.messages_between(
            run.agent.id,
            after_seq=context.boundary_seq,
            before_seq=context.messages[0].seq,
            limit=MAX_LEFT_OUT_FOLDED,
        )
        keep_from = len(context.messages) // 2
        # The kept part starts with a message that is not a tool result, so no call is split.
        while keep_from < len(context.messages) - 1 and context.messages[keep_from].role == "tool":
            keep_from += 1
        boundary = context.messages[keep_from].seq - 1
        await self._evict(run, [*left_out, *context.messages[:keep_from]], boundary)

    async def _evict(self, run: _Run, evicted: Sequence[HistoryMessage], boundary: int) -> None:
        summary = run.context.summary
        # Folded in pieces that each fit the model's window with the summary so far: a large
        # eviction (a long imported history, a smaller model) must not overflow the summary call.
        for piece in _pieces(evicted, run.budget.window - run.budget.reserve_output - SUMMARY_PROMPT_TOKENS):
            summary = await self._summary(run, summary, piece)
        await self._memory.set_eviction_boundary(
            run.agent.id, epoch=run.request.epoch, boundary_seq=boundary, summary=summary
        )
        run.context = replace(
            run.context,
            summary=summary,
            messages=tuple(m for m in run.context.messages if m.seq > boundary),
            boundary_seq=boundary,
        )

    async def _summary(self, run: _Run, previous: str, evicted: Sequence[HistoryMessage]) -> str:
        request = summary_request(
            model=run.agent.model.model,
            previous_summary=previous,
            evicted=evicted,
            max_tokens=run.budget.reserve_output or None,
        )
        started = time.monotonic()
        try:
            summary = await run.model.complete(request, deadline=run.request.deadline)
        except (LLMError, DeadlineExceeded) as exc:
            raise _Stop(StopReason.LLM_ERROR, f"summarising the context failed: {exc.message}") from None
        finally:
            run.llm_seconds += time.monotonic() - started
        if summary.usage:
            run.prompt_tokens += summary.usage.prompt_tokens
            run.completion_tokens += summary.usage.completion_tokens
        # A provider that ignores max_tokens must not hand back a summary bigger than the context
        # it replaces.
        return summary.content[: run.budget.reserve_output * 4]

    def _model(self, agent: Agent) -> ChatModel:
        try:
            return self._providers.get(agent.model.provider)
        except InvalidArgument:
            raise _Stop(
                StopReason.ERROR,
                f"agent {agent.id} uses provider {agent.model.provider!r}, which this agent service "
                f"does not have configured (it has: {', '.join(self._providers.names)})",
            ) from None

    # -- memory ----------------------------------------------------------------------------------

    async def _append(
        self, run: _Run, part: str, messages: Sequence[HistoryMessage], *, reread: bool = False
    ) -> list[HistoryMessage]:
        """Append one step's messages in one fenced transaction, keyed by run and step so a retry
        stores once. ``reread`` also reads the context back (core memory changed in this step)."""
        request = run.request
        last = messages[-1]
        messages = (*messages[:-1], replace(last, metadata={**last.metadata, "usage": run.take_usage()}))
        arguments = dict(
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=f"{request.run_id}:{part}",
            messages=messages,
        )
        if reread:
            stored, run.context = await self._memory.append_then_read(run.agent.id, **arguments)
            return stored
        stored = await self._memory.append(run.agent.id, **arguments)
        run.remember(stored)
        return stored


def _pieces(messages: Sequence[HistoryMessage], budget: int) -> list[list[HistoryMessage]]:
    """Consecutive runs of messages whose rendering for the summariser fits ``budget`` tokens, less
    what the running summary may take (each message is shown cut to a bounded length)."""
    limit = max(budget // 2, 500)
    pieces: list[list[HistoryMessage]] = [[]]
    size = 0
    for message in messages:
        cost = min(history_tokens(message), SUMMARY_MESSAGE_TOKENS)
        if pieces[-1] and size + cost > limit:
            pieces.append([])
            size = 0
        pieces[-1].append(message)
        size += cost
    return pieces


async def _together(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Await both at once; the first failure cancels the other and is raised as it is."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def _tool_messages(
    step: int, checked: Sequence[CheckedCall], outcomes: dict[int, ToolOutcome], *, ran: set[int]
) -> list[HistoryMessage]:
    """One tool message per decided call, in the order the model made the calls; ``ran`` marks the
    calls that executed (a continuing run rebuilds its tool-rule counts from it)."""
    return [
        HistoryMessage(
            role="tool",
            content=outcomes[index].content,
            tool_call_id=item.call.id,
            name=item.call.name,
            step=step,
            metadata={"status": outcomes[index].status.name.lower(), "ran": index in ran},
        )
        for index, item in enumerate(checked)
        if index in outcomes
    ]


def _check_decisions(decisions: dict[str, Decision], calls: Sequence) -> None:
    waiting = {call.id for call in calls}
    unknown = sorted(set(decisions) - waiting)
    missing = sorted(waiting - set(decisions))
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"no call awaits approval with id {', '.join(unknown)}")
        if missing:
            problems.append(f"decide every waiting call; missing: {', '.join(missing)}")
        raise InvalidArgument.field("approvals", "; ".join(problems))


def _awaiting(calls: Sequence) -> str:
    return "waiting for approval of " + ", ".join(f"{call.name} ({call.id})" for call in calls)
