"""What an operator sees of one tool call: an ``execute_tool`` span (OpenTelemetry's GenAI
conventions; the tool's name, never its arguments or result) around the call, so the tools
service's work nests under it, and ``agentsuite.tool.executions`` / ``agentsuite.tool.duration``
by kind (builtin or custom) and outcome."""

from __future__ import annotations

import contextlib
import time

from opentelemetry import trace

from services.common import metrics
from services.common.tracing import span


class ToolCallObservation:
    """``with ToolCallObservation(name, builtin=...) as observed: ...; observed.outcome("ok")``;
    a call that raises is recorded with outcome ``error`` (``cancelled`` when cancelled)."""

    def __init__(self, name: str, *, builtin: bool):
        self._kind = "builtin" if builtin else "custom"
        self._name = name
        self._outcome = "error"
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ToolCallObservation:
        self._started = time.monotonic()
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": self._name,
            "agentsuite.tool.kind": self._kind,
        }
        self._span = self._stack.enter_context(span(f"execute_tool {self._name}", attributes))
        return self

    def outcome(self, outcome: str) -> None:
        self._outcome = outcome

    def __exit__(self, kind, error, _traceback) -> None:
        if kind is not None:
            self._outcome = "cancelled" if kind.__name__ == "CancelledError" else "error"
        metrics.record_tool_execution(self._kind, self._outcome, time.monotonic() - self._started)
        if self._span is not None:
            self._span.set_attribute("agentsuite.tool.outcome", self._outcome)
            if self._outcome != "ok":
                self._span.set_status(trace.StatusCode.ERROR, self._outcome)
        self._stack.__exit__(kind, error, _traceback)
