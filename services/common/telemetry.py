"""JSON logs that carry trace ids, and the OpenTelemetry tracer set-up.

Spans come from the gRPC interceptors (``services.common.server`` and ``services.common.channels``),
so one trace runs from the gateway to memory and tools. Exporting is opt-in through the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` variable when the OTLP exporter package is installed; without it
spans are still made, so log lines of one request share a trace id.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

from opentelemetry import trace

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


def configure_tracing(service: str, enabled: bool) -> None:
    """Install a tracer provider for this process (no tracing at all when disabled).

    Without an exporter, spans are sampled out: they still carry trace and span ids (so log lines
    of one request share a trace id across services) but record nothing, which costs a fraction
    of recorded spans. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the standard ``OTEL_TRACES_SAMPLER``
    settings apply (by default every trace is recorded).
    """
    if not enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider, sampling

    resource = Resource.create({"service.name": f"agentsuite-{service}"})
    exporter = _otlp_exporter() if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else None
    if exporter is None:
        trace.set_tracer_provider(TracerProvider(resource=resource, sampler=sampling.ALWAYS_OFF))
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def _otlp_exporter():
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        logging.getLogger(__name__).warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed; not exporting"
        )
        return None
    return OTLPSpanExporter()
