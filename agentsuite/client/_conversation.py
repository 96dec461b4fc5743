"""``client.messages`` (send, stream, broadcast, and the recall history) and ``client.runs``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from agentsuite.client._call import DEFAULT, Caller, Timeout, enum_value, input_messages, new_key
from agentsuite.client._memory import memory_stub
from agentsuite.client.events import Event, RunFinished, event_from_proto
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2

SEND_TIMEOUT = 300.0
"""How long ``send`` waits for a run by default (a run may take minutes; it keeps going after)."""
RUN_STREAM_TIMEOUT = 900.0
"""How long the stream of one run (``stream``, ``watch``, ``broadcast``) may last by default: the
suite stops a run after 600 s (AGENTSUITE_RUN_TIMEOUT_SECONDS), and a queued run waits first."""

Sendable = str | common_pb2.InputMessage | Iterable[str | common_pb2.InputMessage]
"""Text (sent as one user message), an ``InputMessage``, or several of either."""
Approvals = Mapping[str, bool] | Iterable[common_pb2.ToolApproval]
"""Decisions on pending tool calls: ``{tool_call_id: approve}`` or ``ToolApproval`` messages."""


@dataclass(frozen=True)
class SendResult:
    """What ``send`` (and ``runs.approve``) returns once the run stopped."""

    run: gateway_pb2.Run
    """The run in its final state (status, stop reason, usage, pending approvals)."""
    messages: list[common_pb2.Message]
    """Messages the run stored, in seq order, its input first."""
    usage: common_pb2.Usage
    """Usage of the run."""

    @property
    def text(self) -> str:
        """The assistant's replies of the run, joined by blank lines."""
        return "\n\n".join(
            m.content for m in self.messages if m.role == common_pb2.MESSAGE_ROLE_ASSISTANT and m.content
        )


def busy_value(policy: str | int) -> int:
    """``BusyPolicy`` from "enqueue", "reject", "interrupt" or the enum number."""
    return enum_value(gateway_pb2.BusyPolicy, policy, "BUSY_POLICY_")


def tool_approvals(decisions: Approvals, reason: str = "") -> list[common_pb2.ToolApproval]:
    """The contract's approvals for ``{tool_call_id: approve}`` (with ``reason``) or approvals."""
    if isinstance(decisions, Mapping):
        return [
            common_pb2.ToolApproval(tool_call_id=call_id, approve=approve, reason=reason)
            for call_id, approve in decisions.items()
        ]
    return list(decisions)


