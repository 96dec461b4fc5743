"""JSON logs that carry trace ids, and the OpenTelemetry tracer set-up.

Traces are recorded when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the OTLP/gRPC exporter is a
dependency; the standard ``OTEL_*`` variables configure it and the sampler): then spans come from
OpenTelemetry's gRPC interceptors on every server and client channel and from the suite's own spans
(``services.common.tracing``), so one trace runs from the gateway to memory, tools and the database.
Without an endpoint no span is made, since nobody would see it: only the trace id travels, in the
same ``traceparent`` header (``services.common.call``), so the log lines of one request still share
a trace id across services. Metrics are set up by ``services.common.metrics``.
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
_tracer: trace.Tracer = trace.NoOpTracer()

DEFAULT_SAMPLER_ARG = "0.1"
"""The default ratio of new traces recorded (``OTEL_TRACES_SAMPLER_ARG`` changes it): recording
every trace cost 10-40% more CPU per message and 17-36% of throughput in two runs of
``bench/throughput.py --compare telemetry``; one in ten keeps that to a few percent (docs/observability.md)."""


def resource(service: str):
    """What every span and metric of this process says about its origin."""
    from opentelemetry.sdk.resources import Resource

    # No service.namespace: the collector's Prometheus exporter makes the job label from it and
    # the name, and dashboards select services by job="agentsuite-<service>".
    return Resource.create({"service.name": f"agentsuite-{service}"})


def configure_tracing(service: str, enabled: bool) -> None:
    """Record traces when enabled and ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, exported by OTLP/gRPC
    in batches. The standard ``OTEL_*`` variables configure the exporter and the sampler; the
    sampler is parent-based by default, recording the ratio ``DEFAULT_SAMPLER_ARG`` of new traces.
    Otherwise only trace ids travel (see the module's docstring)."""
    global _recording, _tracer
    if not (enabled and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return
    if os.environ.get("OTEL_TRACES_EXPORTER") == "none":
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    sampler = None  # the SDK reads OTEL_TRACES_SAMPLER and its argument
    if not os.environ.get("OTEL_TRACES_SAMPLER"):
        sampler = ParentBasedTraceIdRatio(
            float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", DEFAULT_SAMPLER_ARG))
        )
    provider = TracerProvider(resource=resource(service), sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("agentsuite")
    _recording = True


def shutdown_tracing() -> None:
    """Export the spans still buffered (at a graceful stop)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if _recording and shutdown is not None:
        shutdown()


def traces_recorded() -> bool:
    """Whether this process records spans (and so serves and calls through the interceptors)."""
    return _recording


def tracer() -> trace.Tracer:
    """This process's tracer: a no-op one unless traces are recorded."""
    return _tracer


def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the span or call being served, if any."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return format(span_context.trace_id, "032x")
    return current_call().trace_id


def capture_content() -> bool:
    """Whether an operator asked for prompts and completions in spans (OpenTelemetry's GenAI
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``); off by default."""
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}
