"""Spans of our own, beside the gRPC interceptors' ones: a run, a model call, a tool execution, a
search, a database statement. Each helper costs one ``if`` when traces are not recorded.

A run executes in a lane's task, not in the task of the request that accepted it, so a run does not
inherit a trace by itself: the acceptance keeps its context under the run's id
(:func:`keep_for_run`), and the execution continues that trace (:func:`run_span`). A run accepted
elsewhere (another replica, before a restart) starts a trace of its own.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util.types import AnyValue

from services.common.telemetry import tracer, traces_recorded

KEPT_RUNS = 10_000
"""Contexts of accepted runs kept for their execution (runs queued past this start their own trace)."""

Attributes = Mapping[str, AnyValue]

_kept: OrderedDict[str, otel_context.Context] = OrderedDict()


def span(
    name: str, attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> contextlib.AbstractContextManager[Span | None]:
    """A span around a block, child of the current one (nothing when traces are not recorded)."""
    if not traces_recorded():
        return contextlib.nullcontext()
    return tracer().start_as_current_span(name, attributes=attributes, kind=kind)


@contextlib.contextmanager
def new_trace(name: str, attributes: Attributes | None = None, *, skip: bool = False) -> Iterator[None]:
    """A root span of a trace of its own, linked to the current span: one message of a long stream
    (``Converse``) is one trace, not part of the stream's. Nothing when ``skip``."""
    if skip or not traces_recorded():
        yield
        return
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else []
    with tracer().start_as_current_span(
        name, context=otel_context.Context(), links=links, attributes=attributes, kind=SpanKind.SERVER
    ):
        yield


def rpc_server_span(service: str, method: str, metadata: Mapping[str, str]):
    """The span of an RPC served (OpenTelemetry's RPC conventions), child of the caller's span
    when its metadata carries a ``traceparent``; made current for the handler."""
    if not traces_recorded():
        return contextlib.nullcontext()
    from opentelemetry import propagate  # loads the configured propagators: only when tracing

    return tracer().start_as_current_span(
        f"{service}/{method}",
        context=propagate.extract(metadata),
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
        record_exception=False,
        set_status_on_exception=False,
    )


def rpc_client_span(service: str, method: str) -> Span | None:
    """The span of an RPC made, child of the current span (not made current: nothing in this
    process happens under it); None when traces are not recorded."""
    if not traces_recorded():
        return None
    return tracer().start_span(
        f"{service}/{method}",
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
    )


def span_metadata(span: Span | None) -> tuple[tuple[str, str], ...]:
    """The ``traceparent`` that makes the callee's spans children of ``span``."""
    if span is None:
        return ()
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return tuple(carrier.items())


def end_rpc_span(span: Span | None, code: int, *, ends: bool) -> None:
    """Record the call's status code on its span (an error unless OK); ``ends`` the span too."""
    if span is None:
        return
    span.set_attribute("rpc.grpc.status_code", code)
    if code:
        span.set_status(trace.StatusCode.ERROR)
    if ends:
        span.end()


def keep_for_run(run_id: str) -> None:
    """Keep the current context for the execution of run ``run_id`` (called as it is accepted)."""
    if not traces_recorded():
        return
    _kept[run_id] = otel_context.get_current()
    while len(_kept) > KEPT_RUNS:
        _kept.popitem(last=False)


def run_span(run_id: str, attributes: Attributes) -> contextlib.AbstractContextManager:
    """The span of one execution of a run: in the trace of the request that accepted it when that
    was here, else at the root of a trace of its own (never in the trace of whatever request
    happened to start the lane's task)."""
    if not traces_recorded():
        return contextlib.nullcontext()
    parent = _kept.pop(run_id, None) or otel_context.Context()
    return tracer().start_as_current_span(
        "agentsuite.run", context=parent, attributes={"agentsuite.run.id": run_id, **attributes}
    )


def set_attributes(attributes: Attributes) -> None:
    """Add attributes to the current span (when one is recorded)."""
    if traces_recorded():
        trace.get_current_span().set_attributes(attributes)