class Messages:
    """Send messages to agents (waiting, streaming, to many at once) and read their history."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = gateway_service_pb2_grpc.ConversationServiceStub(caller.channel)
        self._memory = memory_stub(caller)

    async def send(
        self,
        agent_id: str,
        messages: Sendable,
        *,
        idempotency_key: str | None = None,
        busy_policy: str | int = "enqueue",
        max_steps: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> SendResult:
        """Send and wait until the run stops. The same ``idempotency_key`` returns the same run
        (one is generated when not given, so the channel's retries never run twice). At the
        deadline, ``DeadlineExceeded`` names the run, which keeps going (``runs.wait``)."""
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=agent_id,
            messages=input_messages(messages),
            idempotency_key=idempotency_key or new_key(),
            busy_policy=busy_value(busy_policy),
            max_steps=max_steps,
        )
        return await self._send(request, timeout)

    async def _send(self, request: gateway_service_pb2.SendMessageRequest, timeout: Timeout) -> SendResult:
        response = await self._call.unary(self._stub.SendMessage, request, timeout, SEND_TIMEOUT)
        return SendResult(response.run, list(response.messages), response.usage)

    async def stream(
        self,
        agent_id: str,
        messages: Sendable,
        *,
        idempotency_key: str | None = None,
        busy_policy: str | int = "enqueue",
        max_steps: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[Event]:
        """Send and yield the run's events as they happen, ending with ``RunFinished``. A stream
        that breaks resumes with ``runs.watch(run_id, after_seq=<last seq seen>)``."""
        request = gateway_service_pb2.StreamMessageRequest(
            agent_id=agent_id,
            messages=input_messages(messages),
            idempotency_key=idempotency_key or new_key(),
            busy_policy=busy_value(busy_policy),
            max_steps=max_steps,
        )
        async for response in self._call.stream(
            self._stub.StreamMessage, request, timeout, RUN_STREAM_TIMEOUT
        ):
            yield event_from_proto(response.event)

    async def broadcast(
        self,
        messages: Sendable,
        *,
        agent_ids: Iterable[str] = (),
        tags: Iterable[str] = (),
        tag_match: str | int = "any",
        max_concurrency: int = 0,
        busy_policy: str | int = "enqueue",
        idempotency_key: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[gateway_pb2.BroadcastResult | gateway_pb2.BroadcastSummary]:
        """Send to many agents (``agent_ids`` plus those with ``tags``): one ``BroadcastResult``
        per agent in completion order (a failed one has ``error_code``), then the
        ``BroadcastSummary``."""
        request = gateway_service_pb2.BroadcastRequest(
            selector=gateway_pb2.AgentSelector(
                agent_ids=agent_ids,
                tags=tags,
                tag_match=enum_value(common_pb2.TagMatch, tag_match, "TAG_MATCH_"),
            ),
            messages=input_messages(messages),
            max_concurrency=max_concurrency,
            busy_policy=busy_value(busy_policy),
            idempotency_key=idempotency_key or new_key(),
        )
        async for response in self._call.stream(self._stub.Broadcast, request, timeout, RUN_STREAM_TIMEOUT):
            yield response.result if response.WhichOneof("response") == "result" else response.summary

    def list(
        self,
        agent_id: str,
        *,
        descending: bool = False,
        roles: Iterable[str | int] = (),
        after_seq: int = 0,
        before_seq: int = 0,
        page_size: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[common_pb2.Message]:
        """An agent's whole history (recall memory) in seq order (newest first with
        ``descending``), of some ``roles`` ("user", "assistant", "tool", "system") and between
        seqs when given."""
        request = memory_service_pb2.ListMessagesRequest(
            agent_id=agent_id,
            descending=descending,
            roles=_roles(roles),
            after_seq=after_seq,
            before_seq=before_seq,
            page_size=page_size,
        )
        return self._call.pages(self._memory.ListMessages, request, "messages", timeout)

    async def search(
        self,
        agent_id: str,
        query: str,
        *,
        roles: Iterable[str | int] = (),
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 10,
        timeout: Timeout = DEFAULT,
    ) -> list[memory_pb2.ScoredMessage]:
        """The ``limit`` messages of an agent's history that best match ``query`` (full text)."""
        request = memory_service_pb2.SearchMessagesRequest(
            agent_id=agent_id,
            query=query,
            roles=_roles(roles),
            start_time=start_time,
            end_time=end_time,
            page_size=limit,
        )
        return list((await self._call.unary(self._memory.SearchMessages, request, timeout)).results)

    async def count(
        self, agent_id: str, *, roles: Iterable[str | int] = (), timeout: Timeout = DEFAULT
    ) -> int:
        """How many messages an agent's history holds (of some ``roles``)."""
        request = memory_service_pb2.CountMessagesRequest(agent_id=agent_id, roles=_roles(roles))
        return (await self._call.unary(self._memory.CountMessages, request, timeout)).count


