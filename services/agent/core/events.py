"""What the agent loop reports while it runs; the API layer turns these into ``AgentEvent``s."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from services.agent.core.history import HistoryMessage
from services.agent.core.tools import ToolStatus
from services.agent.llm import ToolCall


class StopReason(IntEnum):
    """Why a run stopped; the numbers are those of ``common.v1.StopReason``."""

    END_TURN = 1
    TERMINAL_TOOL = 2
    MAX_STEPS = 3
    APPROVAL_REQUIRED = 4
    CANCELLED = 5
    CONTEXT_OVERFLOW = 6
    LLM_ERROR = 7
    INVALID_TOOL_CALL = 8
    ERROR = 9


@dataclass(frozen=True)
class RunUsage:
    """Tokens and time spent by a run so far."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    llm_seconds: float = 0.0
    tool_seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class AssistantDelta:
    step: int
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    step: int
    text: str


@dataclass(frozen=True)
class MessagePersisted:
    """A message of this run is now in memory, with its sequence number."""

    step: int
    message: HistoryMessage


@dataclass(frozen=True)
class AssistantMessage:
    """The model's complete answer of one step, as persisted."""

    step: int
    message: HistoryMessage


@dataclass(frozen=True)
class ToolCallEvent:
    """A tool call the model made, about to be executed (or refused)."""

    step: int
    call: ToolCall


@dataclass(frozen=True)
class ToolReturnEvent:
    """What a tool call returned, as the model will read it."""

    step: int
    call: ToolCall
    status: ToolStatus
    content: str
    seconds: float


@dataclass(frozen=True)
class ApprovalRequested:
    """A call that waits for a human decision; the run stops after its step."""

    step: int
    call: ToolCall


@dataclass(frozen=True)
class UsageReport:
    """Usage of the run so far (cumulative), sent after each step."""

    step: int
    usage: RunUsage


@dataclass(frozen=True)
class Stopped:
    step: int
    reason: StopReason
    detail: str = ""


LoopEvent: TypeAlias = (
    AssistantDelta
    | ReasoningDelta
    | MessagePersisted
    | AssistantMessage
    | ToolCallEvent
    | ToolReturnEvent
    | ApprovalRequested
    | UsageReport
    | Stopped
)
