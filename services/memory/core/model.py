"""The memory service's domain objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from services.memory.core.blocks import Block


class Role(IntEnum):
    """Who wrote a message; the numbers are those of ``common.v1.MessageRole``."""

    SYSTEM = 1
    USER = 2
    ASSISTANT = 3
    TOOL = 4


@dataclass(frozen=True)
class ToolCallRecord:
    """A tool call the model made: its id, the tool's name and the JSON arguments as sent."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, kw_only=True)
class NewMessage:
    """A message to append, before it has a sequence number."""

    role: Role
    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCallRecord, ...] = ()
    tool_call_id: str = ""
    name: str = ""
    step: int = 0
    metadata: dict = field(default_factory=dict)
    created_at: datetime | None = None
    """The time of a message brought in from elsewhere; None stamps it when stored."""


@dataclass(frozen=True, kw_only=True)
class StoredMessage(NewMessage):
    """A persisted message, numbered by its per-agent sequence."""

    id: str
    agent_id: str
    seq: int
    run_id: str
    created_at: datetime


@dataclass(frozen=True)
class AppendResult:
    """The stored messages of one append; ``deduplicated`` when a retry was answered from the first."""

    messages: tuple[StoredMessage, ...]
    deduplicated: bool = False


@dataclass(frozen=True, kw_only=True)
class AgentContext:
    """What the agent loop needs for one step, read in one round trip."""

    blocks: tuple[Block, ...] = ()
    summary: str
    messages: tuple[StoredMessage, ...]
    boundary_seq: int
    epoch: int
    message_count: int
    passage_count: int = 0
    archive_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FoundMessage:
    """A message a recall search found, with its full-text rank."""

    message: StoredMessage
    score: float
