"""The agent loop: context in, model called, messages persisted, events out.

This is the walking skeleton's loop: one model call per input, no tools yet. It already has the
shape the full loop keeps: one context read, a streamed model call, one fenced append per step with
an idempotency key derived from the run and the step, and a distinct stop reason for every ending.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from services.agent.core.agents import Agent
from services.agent.core.events import (
    AssistantDelta,
    AssistantMessage,
    LoopEvent,
    MessagePersisted,
    ReasoningDelta,
    RunUsage,
    Stopped,
    StopReason,
    UsageReport,
)
from services.agent.core.history import HistoryMessage, Memory
from services.agent.core.prompt import chat_messages
from services.agent.llm import ChatRequest, Completion, LLMError, ProviderRegistry
from services.agent.llm import ReasoningDelta as LLMReasoningDelta
from services.agent.llm import TextDelta as LLMTextDelta
from services.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One run of an agent, as the gateway asked for it."""

    agent: Agent
    run_id: str
    epoch: int
    input: tuple[HistoryMessage, ...]
    deadline: float | None = None
    """Absolute ``time.monotonic()`` by which the run must end."""


class AgentLoop:
    """Runs agents; holds only its collaborators, so one instance serves every run concurrently."""

    def __init__(self, *, memory: Memory, providers: ProviderRegistry):
        self._memory = memory
        self._providers = providers

    async def run(self, request: RunRequest) -> AsyncIterator[LoopEvent]:
        agent, step = request.agent, 1
        model = self._model(agent)
        # Accepted input is stored before the model is called: a deadline, a cancel or a crash
        # during the model's answer must not lose what the user said. The same round trip reads
        # the context, which then ends with that input.
        stored_input, context = await self._memory.append_then_read(
            agent.id,
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=f"{request.run_id}:input",
            messages=request.input,
        )
        for message in stored_input:
            yield MessagePersisted(step, message)
        chat = ChatRequest(
            model=agent.model.model,
            messages=chat_messages(agent, context),
            temperature=agent.model.temperature,
            max_tokens=agent.model.max_output_tokens or None,
        )
        started = time.monotonic()
        completion: Completion | None = None
        try:
            async for event in model.stream(chat, deadline=request.deadline):
                if isinstance(event, LLMTextDelta):
                    yield AssistantDelta(step, event.text)
                elif isinstance(event, LLMReasoningDelta):
                    yield ReasoningDelta(step, event.text)
                elif isinstance(event, Completion):
                    completion = event
        except (LLMError, DeadlineExceeded) as exc:
            yield Stopped(step, StopReason.LLM_ERROR, exc.message)
            return
        if completion is None:
            yield Stopped(step, StopReason.LLM_ERROR, "the model's stream ended without a completion")
            return
        llm_seconds = time.monotonic() - started

        reply = HistoryMessage(
            role="assistant", content=completion.content, reasoning=completion.reasoning, step=step
        )
        (stored,) = await self._append(request, f"step:{step}", (reply,))
        yield AssistantMessage(step, stored)
        usage = completion.usage
        yield UsageReport(
            step,
            RunUsage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                steps=step,
                llm_seconds=llm_seconds,
            ),
        )
        yield Stopped(step, StopReason.END_TURN)

    def _model(self, agent: Agent):
        try:
            return self._providers.get(agent.model.provider)
        except InvalidArgument:
            raise FailedPrecondition(
                f"agent {agent.id} uses provider {agent.model.provider!r}, which this agent service "
                f"does not have configured (it has: {', '.join(self._providers.names)})",
                reason="PROVIDER_NOT_CONFIGURED",
            ) from None

    async def _append(
        self, request: RunRequest, part: str, messages: Sequence[HistoryMessage]
    ) -> list[HistoryMessage]:
        """Append one step's messages in one transaction, keyed by run and step so a retry stores once."""
        return await self._memory.append(
            request.agent.id,
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=f"{request.run_id}:{part}",
            messages=messages,
        )
