"""One Converse stream: the requests the client sends (send, cancel, approval, ping) and the events of
the runs it follows, written to the client through one bounded outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.call import enter_call
from services.common.errors import InvalidArgument, NotFound
from services.common.protobuf import require_id
from services.common.tracing import new_trace
from services.gateway.api.checks import MAX_KEY_CHARS, validate_messages, validate_options, validate_send_id
from services.gateway.api.replies import error_event
from services.gateway.core.runs import Runs, Submission

CONVERSE_BUFFER = 256
"""Events waiting to be written to one Converse stream; a slower reader slows its runs' readers."""


class ConverseSession:
    """One Converse stream: what the client sends, and the events of the runs it follows."""

    def __init__(self, runs: Runs, tenant: str, agent_id: str):
        self._runs = runs
        self._tenant = tenant
        self._agent_id = agent_id
        self._outbox: asyncio.Queue = asyncio.Queue(CONVERSE_BUFFER)
        self._followers: dict[asyncio.Task, tuple[str, str]] = {}
        """Each task forwarding a run's events, with the run's id and the send_id that started it."""
        self._reading = True
        self._failure: Exception | None = None

    def follow(self, events: AsyncIterator[gateway_pb2.RunEvent], run_id: str, send_id: str = "") -> None:
        """Forward the events of run ``run_id``, each tagged with the ``send_id`` that caused it."""
        task = asyncio.create_task(self._forward(events, send_id))
        self._followers[task] = (run_id, send_id)
        task.add_done_callback(self._follower_done)

    async def read(self, requests, scope) -> None:
        enter_call(scope)
        try:
            async for request in requests:
                kind = request.WhichOneof("request")
                try:
                    with new_trace(f"Converse {kind}", skip=kind == "ping"):  # a trace per message
                        await self._handle(kind, request)
                except Exception as exc:
                    part = getattr(request, kind or "", None)
                    event = gateway_pb2.RunEvent(run_id=getattr(part, "run_id", ""), error=error_event(exc))
                    send_id = getattr(part, "send_id", "")
                    if len(send_id) > MAX_KEY_CHARS:  # refused for it: not echoed
                        send_id = ""
                    await self._outbox.put(gateway_service_pb2.ConverseResponse(event=event, send_id=send_id))
        except Exception as exc:  # a message refused at the edge: the conversation ends with it
            self._failure = exc
            self.close()
        finally:
            self._reading = False
            self._maybe_end()

    async def _handle(self, kind: str | None, request: gateway_service_pb2.ConverseRequest) -> None:
        if kind == "ping":
            pong = gateway_service_pb2.ConversePong(nonce=request.ping.nonce)
            await self._outbox.put(gateway_service_pb2.ConverseResponse(pong=pong))
        elif kind == "send":
            send = request.send
            validate_send_id(send.send_id, "send.send_id")
            validate_messages(send.messages, required=True)
            validate_options(send.busy_policy, send.max_steps, send.idempotency_key)
            submission = Submission(
                agent_id=self._agent_id,
                messages=send.messages,
                idempotency_key=send.idempotency_key,
                busy_policy=send.busy_policy,
                max_steps=send.max_steps,
            )
            accepted = await self._runs.submit(self._tenant, submission)
            self.follow(self._runs.follow(accepted), accepted.run_id, send.send_id)
        elif kind == "cancel":
            await self._runs.cancel(self._tenant, require_id(request.cancel.run_id, "cancel.run_id"))
        elif kind == "approval":
            validate_send_id(request.approval.send_id, "approval.send_id")
            run = await self._runs.get(self._tenant, require_id(request.approval.run_id, "approval.run_id"))
            if run.agent_id != self._agent_id:
                raise NotFound("run", run.id)
            submission = Submission(agent_id=self._agent_id, approvals=request.approval.approvals)
            accepted = await self._runs.submit(self._tenant, submission)
            if accepted.run_id != run.id:
                raise InvalidArgument.field(
                    "approval.run_id", f"run {accepted.run_id} is the one awaiting approval"
                )
            self.follow(self._runs.follow(accepted), accepted.run_id, request.approval.send_id)
        elif kind == "open":
            raise InvalidArgument.field("open", "the conversation is already open")
        else:
            raise InvalidArgument.field("request", "must set one of open, send, cancel, approval or ping")

    async def responses(self) -> AsyncIterator[gateway_service_pb2.ConverseResponse]:
        while True:
            response = await self._outbox.get()
            if response is None:
                if self._failure is not None:
                    raise self._failure
                return
            yield response

    def close(self) -> None:
        for task in list(self._followers):
            task.cancel()

    async def _forward(self, events: AsyncIterator[gateway_pb2.RunEvent], send_id: str) -> None:
        async for event in events:
            await self._outbox.put(gateway_service_pb2.ConverseResponse(event=event, send_id=send_id))

    def _follower_done(self, task: asyncio.Task) -> None:
        run_id, send_id = self._followers.pop(task)
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            event = gateway_pb2.RunEvent(run_id=run_id, error=error_event(failure))
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(gateway_service_pb2.ConverseResponse(event=event, send_id=send_id))
        self._maybe_end()

    def _maybe_end(self) -> None:
        """The client closed its side and every run it followed has finished: end the stream."""
        if not self._reading and not self._followers:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)
