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
