"""What an operator sees of one execution of a run: its span (in the trace of the request that
accepted it) and the run metrics (active, queue wait, duration, finished by status and stop)."""

from __future__ import annotations

import contextlib
import time

from services.common import metrics
from services.common.tracing import run_span, set_attributes
from services.gateway.core.model import RunRow
from services.gateway.core.statuses import RunStatus, RunStopReason


def _name(enum: type[RunStatus] | type[RunStopReason], number: int) -> str:
    """``completed`` for ``RUN_STATUS_COMPLETED``: a bounded attribute value."""
    try:
        return enum(number).name.lower()
    except ValueError:
        return "unspecified"


class RunObservation:
    """Opened as a run starts executing here, closed when that execution ends, finished or not."""

    def __init__(self, row: RunRow):
        self._started = time.monotonic()
        self._finished = False
        queued = (row.started_at - row.created_at).total_seconds() if row.started_at else None
        metrics.record_run_started(queued)
        self._span = contextlib.ExitStack()
        self._span.enter_context(run_span(row.id, {"agentsuite.agent.id": row.agent_id}))

    def finished(self, status_number: int, stop_number: int) -> None:
        self._finished = True
        status, stop = _name(RunStatus, status_number), _name(RunStopReason, stop_number)
        metrics.record_run_finished(status, stop, time.monotonic() - self._started)
        set_attributes({"agentsuite.run.status": status, "agentsuite.run.stop_reason": stop})

    def close(self) -> None:
        if not self._finished:
            metrics.record_run_abandoned()
        self._span.close()
