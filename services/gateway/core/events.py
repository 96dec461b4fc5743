"""Run events and run states as the gateway streams them: numbering, and a stored run as a ``Run``."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from google.protobuf import timestamp_pb2

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from services.gateway.core.model import RunRow

LIVE_ONLY = frozenset({"reasoning_delta", "assistant_delta", "heartbeat"})
"""Events that are streamed but never stored nor replayed; they carry the seq before them."""

STATUS_BY_STOP = {
    common_pb2.STOP_REASON_END_TURN: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_TERMINAL_TOOL: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_MAX_STEPS: gateway_pb2.RUN_STATUS_COMPLETED,
    common_pb2.STOP_REASON_APPROVAL_REQUIRED: gateway_pb2.RUN_STATUS_AWAITING_APPROVAL,
    common_pb2.STOP_REASON_CANCELLED: gateway_pb2.RUN_STATUS_CANCELLED,
}
"""Run status after each stop reason; every other reason is a failure."""


def is_live_only(event: gateway_pb2.RunEvent) -> bool:
    return event.WhichOneof("event") in LIVE_ONLY


def is_finished(event: gateway_pb2.RunEvent) -> bool:
    return event.WhichOneof("event") == "finished"


class Numbering:
    """Numbers the events of one run: step-level events count up from the last one stored."""

    def __init__(self, run_id: str, last_seq: int):
        self.run_id = run_id
        self.seq = last_seq

    def event(self, step: int = 0, **event) -> gateway_pb2.RunEvent:
        if next(iter(event)) not in LIVE_ONLY:
            self.seq += 1
        return gateway_pb2.RunEvent(run_id=self.run_id, seq=self.seq, step=step, time=now(), **event)


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def run_of(row: RunRow) -> gateway_pb2.Run:
    """The ``Run`` a stored row stands for."""
    request = agent_service_pb2.StepRequest.FromString(row.step_request)
    run = gateway_pb2.Run(
        id=row.id,
        agent_id=row.agent_id,
        status=cast(gateway_pb2.RunStatus, row.status),
        stop_reason=cast(common_pb2.StopReason, row.stop_reason),
        stop_detail=row.stop_detail,
        idempotency_key=row.idempotency_key or "",
        input=request.input,
        create_time=timestamp(row.created_at),
        start_time=timestamp(row.started_at),
        finish_time=timestamp(row.finished_at),
        last_seq=row.last_seq,
        parent_run_id=row.parent_run_id or "",
    )
    if row.result:
        run.MergeFromString(row.result)
    return run


def result_of(run: gateway_pb2.Run) -> bytes:
    """What a row keeps of a run's end beyond its columns: usage and pending approvals."""
    return gateway_pb2.Run(usage=run.usage, pending_approvals=run.pending_approvals).SerializeToString()
