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

from services.common.telemetry import tracer, traces_recorded

KEPT_RUNS = 10_000
"""Contexts of accepted runs kept for their execution (runs queued past this start their own trace)."""

_kept: OrderedDict[str, otel_context.Context] = OrderedDict()


def span(
    name: str, attributes: Mapping[str, object] | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> contextlib.AbstractContextManager[Span | None]:
    """A span around a block, child of the current one (nothing when traces are not recorded)."""
    if not traces_recorded():
        return contextlib.nullcontext()
    return tracer().start_as_current_span(name, attributes=attributes, kind=kind)


@contextlib.contextmanager
def new_trace(
    name: str, attributes: Mapping[str, object] | None = None, *, skip: bool = False
) -> Iterator[None]:
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


def keep_for_run(run_id: str) -> None:
    """Keep the current context for the execution of run ``run_id`` (called as it is accepted)."""
    if not traces_recorded():
        return
    _kept[run_id] = otel_context.get_current()
    while len(_kept) > KEPT_RUNS:
        _kept.popitem(last=False)


def run_span(run_id: str, attributes: Mapping[str, object]) -> contextlib.AbstractContextManager:
    """The span of one execution of a run: in the trace of the request that accepted it when that
    was here, else at the root of a trace of its own (never in the trace of whatever request
    happened to start the lane's task)."""
    if not traces_recorded():
        return contextlib.nullcontext()
    parent = _kept.pop(run_id, None) or otel_context.Context()
    return tracer().start_as_current_span(
        "agentsuite.run", context=parent, attributes={"agentsuite.run.id": run_id, **attributes}
    )


def set_attributes(attributes: Mapping[str, object]) -> None:
    """Add attributes to the current span (when one is recorded)."""
    if traces_recorded():
        trace.get_current_span().set_attributes(attributes)
