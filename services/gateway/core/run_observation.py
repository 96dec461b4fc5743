"""What an operator sees of one execution of a run: its span (in the trace of the request that
accepted it) and the run metrics (active, queue wait, duration, finished by status and stop)."""

from __future__ import annotations

import contextlib
import time

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from services.common import metrics
from services.common.tracing import run_span, set_attributes
from services.gateway.core.model import RunRow


def status_name(status: int) -> str:
    """``completed`` for ``RUN_STATUS_COMPLETED``: a bounded attribute value."""
    return gateway_pb2.RunStatus.Name(status).removeprefix("RUN_STATUS_").lower()


def stop_name(reason: int) -> str:
    return common_pb2.StopReason.Name(reason).removeprefix("STOP_REASON_").lower()


class RunObservation:
    """Opened as a run starts executing here, closed when that execution ends, finished or not."""

    def __init__(self, row: RunRow):
        self._started = time.monotonic()
        self._finished = False
        queued = (row.started_at - row.created_at).total_seconds() if row.started_at else None
        metrics.record_run_started(queued)
        self._span = contextlib.ExitStack()
        self._span.enter_context(run_span(row.id, {"agentsuite.agent.id": row.agent_id}))

    def finished(self, run: gateway_pb2.Run) -> None:
        self._finished = True
        status, stop = status_name(run.status), stop_name(run.stop_reason)
        metrics.record_run_finished(status, stop, time.monotonic() - self._started)
        set_attributes({"agentsuite.run.status": status, "agentsuite.run.stop_reason": stop})

    def close(self) -> None:
        if not self._finished:
            metrics.record_run_abandoned()
        self._span.close()
