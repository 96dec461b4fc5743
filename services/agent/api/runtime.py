"""AgentRuntime: one run of the agent loop, streamed as events (called by the gateway only)."""

from __future__ import annotations

import time
from contextlib import aclosing

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from services.agent.api.convert import event_to_proto
from services.agent.clients.memory import ROLES
from services.agent.core import events
from services.agent.core.history import HistoryMessage
from services.agent.core.loop import AgentLoop
from services.agent.core.run_state import Decision, RunRequest
from services.common.call import current_call, require_tenant
from services.common.errors import Validation
from services.common.message_input import check_input_messages
from services.common.protobuf import from_struct, require_id
from services.common.server import servicer

MAX_REASON_CHARS = 10_000
MAX_STEPS = 1000
REPORT_MARGIN_SECONDS = 0.5
"""How much sooner than its call's deadline a run stops waiting for the model (at most half of the
time it has): enough to tell the gateway why the run stopped (LLM_ERROR, "did not finish before its
deadline"), where a run cut off by the call's deadline itself would end as a bare DEADLINE_EXCEEDED."""


@servicer
class AgentRuntimeApi(agent_service_pb2_grpc.AgentRuntimeServicer):
    """Runs one input through the agent loop and streams its events (called by the gateway only)."""

    def __init__(self, loop: AgentLoop):
        self._loop = loop

    async def Step(self, request: agent_service_pb2.StepRequest, context):
        require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        run_input = _run_input(request)
        run = RunRequest(
            agent_id=agent_id,
            run_id=request.run_id,
            epoch=request.epoch,
            input=run_input,
            approvals=tuple(
                Decision(tool_call_id=a.tool_call_id, approve=a.approve, reason=a.reason)
                for a in request.approvals
            ),
            max_steps=request.max_steps,
            deadline=_run_deadline(current_call().deadline),
        )
        # Closed at once when the call ends early (cancelled), not when the garbage collector gets
        # to it: closing is what cancels the model's stream and the tool calls in flight.
        async with aclosing(self._loop.run(run)) as loop_events:
            async for event in loop_events:
                if request.omit_deltas and isinstance(event, events.AssistantDelta | events.ReasoningDelta):
                    continue
                yield agent_service_pb2.StepResponse(event=event_to_proto(event, agent_id))


def _run_deadline(call_deadline: float | None) -> float | None:
    if call_deadline is None:
        return None
    return call_deadline - min(REPORT_MARGIN_SECONDS, max(0.0, call_deadline - time.monotonic()) / 2)


def _run_input(request: agent_service_pb2.StepRequest) -> tuple[HistoryMessage, ...]:
    check = Validation()
    check.check(bool(request.run_id), "run_id", "is required")
    if request.approvals:
        check.check(not request.input, "input", "must be empty when approvals continue a run")
        for index, approval in enumerate(request.approvals):
            check.check(bool(approval.tool_call_id), f"approvals[{index}].tool_call_id", "is required")
            check.check(
                len(approval.reason) <= MAX_REASON_CHARS,
                f"approvals[{index}].reason",
                f"must be at most {MAX_REASON_CHARS} characters",
            )
    else:
        check_input_messages(check, request.input, "input")
    check.check(request.epoch >= 0, "epoch", "must not be negative")
    check.check(
        0 <= request.max_steps <= MAX_STEPS, "max_steps", f"must be between 0 (the agent's) and {MAX_STEPS}"
    )
    check.raise_if_any()
    role_names = {number: name for name, number in ROLES.items()}
    return tuple(
        HistoryMessage(
            role=role_names[message.role],
            content=message.content,
            name=message.name,
            metadata=from_struct(message.metadata),
            step=0,
            run_id=request.run_id,
        )
        for message in request.input
    )
