"""ConversationService: the gateway's public API for talking to agents and following their runs."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from google.protobuf import duration_pb2

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from services.common.call import current_call, enter_call, require_tenant
from services.common.errors import (
    AgentSuiteError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Validation,
)
from services.common.message_input import check_input_messages
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import require_id
from services.common.server import Registration, failure_status, servicer
from services.common.status import details_of, to_status
from services.common.tracing import new_trace
from services.common.values import has_nul
from services.gateway.clients.agent import AgentRuntimeClient
from services.gateway.core.events import is_finished, run_of
from services.gateway.core.runs import Runs, Submission

"""A message's sender name, as long as memory stores one."""
MAX_KEY_CHARS = 256
MAX_BROADCAST_TARGETS = 10_000
DEFAULT_BROADCAST_CONCURRENCY = 64
MAX_BROADCAST_CONCURRENCY = 1_000
DEADLINE_MARGIN = (0.1, 0.1, 0.5)
"""How long before its deadline SendMessage answers DEADLINE_EXCEEDED itself (naming the run), so
that answer, not the client's own timer, ends the call: a tenth of the time left, from 0.1 to 0.5 s."""
CONVERSE_BUFFER = 256
"""Events waiting to be written to one Converse stream; a slower reader slows its runs' readers."""

_VALID_POLICIES = (
    gateway_pb2.BUSY_POLICY_UNSPECIFIED,
    gateway_pb2.BUSY_POLICY_ENQUEUE,
    gateway_pb2.BUSY_POLICY_REJECT,
    gateway_pb2.BUSY_POLICY_INTERRUPT,
)


