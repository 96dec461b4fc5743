"""ConversationService: the gateway's public API for talking to agents and following their runs.

The handlers only; the jobs they hand on each have a module: ``checks`` (input validation),
``converse`` (one Converse stream), ``broadcast`` (fan-out to many agents) and ``replies`` (a run's
events and failures told back to the caller)."""

from __future__ import annotations

import asyncio
import math

from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from services.common.call import current_call, require_tenant
from services.common.errors import DeadlineExceeded, InvalidArgument, NotFound, Validation
from services.common.paging import PageToken, page_size, whole
from services.common.protobuf import require_id
from services.common.server import Registration, servicer
from services.gateway.api.broadcast import Broadcaster
from services.gateway.api.checks import submission_of, validate_broadcast
from services.gateway.api.converse import ConverseSession
from services.gateway.api.replies import collect
from services.gateway.clients.agent import AgentRuntimeClient
from services.gateway.core.events import run_of
from services.gateway.core.runs import Runs

RUNS_PAGE = PageToken("runs", before=whole)
DEADLINE_MARGIN = (0.1, 0.1, 0.5)
"""How long before its deadline SendMessage answers DEADLINE_EXCEEDED itself (naming the run), so
that answer, not the client's own timer, ends the call: a tenth of the time left, from 0.1 to 0.5 s."""


@servicer
class ConversationApi(gateway_service_pb2_grpc.ConversationServiceServicer):
    def __init__(self, runs: Runs, agents: AgentRuntimeClient):
        self._runs = runs
        self._agents = agents
        self._broadcaster = Broadcaster(runs, agents)

    async def SendMessage(self, request: gateway_service_pb2.SendMessageRequest, context):
        tenant = require_tenant()
        accepted = await self._runs.submit(tenant, submission_of(request, deltas=False))
        response = gateway_service_pb2.SendMessageResponse()
        limit = asyncio.timeout(_answer_within(current_call().remaining(default=math.inf)))
        try:
            async with limit:
                await collect(self._runs.follow(accepted, heartbeats=False), response)
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
        accepted = await self._runs.submit(tenant, submission_of(request, deltas=True))
        async for event in self._runs.follow(accepted):
            yield gateway_service_pb2.StreamMessageResponse(event=event)

    async def CreateRun(self, request: gateway_service_pb2.CreateRunRequest, context):
        tenant = require_tenant()
        accepted = await self._runs.submit(tenant, submission_of(request, deltas=True))
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
        position = RUNS_PAGE.read(request.page_token)
        before = position["before"] if position is not None else None
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        rows = await self._runs.list(
            tenant, agent_id=agent_id, statuses=list(request.statuses), before=before, limit=limit + 1
        )
        page, token = RUNS_PAGE.page(rows, limit, lambda row: {"before": row.lane_seq})
        return gateway_service_pb2.ListRunsResponse(runs=[run_of(row) for row in page], next_page_token=token)

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
        conversation = ConverseSession(self._runs, tenant, agent_id)
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
        validate_broadcast(request)
        async for response in self._broadcaster.fan_out(tenant, request):
            yield response


def _answer_within(remaining: float) -> float | None:
    """Seconds SendMessage waits for its run before answering DEADLINE_EXCEEDED; None: no deadline."""
    if math.isinf(remaining):
        return None
    share, low, high = DEADLINE_MARGIN
    return max(0.0, remaining - min(high, max(low, remaining * share)))


def registration(api: ConversationApi) -> Registration:
    return Registration.of(
        gateway_service_pb2.DESCRIPTOR,
        "ConversationService",
        gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server,
        api,
    )
