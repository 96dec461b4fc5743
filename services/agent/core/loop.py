"""The agent loop: context in, model called, tools executed, each step persisted, events out.

One run is a sequence of steps. A step builds the prompt from the context (summarising the oldest
messages first when the context nears the model's window), streams the model's answer, stores it
with its tool calls (a fenced append keyed by run and step), executes the calls, each effect keyed
by run, step and call, and stores their results in a second append. The loop goes on while the
model calls tools and stops with one distinct reason for every ending.

A run can also continue: after an approval (the calls that waited are decided, then the loop goes
on), or after a crash of whoever drove it (the run's messages already in memory say where it was:
stored calls without results are carried out again under the same keys, so their effects apply
once, and a repeated run never answers twice).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import replace
from typing import TypeVar

from services.agent.core.agents import Agent, AgentDirectory, ModelCatalog
from services.agent.core.builtin_tools import BUILTIN_TOOLS
from services.agent.core.context_window import ContextBudget
from services.agent.core.events import (
    ApprovalRequested,
    AssistantDelta,
    AssistantMessage,
    LoopEvent,
    MessagePersisted,
    ReasoningDelta,
    Stopped,
    StopReason,
    ToolCallEvent,
    ToolReturnEvent,
)
from services.agent.core.history import HistoryMessage, Memory, unanswered_calls
from services.agent.core.model_call_observation import ModelCallObservation
from services.agent.core.prompt import chat_message, chat_messages
from services.agent.core.run_state import RunRequest, RunState, RunStop
from services.agent.core.summarising import ContextKeeper
from services.agent.core.tool_calls import ToolExecutor
from services.agent.core.tool_rules import RunRules
from services.agent.core.toolbox import CheckedCall, CustomTools, Toolbox
from services.agent.core.tools import ToolOutcome, ToolStatus
from services.agent.llm import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    Completion,
    LLMError,
    ProviderRegistry,
    ToolCall,
)
from services.agent.llm import ReasoningDelta as LLMReasoningDelta
from services.agent.llm import TextDelta as LLMTextDelta
from services.common.approvals import check_decisions
from services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument
from services.common.stored_cache import StoredMessageCache

A = TypeVar("A")
B = TypeVar("B")

MAX_INVALID_STEPS = 3
"""Steps in a row whose every call was invalid before the run stops with INVALID_TOOL_CALL."""
MEMORY_EDITING_TOOLS = frozenset(
    {"core_memory_append", "core_memory_replace", "core_memory_insert", "core_memory_rewrite"}
)


class AgentLoop:
    """Runs agents; holds only its collaborators, so one instance serves every run concurrently."""

    def __init__(
        self,
        *,
        agents: AgentDirectory,
        memory: Memory,
        providers: ProviderRegistry,
        models: ModelCatalog,
        tools: ToolExecutor,
        custom: CustomTools,
    ):
        self._agents = agents
        self._memory = memory
        self._keeper = ContextKeeper(memory)
        self._providers = providers
        self._models = models
        self._tools = tools
        self._custom = custom
        # Every step sends the whole context again; each stored message is converted once.
        self._chat: StoredMessageCache[HistoryMessage, ChatMessage] = StoredMessageCache(chat_message)

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
            # Fenced: the first memory call of a new lease holder fences every older one out.
            memory_read = self._memory.read(request.agent_id, epoch=request.epoch)
        agent, loaded = await _together(self._agents.get(request.agent_id), memory_read)
        stored, context = loaded if request.input else ([], loaded)
        for message in stored:
            yield MessagePersisted(1, message)
        try:
            run = await self._start(request, agent)
        except RunStop as stop:
            yield Stopped(1, stop.reason, stop.detail)
            return
        run.context = context
        try:
            async for event in self._resume(run):
                yield event
            while True:
                if run.step >= run.step_limit:
                    raise RunStop(
                        StopReason.MAX_STEPS, f"the run reached its limit of {run.step_limit} steps"
                    )
                run.step += 1
                async for event in self._step(run):
                    yield event
        except RunStop as stop:
            yield run.usage()
            yield Stopped(run.step, stop.reason, stop.detail)

    async def _start(self, request: RunRequest, agent: Agent) -> RunState:
        # Resolved at every run: an agent that names no model follows the suite's current default.
        agent = replace(agent, model=self._models.resolve(agent.model))
        custom = await self._custom.definitions(agent.tool_ids) if agent.tool_ids else []
        return RunState(
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

    async def _resume(self, run: RunState) -> AsyncIterator[LoopEvent]:
        """Pick the run up where its messages in memory left it, applying approvals if given."""
        request = run.request
        run_id = request.run_id
        mine = [m for m in run.context.messages if m.run_id == run_id]
        run.step = max((m.step for m in mine), default=0)
        run.restore_usage(mine)
        for message in mine:
            # Only calls that ran count: an invalid call or one a rule or a human refused did not.
            if message.role == "tool" and message.metadata.get("ran"):
                run.calls[message.name] += 1
                run.previous_tool = message.name
        for event in _told_again(mine):
            yield event
        waiting, calls = unanswered_calls(run.context.messages)
        if waiting is None or waiting.run_id != request.run_id or not calls:
            if request.approvals:
                raise FailedPrecondition(
                    f"no tool calls of run {request.run_id} await approval", reason="NOTHING_TO_APPROVE"
                )
            if mine and mine[-1].step > 0:
                if mine[-1].role == "assistant":
                    # Answered before (the caller lost the answer): the same answer, not a new one.
                    raise RunStop(StopReason.END_TURN)
                self._stop_if_terminal_ran(run, mine)
            return
        if not request.approvals:
            # Calls stored before the try that made them ended: they are carried out now, with the
            # same effect keys, so an effect that try applied is not applied again. Calls waiting
            # for approval are announced again.
            async for event in self._answer(run, calls):
                yield event
            return
        check_decisions((call.id for call in calls), [d.tool_call_id for d in request.approvals])
        decisions = {d.tool_call_id: d for d in request.approvals}
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
    def _stop_if_terminal_ran(run: RunState, mine: Sequence[HistoryMessage]) -> None:
        """Stop a continuing run whose last stored step already ran a terminal tool."""
        for message in mine:
            if (
                message.role == "tool"
                and message.step == run.step
                and message.metadata.get("ran")
                and message.metadata.get("status") == "ok"
                and run.rules.is_terminal(message.name)
            ):
                raise RunStop(StopReason.TERMINAL_TOOL, f"{message.name} ended the run")

    # -- one step --------------------------------------------------------------------------------

    async def _step(self, run: RunState) -> AsyncIterator[LoopEvent]:
        step, agent = run.step, run.agent
        tools = run.toolbox.specs(
            only=run.rules.allowed_next(previous=run.previous_tool, calls=run.calls),
            without=run.rules.exhausted(run.calls),
        )
        if run.context.skipped:
            await self._keeper.fold_left_out(run)
        messages = chat_messages(agent, run.context, self._chat_message)
        estimated = run.meter.tokens(messages, tools)
        if run.budget.over_threshold(estimated):
            await self._keeper.summarise(run, tools)
            messages = chat_messages(agent, run.context, self._chat_message)
            estimated = run.meter.tokens(messages, tools)
        if not run.budget.fits(estimated):
            raise RunStop(
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
            metadata={"model": f"{agent.model.provider}/{agent.model.model}"},
        )
        # The reply is stored before any of its calls runs. A step executed again (a retry, a
        # takeover) then finds the calls in memory and carries them out with the same ids, so the
        # same effect keys, instead of asking the model again and doing their effects twice. If an
        # earlier try stored its reply first, that reply is the step's.
        (stored,) = await self._append(run, f"step:{step}", (reply,))
        yield AssistantMessage(step, stored)
        if not stored.tool_calls:
            raise RunStop(StopReason.END_TURN)
        async for event in self._answer(run, stored.tool_calls):
            yield event

    async def _answer(self, run: RunState, calls: Sequence[ToolCall]) -> AsyncIterator[LoopEvent]:
        """Carry out the stored calls of the current step: run the admitted ones (each effect keyed
        by run, step and call), store their results in one append, and stop for approval if any
        call needs one."""
        step = run.step
        checked = [run.toolbox.check(call) for call in calls]
        for item in checked:
            yield ToolCallEvent(step, item.call)
        outcomes, to_run, waiting = self._admit(run, checked)
        async for event in self._execute(run, to_run, outcomes, checked):
            yield event
        if outcomes:
            results = _tool_messages(step, checked, outcomes, ran={index for index, _ in to_run})
            edited = any(
                checked[i].call.name in MEMORY_EDITING_TOOLS and o.status is ToolStatus.OK
                for i, o in outcomes.items()
            )
            for message in await self._append(run, f"results:{step}", results, reread=edited):
                yield MessagePersisted(step, message)
        if waiting:
            for item in waiting:
                yield ApprovalRequested(step, item.call)
            raise RunStop(StopReason.APPROVAL_REQUIRED, _awaiting([item.call for item in waiting]))
        self._after_tools(run, checked, outcomes)
        yield run.usage()

    def _admit(
        self, run: RunState, checked: Sequence[CheckedCall]
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
        run: RunState,
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
        self, run: RunState, checked: Sequence[CheckedCall], outcomes: dict[int, ToolOutcome]
    ) -> None:
        """Stop the run when a terminal tool ran, or when the model keeps making invalid calls."""
        for index, item in enumerate(checked):
            if (
                outcomes.get(index)
                and outcomes[index].status is ToolStatus.OK
                and run.rules.is_terminal(item.call.name)
            ):
                raise RunStop(StopReason.TERMINAL_TOOL, f"{item.call.name} ended the run")
        if checked and all(not item.valid for item in checked):
            run.invalid_steps += 1
            if run.invalid_steps >= MAX_INVALID_STEPS:
                problems = "; ".join(item.problem for item in checked)
                raise RunStop(
                    StopReason.INVALID_TOOL_CALL,
                    f"the model made only invalid tool calls {MAX_INVALID_STEPS} steps in a row: {problems}",
                )
        else:
            run.invalid_steps = 0

    # -- the model -------------------------------------------------------------------------------

    async def _call_model(self, run: RunState, chat: ChatRequest) -> AsyncIterator[LoopEvent | Completion]:
        started = time.monotonic()
        completion: Completion | None = None
        observed, failure = ModelCallObservation(run.agent.model.provider, chat), None
        try:
            async for event in run.model.stream(chat, deadline=run.request.deadline):
                if isinstance(event, LLMTextDelta):
                    observed.first_token()
                    yield AssistantDelta(run.step, event.text)
                elif isinstance(event, LLMReasoningDelta):
                    observed.first_token()
                    yield ReasoningDelta(run.step, event.text)
                elif isinstance(event, Completion):
                    completion = event
                else:
                    observed.first_token()
        except (LLMError, DeadlineExceeded) as exc:
            failure = exc
            raise RunStop(StopReason.LLM_ERROR, exc.message) from None
        except BaseException as exc:
            failure = exc
            raise
        finally:
            run.llm_seconds += time.monotonic() - started
            observed.close(completion, failure)
        if completion is None:
            raise RunStop(StopReason.LLM_ERROR, "the model's stream ended without a completion")
        if completion.usage:
            run.prompt_tokens += completion.usage.prompt_tokens
            run.completion_tokens += completion.usage.completion_tokens
        yield completion

    def _chat_message(self, message: HistoryMessage) -> ChatMessage:
        return self._chat.get(message.id, message, len(message.content))

    def _model(self, agent: Agent) -> ChatModel:
        try:
            return self._providers.get(agent.model.provider)
        except InvalidArgument:
            raise RunStop(
                StopReason.ERROR,
                f"agent {agent.id} uses provider {agent.model.provider!r}, which this agent service "
                f"does not have configured (it has: {', '.join(self._providers.names)})",
            ) from None

    # -- memory ----------------------------------------------------------------------------------

    async def _append(
        self, run: RunState, part: str, messages: Sequence[HistoryMessage], *, reread: bool = False
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


async def _together(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Await both at once; the first failure cancels the other and is raised as it is."""
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def _told_again(mine: Sequence[HistoryMessage]) -> list[LoopEvent]:
    """The events of the messages an earlier try of the run stored after its input: a reader told
    only part of them (its gateway died before storing their events) learns the rest; the gateway
    drops what its readers already have, by message and call id."""
    events: list[LoopEvent] = []
    for message in mine:
        if message.role == "assistant":
            events.append(AssistantMessage(message.step, message))
            events.extend(ToolCallEvent(message.step, call) for call in message.tool_calls)
        elif message.role == "tool":
            call = ToolCall(id=message.tool_call_id, name=message.name, arguments="")
            status = _STATUS_BY_NAME.get(message.metadata.get("status", ""), ToolStatus.ERROR)
            events.append(ToolReturnEvent(message.step, call, status, message.content, 0.0))
            events.append(MessagePersisted(message.step, message))
    return events


_STATUS_BY_NAME = {status.name.lower(): status for status in ToolStatus}


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


def _awaiting(calls: Sequence) -> str:
    return "waiting for approval of " + ", ".join(f"{call.name} ({call.id})" for call in calls)