@servicer
class ConversationApi(gateway_service_pb2_grpc.ConversationServiceServicer):
    def __init__(self, runs: Runs, agents: AgentRuntimeClient):
        self._runs = runs
        self._agents = agents

    async def SendMessage(self, request: gateway_service_pb2.SendMessageRequest, context):
        tenant = require_tenant()
        accepted = await self._runs.submit(tenant, _submission(request, deltas=False))
        response = gateway_service_pb2.SendMessageResponse()
        limit = asyncio.timeout(_answer_within(current_call().remaining(default=math.inf)))
        try:
            async with limit:
                await _collect(self._runs.follow(accepted, heartbeats=False), response)
        except TimeoutError:
            if not limit.expired():
                raise
            raise DeadlineExceeded(
                f"run {accepted.run_id}: not finished by the deadline; it goes on (poll it with GetRun)",
                reason="RUN_NOT_FINISHED",
                metadata={"run_id": accepted.run_id, "agent_id": request.agent_id},
            ) from None
        return response

    async def StreamMessage(self, request: gateway_service_pb2.StreamMessageRequest, context):
        tenant = require_tenant()
        accepted = await self._runs.submit(tenant, _submission(request, deltas=True))
        async for event in self._runs.follow(accepted):
            yield gateway_service_pb2.StreamMessageResponse(event=event)

    async def CreateRun(self, request: gateway_service_pb2.CreateRunRequest, context):
        tenant = require_tenant()
        accepted = await self._runs.submit(tenant, _submission(request, deltas=True))
        return gateway_service_pb2.CreateRunResponse(run=await self._runs.get(tenant, accepted.run_id))

    async def GetRun(self, request: gateway_service_pb2.GetRunRequest, context):
        tenant = require_tenant()
        run_id = require_id(request.run_id, "run_id")
        return gateway_service_pb2.GetRunResponse(run=await self._runs.get(tenant, run_id))

    async def ListRuns(self, request: gateway_service_pb2.ListRunsRequest, context):
        tenant = require_tenant()
        limit = page_size(request.page_size)
        check = Validation()
        for index, status in enumerate(request.statuses):
            check.check(
                status in gateway_pb2.RunStatus.values() and status != gateway_pb2.RUN_STATUS_UNSPECIFIED,
                f"statuses[{index}]",
                "must be a RunStatus other than UNSPECIFIED",
            )
        check.raise_if_any()
        position = decode_token(request.page_token)
        before = None
        if position is not None:
            if not isinstance(position.get("before"), int):
                raise InvalidArgument.field("page_token", "is not a token this service issued")
            before = position["before"]
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        rows = await self._runs.list(
            tenant, agent_id=agent_id, statuses=list(request.statuses), before=before, limit=limit + 1
        )
        response = gateway_service_pb2.ListRunsResponse(runs=[run_of(row) for row in rows[:limit]])
        if len(rows) > limit:
            response.next_page_token = encode_token({"before": rows[limit - 1].lane_seq})
        return response

    async def CancelRun(self, request: gateway_service_pb2.CancelRunRequest, context):
        tenant = require_tenant()
        run_id = require_id(request.run_id, "run_id")
        return gateway_service_pb2.CancelRunResponse(run=await self._runs.cancel(tenant, run_id))

    async def WatchRun(self, request: gateway_service_pb2.WatchRunRequest, context):
        tenant = require_tenant()
        run_id = require_id(request.run_id, "run_id")
        events = await self._runs.watch_checked(tenant, run_id, request.after_seq)
        async for event in events:
            yield gateway_service_pb2.WatchRunResponse(event=event)

    async def Converse(self, request_iterator, context):
        tenant = require_tenant()
        scope = current_call()
        opening = await anext(aiter(request_iterator), None)
        if opening is None or opening.WhichOneof("request") != "open":
            raise InvalidArgument.field("open", "the first message of a conversation must be open")
        agent_id = require_id(opening.open.agent_id, "open.agent_id")
        await self._agents.require_agent(tenant, agent_id)
        conversation = _Conversation(self._runs, tenant, agent_id)
        if opening.open.resume_run_id:
            run_id = require_id(opening.open.resume_run_id, "open.resume_run_id")
            run = await self._runs.get(tenant, run_id)
            if run.agent_id != agent_id:
                raise NotFound("run", run_id)
            events = await self._runs.watch_checked(tenant, run_id, opening.open.resume_after_seq)
            conversation.follow(events, run_id)
        reader = asyncio.create_task(conversation.read(request_iterator, scope))
        try:
            async for response in conversation.responses():
                yield response
        finally:
            reader.cancel()
            conversation.close()

    async def Broadcast(self, request: gateway_service_pb2.BroadcastRequest, context):
        tenant = require_tenant()
        started = time.monotonic()
        _validate_messages(request.messages, required=True)
        _validate_options(request.busy_policy, 0, request.idempotency_key)
        concurrency = request.max_concurrency or DEFAULT_BROADCAST_CONCURRENCY
        check = Validation()
        check.check(request.max_concurrency >= 0, "max_concurrency", "must not be negative")
        check.check(
            bool(request.selector.agent_ids or request.selector.tags),
            "selector",
            "must name agent ids or tags",
        )
        check.raise_if_any()
        targets, unknown = await self._targets(tenant, request.selector)
        semaphore = asyncio.Semaphore(min(concurrency, MAX_BROADCAST_CONCURRENCY))
        scope = current_call()

        async def one(agent_id: str) -> gateway_service_pb2.BroadcastResponse:
            enter_call(scope)
            result = gateway_pb2.BroadcastResult(agent_id=agent_id)
            if agent_id in unknown:
                _fail(result, NotFound("agent", agent_id))
                return gateway_service_pb2.BroadcastResponse(result=result)
            async with semaphore:
                try:
                    submission = Submission(
                        agent_id=agent_id,
                        messages=request.messages,
                        idempotency_key=request.idempotency_key,
                        busy_policy=request.busy_policy,
                        deltas=False,
                    )
                    accepted = await self._runs.submit(tenant, submission)
                    response = gateway_service_pb2.SendMessageResponse()
                    await _collect(self._runs.follow(accepted, heartbeats=False), response)
                    result.run.CopyFrom(response.run)
                    result.messages.extend(response.messages)
                except AgentSuiteError as exc:
                    _fail(result, exc)
            return gateway_service_pb2.BroadcastResponse(result=result)

        tasks = [asyncio.create_task(one(agent_id)) for agent_id in targets]
        failed = 0
        try:
            for finished in asyncio.as_completed(tasks):
                response = await finished
                failed += response.result.error_code != 0
                yield response
        finally:
            for task in tasks:
                task.cancel()
        elapsed = duration_pb2.Duration()
        elapsed.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        summary = gateway_pb2.BroadcastSummary(
            total=len(targets), succeeded=len(targets) - failed, failed=failed, elapsed=elapsed
        )
        yield gateway_service_pb2.BroadcastResponse(summary=summary)

    async def _targets(self, tenant: str, selector: gateway_pb2.AgentSelector) -> tuple[list[str], set[str]]:
        """The selected agents, ids first, each once (tags resolved through the agent service), and
        the listed ids the tenant has no agent for. Ids are checked 1,000 per call."""
        ids = list(
            dict.fromkeys(require_id(agent_id, "selector.agent_ids") for agent_id in selector.agent_ids)
        )
        if len(ids) > MAX_BROADCAST_TARGETS:
            raise ResourceExhausted(
                f"a broadcast reaches at most {MAX_BROADCAST_TARGETS} agents", reason="TOO_MANY_TARGETS"
            )
        found: set[str] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            page = await self._agents.list_agents(
                agent_service_pb2.ListAgentsRequest(page_size=1000, agent_ids=chunk)
            )
            found.update(agent.id for agent in page.agents)
        self._agents.remember(tenant, found)
        targets = dict.fromkeys(ids)
        if selector.tags:
            token = ""
            while True:
                page = await self._agents.list_agents(
                    agent_service_pb2.ListAgentsRequest(
                        page_size=1000, page_token=token, tags=selector.tags, tag_match=selector.tag_match
                    )
                )
                tagged = [agent.id for agent in page.agents]
                self._agents.remember(tenant, tagged)
                targets.update(dict.fromkeys(tagged))
                found.update(tagged)
                if len(targets) > MAX_BROADCAST_TARGETS or not page.next_page_token:
                    break
                token = page.next_page_token
        if len(targets) > MAX_BROADCAST_TARGETS:
            raise ResourceExhausted(
                f"a broadcast reaches at most {MAX_BROADCAST_TARGETS} agents", reason="TOO_MANY_TARGETS"
            )
        return list(targets), set(targets) - found