class Runs:
    """Runs: start one in the background, read, list, cancel, follow, wait for, approve."""

    def __init__(self, caller: Caller, messages: Messages):
        self._call = caller
        self._messages = messages
        self._stub = gateway_service_pb2_grpc.ConversationServiceStub(caller.channel)

    async def create(
        self,
        agent_id: str,
        messages: Sendable,
        *,
        idempotency_key: str | None = None,
        busy_policy: str | int = "enqueue",
        max_steps: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> gateway_pb2.Run:
        """Accept a run and return at once (QUEUED or RUNNING); follow it with ``watch``."""
        request = gateway_service_pb2.CreateRunRequest(
            agent_id=agent_id,
            messages=input_messages(messages),
            idempotency_key=idempotency_key or new_key(),
            busy_policy=busy_value(busy_policy),
            max_steps=max_steps,
        )
        return (await self._call.unary(self._stub.CreateRun, request, timeout)).run

    async def get(self, run_id: str, *, timeout: Timeout = DEFAULT) -> gateway_pb2.Run:
        """One run."""
        request = gateway_service_pb2.GetRunRequest(run_id=run_id)
        return (await self._call.unary(self._stub.GetRun, request, timeout)).run

    def list(
        self,
        *,
        agent_id: str = "",
        statuses: Iterable[str | int] = (),
        page_size: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[gateway_pb2.Run]:
        """Every run, newest first (of ``agent_id``, in ``statuses`` such as "running", when
        given)."""
        request = gateway_service_pb2.ListRunsRequest(
            agent_id=agent_id,
            statuses=[enum_value(gateway_pb2.RunStatus, s, "RUN_STATUS_") for s in statuses],
            page_size=page_size,
        )
        return self._call.pages(self._stub.ListRuns, request, "runs", timeout)

    async def cancel(self, run_id: str, *, timeout: Timeout = DEFAULT) -> gateway_pb2.Run:
        """Cancel a queued or running run (a stopped one is returned unchanged)."""
        request = gateway_service_pb2.CancelRunRequest(run_id=run_id)
        return (await self._call.unary(self._stub.CancelRun, request, timeout)).run

    async def watch(
        self, run_id: str, *, after_seq: int = 0, timeout: Timeout = DEFAULT
    ) -> AsyncIterator[Event]:
        """The run's events after ``after_seq`` (the last seq a reader saw; 0 for all): exactly
        the stored ones it missed, then the live ones, ending with ``RunFinished``. Works on any
        gateway replica, also after the one running it died."""
        request = gateway_service_pb2.WatchRunRequest(run_id=run_id, after_seq=after_seq)
        async for response in self._call.stream(self._stub.WatchRun, request, timeout, RUN_STREAM_TIMEOUT):
            yield event_from_proto(response.event)

    async def wait(self, run_id: str, *, timeout: Timeout = DEFAULT) -> gateway_pb2.Run:
        """The run once it stopped (completed, failed, cancelled or awaiting approval)."""
        run = await self.get(run_id)
        if run.HasField("finish_time") or run.status == gateway_pb2.RUN_STATUS_AWAITING_APPROVAL:
            return run
        async for event in self.watch(run_id, after_seq=run.last_seq, timeout=timeout):
            if isinstance(event, RunFinished):
                return event.run
        return await self.get(run_id)

    async def approve(
        self,
        agent_id: str,
        decisions: Approvals,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> SendResult:
        """Decide on every pending tool call of the agent's run awaiting approval
        (``{tool_call_id: True}`` approves, ``False`` denies with ``reason``); the run continues
        under its id and this returns once it stops again."""
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=agent_id,
            approvals=tool_approvals(decisions, reason),
            idempotency_key=idempotency_key or new_key(),
        )
        return await self._messages._send(request, timeout)

    async def approve_stream(
        self,
        agent_id: str,
        decisions: Approvals,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[Event]:
        """Like ``approve``, yielding the continued run's events as they happen (ending with
        ``RunFinished``) instead of waiting for its end."""
        request = gateway_service_pb2.StreamMessageRequest(
            agent_id=agent_id,
            approvals=tool_approvals(decisions, reason),
            idempotency_key=idempotency_key or new_key(),
        )
        async for response in self._call.stream(
            self._stub.StreamMessage, request, timeout, RUN_STREAM_TIMEOUT
        ):
            yield event_from_proto(response.event)


def _roles(roles: Iterable[str | int]) -> list[int]:
    return [enum_value(common_pb2.MessageRole, role, "MESSAGE_ROLE_") for role in roles]
