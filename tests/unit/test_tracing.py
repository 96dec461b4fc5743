"""A run's span belongs to the trace of the request that accepted it, whatever task executes it:
a lane's task started by an earlier request must not pull later runs into that request's trace
(the bug: every message of a conversation after the first ran under the first one's trace)."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common import telemetry
from services.common.tracing import keep_for_run, new_trace, run_span


@pytest.fixture
def spans(monkeypatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_recording", True)
    monkeypatch.setattr(telemetry, "_tracer", provider.get_tracer("test"))
    return exporter


def by_name(exporter: InMemorySpanExporter) -> dict:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_each_run_continues_the_trace_of_the_request_that_accepted_it(spans):
    lane_started = asyncio.Event()
    runs: asyncio.Queue[str] = asyncio.Queue()

    async def lane() -> None:  # created by the first request: it inherits that request's context
        lane_started.set()
        for _ in range(2):
            run_id = await runs.get()
            with run_span(run_id, {}):
                pass

    tracer = telemetry.tracer()
    with tracer.start_as_current_span("first request"):
        keep_for_run("run-1")
        task = asyncio.create_task(lane())
        await runs.put("run-1")
    with tracer.start_as_current_span("second request"):
        keep_for_run("run-2")
        await runs.put("run-2")
    await task

    found = by_name(spans)
    runs_by_id = [s for s in spans.get_finished_spans() if s.name == "agentsuite.run"]
    first, second = sorted(runs_by_id, key=lambda s: s.attributes["agentsuite.run.id"])
    assert first.context.trace_id == found["first request"].context.trace_id
    assert second.context.trace_id == found["second request"].context.trace_id
    assert second.parent.span_id == found["second request"].context.span_id


def test_a_run_accepted_elsewhere_starts_a_trace_of_its_own(spans):
    with telemetry.tracer().start_as_current_span("unrelated"), run_span("run-from-another-replica", {}):
        pass

    found = by_name(spans)
    assert found["agentsuite.run"].parent is None
    assert found["agentsuite.run"].context.trace_id != found["unrelated"].context.trace_id


def test_a_message_of_a_stream_is_a_trace_of_its_own_linked_to_the_stream(spans):
    with telemetry.tracer().start_as_current_span("Converse"), new_trace("Converse send"):
        pass

    found = by_name(spans)
    message, stream = found["Converse send"], found["Converse"]
    assert message.parent is None and message.context.trace_id != stream.context.trace_id
    assert [link.context.span_id for link in message.links] == [stream.context.span_id]
