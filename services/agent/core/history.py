"""Messages as the agent loop sees them, and the memory it reads them from and writes them to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.agent.llm import ToolCall


@dataclass(frozen=True, kw_only=True)
class HistoryMessage:
    """A message of the conversation; ``seq`` and ``id`` are 0/"" until memory stored it."""

    role: str
    """``system``, ``user``, ``assistant`` or ``tool`` (the LLM layer's vocabulary)."""
    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    step: int = 0
    metadata: dict = field(default_factory=dict)
    seq: int = 0
    id: str = ""
    run_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ContextSnapshot:
    """The agent's memory as one step needs it, read in one round trip."""

    compiled_memory: str
    summary: str
    messages: tuple[HistoryMessage, ...]
    epoch: int
    boundary_seq: int = 0
    """Seq of the last evicted message (0: none)."""

    @property
    def skipped(self) -> bool:
        """Whether messages after the boundary were left out of this read (the read's size cap):
        they are no longer in the prompt and not yet in the summary either."""
        return bool(self.messages) and self.messages[0].seq > self.boundary_seq + 1


class Memory(Protocol):
    """The memory service, as the loop uses it."""

    async def append(
        self,
        agent_id: str,
        *,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        messages: Sequence[HistoryMessage],
    ) -> list[HistoryMessage]: ...

    async def append_then_read(
        self,
        agent_id: str,
        *,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        messages: Sequence[HistoryMessage],
    ) -> tuple[list[HistoryMessage], ContextSnapshot]:
        """As :meth:`append`, then the context including those messages, in one round trip."""
        ...

    async def read(self, agent_id: str, *, epoch: int = 0) -> ContextSnapshot:
        """The context without appending anything (a run continuing after approval), fenced by
        ``epoch`` when it is not 0: no write under an older one succeeds after it."""
        ...

    async def messages_between(
        self, agent_id: str, *, after_seq: int, before_seq: int, limit: int
    ) -> list[HistoryMessage]:
        """The newest ``limit`` messages with ``after_seq < seq < before_seq``, in seq order."""
        ...

    async def set_eviction_boundary(
        self, agent_id: str, *, epoch: int, boundary_seq: int, summary: str
    ) -> None:
        """Evict the messages up to ``boundary_seq`` from the context, replaced by ``summary``."""
        ...


def unanswered_calls(
    messages: Sequence[HistoryMessage],
) -> tuple[HistoryMessage | None, tuple[ToolCall, ...]]:
    """The calls of the newest message, when it is an assistant message (or its results) whose calls
    some tool message has not answered yet.

    Only the tail counts: once a user or system message follows, the unanswered calls were
    overtaken and can no longer be approved (the model reads them as not run).
    """
    answered: set[str] = set()
    for message in reversed(messages):
        if message.role == "tool":
            answered.add(message.tool_call_id)
        elif message.role == "assistant" and message.tool_calls:
            return message, tuple(c for c in message.tool_calls if c.id not in answered)
        else:
            return None, ()
    return None, ()
