"""Keeping a run's context within the model's window: the oldest messages are summarised by the
model and the eviction boundary moves through memory, never between a tool call and its result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from services.agent.core.context_window import (
    choose_eviction,
    history_tokens,
    overflow_detail,
    summary_request,
)
from services.agent.core.events import StopReason
from services.agent.core.history import HistoryMessage, Memory
from services.agent.core.prompt import system_message
from services.agent.core.run_state import RunState, RunStop
from services.agent.llm import LLMError
from services.common.errors import DeadlineExceeded

MAX_LEFT_OUT_FOLDED = 2_000
"""Most messages left out of a capped context read that are folded into the summary at once (the
newest; older ones stay in recall)."""
SUMMARY_PROMPT_TOKENS = 1_000
"""Room for the summariser's instructions in a summary request."""
SUMMARY_MESSAGE_TOKENS = 700
"""Most tokens one evicted message takes in a summary request (it is shown cut to 2,000 characters)."""


class ContextKeeper:
    """Summarises and evicts for any run; holds only memory."""

    def __init__(self, memory: Memory):
        self._memory = memory

    async def summarise(self, run: RunState, tools) -> None:
        """Replace the oldest in-context messages by a summary, moving the eviction boundary in memory."""
        agent, context = run.agent, run.context
        fixed = run.meter.tokens((system_message(agent, context),), tools)
        if not run.budget.fits(fixed):
            raise RunStop(StopReason.CONTEXT_OVERFLOW, overflow_detail(fixed, run.budget))
        boundary = choose_eviction(
            context.messages,
            fixed_tokens=fixed,
            budget=run.budget,
            tokens_of=lambda message: run.meter.scale(history_tokens(message)),
        )
        if boundary is None:
            return
        await self._evict(run, [m for m in context.messages if m.seq <= boundary], boundary)

    async def fold_left_out(self, run: RunState) -> None:
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

    async def _evict(self, run: RunState, evicted: Sequence[HistoryMessage], boundary: int) -> None:
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

    async def _summary(self, run: RunState, previous: str, evicted: Sequence[HistoryMessage]) -> str:
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
            raise RunStop(StopReason.LLM_ERROR, f"summarising the context failed: {exc.message}") from None
        finally:
            run.llm_seconds += time.monotonic() - started
        if summary.usage:
            run.prompt_tokens += summary.usage.prompt_tokens
            run.completion_tokens += summary.usage.completion_tokens
        # A provider that ignores max_tokens must not hand back a summary bigger than the context
        # it replaces.
        return summary.content[: run.budget.reserve_output * 4]


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
