"""Typed events of a run, as ``StreamMessage``, ``WatchRun`` and ``Converse`` stream them.

Each ``RunEvent`` of the contract becomes one frozen dataclass, so a reader matches on classes
instead of ``WhichOneof`` strings:

    async for event in client.messages.stream(agent_id, "hello"):
        match event:
            case AssistantDelta(text=text):
                print(text, end="")
            case RunFinished(run=run):
                print(run.stop_reason)

Every event has ``run_id``, ``seq`` (step-level events count from 1 without gaps; deltas and
heartbeats repeat the seq before them, which is where a resume starts), ``step``, ``send_id``
(``Converse`` only: the id of the send that caused it) and ``raw`` (the ``RunEvent`` as received).
Payloads are the contract's generated messages (``Message``, ``ToolCall``, ``Run``...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentsuite.client.errors import AgentSuiteError, error_from_status
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2

__all__ = [
    "ApprovalRequested",
    "AssistantDelta",
    "AssistantMessage",
    "Event",
    "Heartbeat",
    "MessagePersisted",
    "Pong",
    "ReasoningDelta",
    "RunError",
    "RunFinished",
    "RunQueued",
    "RunRetried",
    "RunStarted",
    "ToolCalled",
    "ToolReturned",
    "UsageUpdated",
    "event_from_proto",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries."""

    run_id: str = ""
    """Id of the run."""
    seq: int = 0
    """The event's seq (see the module's docstring); resume after the last one seen."""
    step: int = 0
    """Step of the run; 0 outside steps."""
    send_id: str = ""
    """In ``Converse``: the id of the send (or approval) whose run this event belongs to."""
    raw: gateway_pb2.RunEvent | None = field(default=None, repr=False, compare=False)
    """The event as received."""

    @property
    def step_level(self) -> bool:
        """True when the event is stored and replayed on resume (every event but text deltas,
        heartbeats and pongs)."""
        return not isinstance(self, ReasoningDelta | AssistantDelta | Heartbeat | Pong)


@dataclass(frozen=True, kw_only=True)
class RunQueued(Event):
    """The run was accepted and waits in the agent's lane."""

    position: int = 0
    """Runs ahead of this one (0 = next)."""


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """The run started executing."""

    epoch: int = 0
    """Fencing epoch of the agent's lease the run executes under."""


@dataclass(frozen=True, kw_only=True)
class ReasoningDelta(Event):
    """A fragment of the model's reasoning text (live only, never replayed)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AssistantDelta(Event):
    """A fragment of the model's reply text (live only, never replayed)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AssistantMessage(Event):
    """The complete assistant message of a step."""

    message: common_pb2.Message

    @property
    def text(self) -> str:
        return self.message.content


@dataclass(frozen=True, kw_only=True)
class ToolCalled(Event):
    """A tool call about to be executed."""

    call: common_pb2.ToolCall


@dataclass(frozen=True, kw_only=True)
class ToolReturned(Event):
    """The result of a tool call."""

    result: common_pb2.ToolReturn


@dataclass(frozen=True, kw_only=True)
class ApprovalRequested(Event):
    """A tool call that needs a human's approval; the run will stop awaiting it."""

    call: common_pb2.ToolCall


@dataclass(frozen=True, kw_only=True)
class UsageUpdated(Event):
    """Cumulative usage of the run, after each step."""

    usage: common_pb2.Usage


@dataclass(frozen=True, kw_only=True)
class MessagePersisted(Event):
    """A message appended to the agent's memory (the run's input, tool results)."""

    message: common_pb2.Message


@dataclass(frozen=True, kw_only=True)
class RunRetried(Event):
    """The run's execution is tried again: drop the text deltas since the last step-level event."""

    attempt: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run stopped; always its last event."""

    run: gateway_pb2.Run


@dataclass(frozen=True, kw_only=True)
class RunError(Event):
    """An error inside the stream: in a run, a backend that stayed unavailable (a ``RunFinished``
    follows); in ``Converse``, a send, approval or cancel that was refused (``send_id`` says
    which). ``error`` is the exception a unary call would have raised (``Busy``, ...)."""

    error: AgentSuiteError


@dataclass(frozen=True, kw_only=True)
class Heartbeat(Event):
    """Sent while a run is quiet, so proxies keep the stream open."""


@dataclass(frozen=True, kw_only=True)
class Pong(Event):
    """``Converse``'s answer to a ping."""

    nonce: int


def event_from_proto(event: gateway_pb2.RunEvent, *, send_id: str = "") -> Event:
    """The typed event for a ``RunEvent``."""
    common = {"run_id": event.run_id, "seq": event.seq, "step": event.step, "send_id": send_id, "raw": event}
    kind = event.WhichOneof("event")
    if kind == "queued":
        return RunQueued(position=event.queued.position, **common)
    if kind == "started":
        return RunStarted(epoch=event.started.epoch, **common)
    if kind == "reasoning_delta":
        return ReasoningDelta(text=event.reasoning_delta.text, **common)
    if kind == "assistant_delta":
        return AssistantDelta(text=event.assistant_delta.text, **common)
    if kind == "assistant_message":
        return AssistantMessage(message=event.assistant_message, **common)
    if kind == "tool_call":
        return ToolCalled(call=event.tool_call, **common)
    if kind == "tool_return":
        return ToolReturned(result=event.tool_return, **common)
    if kind == "approval_request":
        return ApprovalRequested(call=event.approval_request.tool_call, **common)
    if kind == "usage":
        return UsageUpdated(usage=event.usage, **common)
    if kind == "message_persisted":
        return MessagePersisted(message=event.message_persisted, **common)
    if kind == "retried":
        return RunRetried(attempt=event.retried.attempt, reason=event.retried.reason, **common)
    if kind == "finished":
        return RunFinished(run=event.finished.run, **common)
    if kind == "error":
        details = getattr(event.error, "details", ())
        return RunError(error=error_from_status(event.error.code, event.error.message, details), **common)
    if kind == "heartbeat":
        return Heartbeat(**common)
    return Event(**common)  # a kind newer than this client: ``raw`` has it
