"""ConversationService: messages in, runs through the agent's lane, events out.

This is the relay between a client and ``AgentRuntime.Step``: it numbers events per run (``seq``
counts step-level events; deltas carry the number of the event before them) and folds them into
the run's final state.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from google.protobuf import timestamp_pb2

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from services.common.call import require_tenant
from services.common.errors import Unimplemented, Validation
from services.common.protobuf import require_id
from services.common.server import Registration, servicer
from services.gateway.agent_client import AgentRuntimeClient
from services.gateway.core.lanes import AgentLanes

MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 1_000_000
DELTA_EVENTS = frozenset({"reasoning_delta", "assistant_delta", "heartbeat"})
STATUS_BY_STOP = {
    common_pb2.STOP_REASON_END_TURN: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_TERMINAL_TOOL: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_MAX_STEPS: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_APPROVAL_REQUIRED: gateway_pb2.RUN_STATUS_AWAITING_APPROVAL,
    common_pb2.STOP_REASON_CANCELLED: gateway_pb2.RUN_STATUS_CANCELLED,
}


@servicer
class ConversationApi(gateway_service_pb2_grpc.ConversationServiceServicer):
    def __init__(self, lanes: AgentLanes, runtime: AgentRuntimeClient):
        self._lanes = lanes
        self._runtime = runtime

    async def SendMessage(self, request: gateway_service_pb2.SendMessageRequest, context):
        response = gateway_service_pb2.SendMessageResponse()
        async for event in self._run(request, omit_deltas=True):
            kind = event.WhichOneof("event")
            if kind in ("message_persisted", "assistant_message"):
                response.messages.append(getattr(event, kind))
            elif kind == "finished":
                response.run.CopyFrom(event.finished.run)
                response.usage.CopyFrom(event.finished.run.usage)
        return response

    async def StreamMessage(self, request: gateway_service_pb2.StreamMessageRequest, context):
        async for event in self._run(request):
            yield gateway_service_pb2.StreamMessageResponse(event=event)

    async def _run(self, request, *, omit_deltas: bool = False) -> AsyncIterator[gateway_pb2.RunEvent]:
        tenant = require_tenant()
        agent_id = _validate(request)
        run = gateway_pb2.Run(
            id=str(uuid.uuid4()),
            agent_id=agent_id,
            status=gateway_pb2.RUN_STATUS_QUEUED,
            input=request.messages,
            create_time=_now(),
        )
        step_request = agent_service_pb2.StepRequest(
            agent_id=agent_id,
            run_id=run.id,
            epoch=0,
            input=_with_roles(request.messages),
            max_steps=request.max_steps,
            omit_deltas=omit_deltas,
        )
        seq = 0

        def numbered(step: int = 0, **event) -> gateway_pb2.RunEvent:
            nonlocal seq
            if next(iter(event)) not in DELTA_EVENTS:
                seq += 1
            return gateway_pb2.RunEvent(run_id=run.id, seq=seq, step=step, time=_now(), **event)

        # Keyed by tenant too: another tenant naming this agent id must never wait in its lane.
        lane = f"{tenant}/{agent_id}"
        yield numbered(queued=gateway_pb2.RunQueued(position=self._lanes.ahead(lane)))
        async with self._lanes.turn(lane):
            async for agent_event in self._runtime.step(step_request):
                if run.status == gateway_pb2.RUN_STATUS_QUEUED:
                    run.status = gateway_pb2.RUN_STATUS_RUNNING
                    run.start_time.CopyFrom(_now())
                    yield numbered(started=gateway_pb2.RunStarted(epoch=step_request.epoch))
                kind = agent_event.WhichOneof("event")
                if kind == "stop":
                    run.stop_reason = agent_event.stop.reason
                    run.stop_detail = agent_event.stop.detail
                    run.status = STATUS_BY_STOP.get(agent_event.stop.reason, gateway_pb2.RUN_STATUS_FAILED)
                    continue
                if kind == "usage":
                    run.usage.CopyFrom(agent_event.usage)
                yield numbered(agent_event.step, **{kind: getattr(agent_event, kind)})
        run.finish_time.CopyFrom(_now())
        run.last_seq = seq + 1
        yield numbered(finished=gateway_pb2.RunFinished(run=run))


def _validate(request) -> str:
    agent_id = require_id(request.agent_id, "agent_id")
    check = Validation()
    check.check(
        0 < len(request.messages) <= MAX_MESSAGES, "messages", f"between 1 and {MAX_MESSAGES} messages"
    )
    for index, message in enumerate(request.messages):
        check.check(bool(message.content.strip()), f"messages[{index}].content", "must not be empty")
        check.check(
            len(message.content) <= MAX_MESSAGE_CHARS,
            f"messages[{index}].content",
            f"at most {MAX_MESSAGE_CHARS} characters",
        )
        check.check(
            message.role
            in (
                common_pb2.MESSAGE_ROLE_UNSPECIFIED,
                common_pb2.MESSAGE_ROLE_USER,
                common_pb2.MESSAGE_ROLE_SYSTEM,
            ),
            f"messages[{index}].role",
            "must be USER or SYSTEM (unspecified means USER)",
        )
    check.check(request.max_steps >= 0, "max_steps", "must not be negative")
    check.raise_if_any()
    if request.idempotency_key:
        raise Unimplemented("idempotency_key: durable runs are not implemented yet")
    if request.busy_policy not in (gateway_pb2.BUSY_POLICY_UNSPECIFIED, gateway_pb2.BUSY_POLICY_ENQUEUE):
        raise Unimplemented("busy_policy: only ENQUEUE is implemented yet")
    if request.approvals:
        raise Unimplemented("approvals: tool approval is not implemented yet")
    return agent_id


def _with_roles(messages) -> list[common_pb2.InputMessage]:
    result = []
    for message in messages:
        copy = common_pb2.InputMessage()
        copy.CopyFrom(message)
        if copy.role == common_pb2.MESSAGE_ROLE_UNSPECIFIED:
            copy.role = common_pb2.MESSAGE_ROLE_USER
        result.append(copy)
    return result


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def registration(api: ConversationApi) -> Registration:
    return Registration.of(
        gateway_service_pb2.DESCRIPTOR,
        "ConversationService",
        gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server,
        api,
    )