class _Conversation:
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
                    event = gateway_pb2.RunEvent(run_id=getattr(part, "run_id", ""), error=_error_event(exc))
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
            _validate_send_id(send.send_id, "send.send_id")
            _validate_messages(send.messages, required=True)
            _validate_options(send.busy_policy, send.max_steps, send.idempotency_key)
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
            _validate_send_id(request.approval.send_id, "approval.send_id")
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
        if not task.cancelled() and task.exception() is not None:
            event = gateway_pb2.RunEvent(run_id=run_id, error=_error_event(task.exception()))
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(gateway_service_pb2.ConverseResponse(event=event, send_id=send_id))
        self._maybe_end()

    def _maybe_end(self) -> None:
        """The client closed its side and every run it followed has finished: end the stream."""
        if not self._reading and not self._followers:
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)


def _answer_within(remaining: float) -> float | None:
    """Seconds SendMessage waits for its run before answering DEADLINE_EXCEEDED; None: no deadline."""
    if math.isinf(remaining):
        return None
    share, low, high = DEADLINE_MARGIN
    return max(0.0, remaining - min(high, max(low, remaining * share)))


def _error_event(exc: BaseException) -> gateway_pb2.ErrorEvent:
    """A failure inside a conversation, told as an event with the code, message and details a call
    would get."""
    status = failure_status(exc, "ConversationService.Converse")
    return gateway_pb2.ErrorEvent(
        code=status.code.value[0], message=status.details, details=details_of(status)
    )


def _fail(result: gateway_pb2.BroadcastResult, error: AgentSuiteError) -> None:
    """Record in ``result`` the failure of one agent of a broadcast, as a call would report it."""
    status = to_status(error)
    result.error_code = status.code.value[0]
    result.error_message = status.details
    result.error_details.extend(details_of(status))


def _validate_send_id(send_id: str, field: str) -> None:
    if len(send_id) > MAX_KEY_CHARS:
        raise InvalidArgument.field(field, f"must be at most {MAX_KEY_CHARS} characters")


async def _collect(
    events: AsyncIterator[gateway_pb2.RunEvent], response: gateway_service_pb2.SendMessageResponse
):
    async for event in events:
        kind = event.WhichOneof("event")
        if kind in ("message_persisted", "assistant_message"):
            response.messages.append(getattr(event, kind))
        elif is_finished(event):
            response.run.CopyFrom(event.finished.run)
            response.usage.CopyFrom(event.finished.run.usage)


def _submission(request, *, deltas: bool) -> Submission:
    agent_id = require_id(request.agent_id, "agent_id")
    _validate_messages(request.messages, required=not request.approvals)
    _validate_options(request.busy_policy, request.max_steps, request.idempotency_key)
    return Submission(
        agent_id=agent_id,
        messages=request.messages,
        idempotency_key=request.idempotency_key,
        busy_policy=request.busy_policy,
        max_steps=request.max_steps,
        approvals=request.approvals,
        deltas=deltas,
    )


def _validate_messages(messages, *, required: bool) -> None:
    check = Validation()
    check_input_messages(check, messages, "messages", required=required, unspecified_role=True)
    check.raise_if_any()


def _validate_options(busy_policy: int, max_steps: int, idempotency_key: str) -> None:
    check = Validation()
    check.check(busy_policy in _VALID_POLICIES, "busy_policy", "must be a BusyPolicy value")
    check.check(max_steps >= 0, "max_steps", "must not be negative")
    check.check(
        len(idempotency_key) <= MAX_KEY_CHARS,
        "idempotency_key",
        f"must be at most {MAX_KEY_CHARS} characters",
    )
    check.check(not has_nul(idempotency_key), "idempotency_key", "must not contain NUL characters")
    check.raise_if_any()


def registration(api: ConversationApi) -> Registration:
    return Registration.of(
        gateway_service_pb2.DESCRIPTOR,
        "ConversationService",
        gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server,
        api,
    )
