"""JSON log lines: one object per line, with the trace id of the call being served."""

from __future__ import annotations

import contextvars
import json
import logging

from services.common.call import CallScope, enter_call
from services.common.telemetry import JsonFormatter


def formatted(message: str, **extra) -> dict:
    record = logging.getLogger("test").makeRecord(
        "test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    return json.loads(JsonFormatter("memory").format(record))


def in_call(scope: CallScope, message: str, **extra) -> dict:
    """The line logged while serving a call with ``scope`` (in a context of its own)."""

    def log() -> dict:
        enter_call(scope)
        return formatted(message, **extra)

    return contextvars.copy_context().run(log)


def test_a_log_line_carries_the_trace_id_of_the_call_and_its_extras():
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    line = in_call(CallScope(tenant="acme", trace_id=trace_id), "appended", agent_id="a-1")

    assert line["trace_id"] == trace_id
    assert (line["service"], line["msg"], line["agent_id"], line["level"]) == (
        "memory",
        "appended",
        "a-1",
        "INFO",
    )


def test_a_log_line_outside_any_call_has_no_trace_id():
    assert "trace_id" not in in_call(CallScope(), "started")
