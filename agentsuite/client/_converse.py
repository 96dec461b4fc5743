"""``client.converse()``: a bidirectional conversation with one agent over ``Converse``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from types import TracebackType

import grpc

from agentsuite.client._call import Caller, input_messages, new_key
from agentsuite.client._conversation import Approvals, Sendable, busy_value, tool_approvals
from agentsuite.client.errors import error_from_rpc
from agentsuite.client.events import Event, Pong, RunError, RunFinished, event_from_proto
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc


class Conversation:
    """One open ``Converse`` stream with an agent; use it as an async context manager:

        async with client.converse(agent_id) as conversation:
            async for event in conversation.turn("hello"):
                ...

    ``send`` starts a run and returns its send id; iterating the conversation yields the events of
    every run on the stream (each with the ``send_id`` that caused it) and ``Pong``s. A refused
    send (busy, queue full, bad input) is a ``RunError`` event with that send id, not the end of
    the stream. ``positions`` holds the last seq seen of each unfinished run, to resume it on a
    new conversation (``resume_run_id``, ``resume_after_seq``) or with ``client.runs.watch``.
    """

    def __init__(
        self,
        caller: Caller,
        agent_id: str,
        *,
        resume_run_id: str = "",
        resume_after_seq: int = 0,
        timeout: float | None = None,
    ):
        self._caller = caller
        self._stub = gateway_service_pb2_grpc.ConversationServiceStub(caller.channel)
        self._open = gateway_service_pb2.ConverseOpen(
            agent_id=agent_id, resume_run_id=resume_run_id, resume_after_seq=resume_after_seq
        )
        self._timeout = timeout
        self._call: grpc.aio.StreamStreamCall | None = None
        self.agent_id = agent_id
        self.positions: dict[str, int] = {}
        """Last seq seen of each run that has not finished yet."""

    async def __aenter__(self) -> Conversation:
        self._call = self._stub.Converse(metadata=self._caller.metadata, timeout=self._timeout)
        await self._write(gateway_service_pb2.ConverseRequest(open=self._open))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End the conversation (runs it started keep going; ``runs.watch`` follows them)."""
        if self._call is not None and not self._call.done():
            self._call.cancel()

    async def send(
        self,
        messages: Sendable,
        *,
        send_id: str | None = None,
        idempotency_key: str | None = None,
        busy_policy: str | int = "enqueue",
        max_steps: int = 0,
    ) -> str:
        """Start a run with ``messages``; the send id its events and errors will carry (a fresh
        one when not given). The idempotency key (generated when not given) makes a repeat of
        the send, also on a new conversation after a reconnect, return the same run."""
        send_id = send_id or uuid.uuid4().hex
        send = gateway_service_pb2.ConverseSend(
            messages=input_messages(messages),
            idempotency_key=idempotency_key or new_key(),
            busy_policy=busy_value(busy_policy),
            max_steps=max_steps,
            send_id=send_id,
        )
        await self._write(gateway_service_pb2.ConverseRequest(send=send))
        return send_id

    async def cancel(self, run_id: str) -> None:
        """Cancel a run (it ends with a ``RunFinished`` whose stop reason is CANCELLED)."""
        await self._write(
            gateway_service_pb2.ConverseRequest(cancel=gateway_service_pb2.ConverseCancel(run_id=run_id))
        )

    async def approve(
        self, run_id: str, decisions: Approvals, *, reason: str = "", send_id: str | None = None
    ) -> str:
        """Decide on the pending tool calls of a run awaiting approval; it continues on this
        stream. Returns the send id its events will carry."""
        send_id = send_id or uuid.uuid4().hex
        approval = gateway_service_pb2.ConverseApproval(
            run_id=run_id, approvals=tool_approvals(decisions, reason), send_id=send_id
        )
        await self._write(gateway_service_pb2.ConverseRequest(approval=approval))
        return send_id

    async def ping(self, nonce: int = 0) -> None:
        """Ask for a ``Pong`` carrying ``nonce``."""
        await self._write(
            gateway_service_pb2.ConverseRequest(ping=gateway_service_pb2.ConversePing(nonce=nonce))
        )

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events()

    async def events(self) -> AsyncIterator[Event]:
        """Every event of the stream until the server ends it (or it fails: the error is raised)."""
        call = self._started()
        try:
            async for response in call:
                if response.WhichOneof("response") == "pong":
                    yield Pong(nonce=response.pong.nonce, send_id=response.send_id)
                    continue
                event = event_from_proto(response.event, send_id=response.send_id)
                self._track(event)
                yield event
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    async def turn(self, messages: Sendable, **send_options) -> AsyncIterator[Event]:
        """Send ``messages`` (with ``send``'s options) and yield the events of that send until its
        run stops; see ``events_of``."""
        send_id = await self.send(messages, **send_options)
        async for event in self.events_of(send_id):
            yield event

    async def events_of(self, send_id: str) -> AsyncIterator[Event]:
        """The events of one send (or approval) until its run stops, or until its refusal (a
        ``RunError`` with no run). Events of other sends on this stream are skipped, so read this
        way when one send at a time is in flight."""
        async for event in self.events():
            if event.send_id != send_id:
                continue
            yield event
            if isinstance(event, RunFinished) or (isinstance(event, RunError) and not event.run_id):
                return

    def _track(self, event: Event) -> None:
        if not event.run_id:
            return
        if isinstance(event, RunFinished):
            self.positions.pop(event.run_id, None)
        else:
            self.positions[event.run_id] = max(self.positions.get(event.run_id, 0), event.seq)

    def _started(self) -> grpc.aio.StreamStreamCall:
        if self._call is None:
            raise RuntimeError("use the conversation as `async with client.converse(...) as conversation`")
        return self._call

    async def _write(self, request: gateway_service_pb2.ConverseRequest) -> None:
        call = self._started()
        try:
            await call.write(request)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        except asyncio.InvalidStateError:  # the stream ended before: say why, as a read would
            raise error_from_rpc(await _ended(call)) from None


async def _ended(call: grpc.aio.StreamStreamCall) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        await call.code(), await call.initial_metadata(), await call.trailing_metadata(), await call.details()
    )
