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
from services.common.errors import DeadlineExceeded


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
        context = await self._memory.context(agent.id)
        model = self._providers.get(agent.model.provider)
        chat = ChatRequest(
            model=agent.model.model,
            messages=chat_messages(agent, context, request.input),
            temperature=agent.model.temperature,
            max_tokens=agent.model.max_output_tokens or None,
        )
        started = time.monotonic()
        completion: Completion | None = None
        failure: str | None = None
        try:
            async for event in model.stream(chat, deadline=request.deadline):
                if isinstance(event, LLMTextDelta):
                    yield AssistantDelta(step, event.text)
                elif isinstance(event, LLMReasoningDelta):
                    yield ReasoningDelta(step, event.text)
                elif isinstance(event, Completion):
                    completion = event
        except (LLMError, DeadlineExceeded) as exc:
            failure = exc.message
        if failure is not None or completion is None:
            # The input was accepted: it stays in the history even though the model failed.
            for message in await self._persist(request, step, ()):
                yield MessagePersisted(step, message)
            yield Stopped(
                step, StopReason.LLM_ERROR, failure or "the model's stream ended without a completion"
            )
            return
        llm_seconds = time.monotonic() - started

        reply = HistoryMessage(
            role="assistant", content=completion.content, reasoning=completion.reasoning, step=step
        )
        stored = await self._persist(request, step, (reply,))
        for message in stored[:-1]:
            yield MessagePersisted(step, message)
        yield AssistantMessage(step, stored[-1])
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

    async def _persist(
        self, request: RunRequest, step: int, produced: Sequence[HistoryMessage]
    ) -> list[HistoryMessage]:
        """Append the run's input (first step only) and this step's messages in one transaction."""
        pending = [*(request.input if step == 1 else ()), *produced]
        return await self._memory.append(
            request.agent.id,
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=f"{request.run_id}:step:{step}",
            messages=pending,
        )
