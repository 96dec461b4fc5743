"""JSON logs that carry trace ids, and the OpenTelemetry tracer set-up.

Recording traces is opt-in through the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` variable (with the
OTLP exporter package installed): then spans come from OpenTelemetry's gRPC interceptors on every
server and client channel, so one trace runs from the gateway to memory and tools. Without an
exporter no span is made, since nobody would see it: the interceptors cost about 0.15 ms of CPU per
call on the two sides, more than a tenth of a message's path through four services. Only the trace
id then travels, in the same ``traceparent`` header (``services.common.call``), so the log lines of
one request still share a trace id across services.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from opentelemetry import trace

from services.common.call import current_call

_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, trace ids, extras."""

    def __init__(self, service: str):
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        elif (trace_id := current_call().trace_id) is not None:
            entry["trace_id"] = trace_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str) -> None:
    """Send every log record to stderr as JSON; called once per process at start-up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_recording = False


def configure_tracing(service: str, enabled: bool) -> None:
    """Record traces when enabled and ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the standard
    ``OTEL_TRACES_SAMPLER`` settings apply; by default every trace is recorded). Otherwise only
    trace ids travel (see the module's docstring)."""
    global _recording
    exporter = _otlp_exporter() if enabled and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else None
    if exporter is None:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"agentsuite-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _recording = True


def traces_recorded() -> bool:
    """Whether this process records spans (and so serves and calls through the interceptors)."""
    return _recording


def _otlp_exporter():
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        logging.getLogger(__name__).warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed; not exporting"
        )
        return None
    return OTLPSpanExporter()
