"""The provider-neutral vocabulary of the LLM layer: messages, requests, stream events, the model protocol.

Plain frozen dataclasses with no HTTP in sight, so the agent loop and its tests speak this language and
never a provider's wire format.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeAlias

from services.common.errors import AgentSuiteError


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """One function call the model asked for."""

    id: str
    """Provider-assigned id; the tool result message quotes it back in ``tool_call_id``."""
    name: str
    arguments: str
    """Raw JSON text exactly as the model produced it; it may be invalid, and the caller decides."""


@dataclass(frozen=True, kw_only=True)
class ChatMessage:
    """One message of the conversation sent to the model."""

    role: str
    """``"system"``, ``"user"``, ``"assistant"`` or ``"tool"``."""
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    """Only on assistant messages that called tools."""
    tool_call_id: str | None = None
    """Only on tool messages: the call this message answers."""
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A tool the model may call, described by an OpenAI function-calling JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @cached_property
    def schema_json(self) -> str:
        """The function definition as JSON, made once per spec (token estimates read it every step)."""
        schema = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return json.dumps(schema, ensure_ascii=False, default=str)


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    """Everything one model call needs; providers translate it to their wire format."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    """``None`` leaves the provider's default."""
    max_tokens: int | None = None
    """``None`` leaves the provider's default."""
    parallel_tool_calls: bool = True


@dataclass(frozen=True, kw_only=True)
class TokenUsage:
    """Tokens billed for one call, as the provider reported them (or estimated offline)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, kw_only=True)
class TextDelta:
    """A piece of the assistant's visible answer."""

    text: str


@dataclass(frozen=True, kw_only=True)
class ReasoningDelta:
    """A piece of the model's reasoning (``reasoning_content``/``reasoning``), shown apart from the answer."""

    text: str


@dataclass(frozen=True, kw_only=True)
class ToolCallStarted:
    """The model began a tool call; sent once per call as soon as its name is known."""

    index: int
    id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class Completion:
    """The assembled result of one call; always the last event of a stream."""

    content: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    """In the order of the provider's tool-call indices."""
    usage: TokenUsage | None
    """``None`` when the provider did not report usage."""
    finish_reason: str | None


LLMEvent: TypeAlias = TextDelta | ReasoningDelta | ToolCallStarted | Completion


class LLMError(AgentSuiteError):
    """A provider call failed for good (after any retries); the agent loop stops the run with LLM_ERROR.

    Messages never contain the API key: they are built from status codes and the provider's own error
    text with the key redacted.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ):
        metadata = {"status": str(status)} if status is not None else {}
        super().__init__(message, reason="LLM_ERROR", metadata=metadata)
        # HTTP status of the provider's answer; None for transport or protocol failures.
        self.status = status
        # Whether the same call might succeed later (429, 5xx, network): worth retrying higher up.
        self.retryable = retryable
        # Seconds the provider asked us to wait (Retry-After), when it said so.
        self.retry_after = retry_after


class ChatModel(Protocol):
    """What the agent loop needs from a model provider."""

    def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[LLMEvent]:
        """Stream the answer; the last event is always a :class:`Completion`.

        ``deadline`` is an absolute ``time.monotonic()`` value. Closing the iterator early abandons the
        call and releases its connection.
        """
        ...

    async def complete(self, request: ChatRequest, *, deadline: float | None = None) -> Completion:
        """The whole answer at once, for callers that do not show progress (summarisation)."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources."""
        ...
