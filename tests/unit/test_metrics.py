"""The metrics module: bound series export exactly what the SDK's public API exports, and the
instruments keep the names and attributes dashboards rely on."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.common import metrics
from services.common.bound_series import BoundSeries

VALUES = [0.0004, 0.003, 0.003, 0.2, 7.0, 400.0]


def exported(*, bound: bool) -> dict:
    """Collected data of some recordings, made through bound series or the public API."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
    meter = provider.get_meter("test")
    histogram = meter.create_histogram("h", unit="s", explicit_bucket_boundaries_advisory=[0.001, 0.01, 1.0])
    counter = meter.create_counter("c")
    updown = meter.create_up_down_counter("u")
    attributes = {"rpc.method": "Step", "rpc.grpc.status_code": 0}
    if bound:
        record_h = BoundSeries(histogram, attributes, histogram=True)
        add_c = BoundSeries(counter, attributes, histogram=False)
        add_u = BoundSeries(updown, None, histogram=False)
    else:

        def record_h(value):
            histogram.record(value, attributes)

        def add_c(value):
            counter.add(value, attributes)

        def add_u(value):
            updown.add(value)

    for value in VALUES:
        record_h(value)
        add_c(1)
        add_u(1)
    add_u(-2)
    if bound:
        assert record_h.bound and add_c.bound and add_u.bound
    data = reader.get_metrics_data()
    result = {}
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.data.data_points:
            fields = {"attributes": dict(point.attributes)}
            if hasattr(point, "bucket_counts"):
                fields.update(
                    count=point.count,
                    sum=point.sum,
                    buckets=list(point.bucket_counts),
                    min=point.min,
                    max=point.max,
                )
            else:
                fields.update(value=point.value)
            result[metric.name] = fields
    provider.shutdown()
    return result


def test_a_bound_series_exports_what_the_public_api_exports():
    plain = exported(bound=False)

    assert exported(bound=True) == plain
    assert plain["h"]["count"] == len(VALUES) and plain["h"]["buckets"] == [1, 2, 1, 2]
    assert plain["c"]["value"] == len(VALUES) and plain["u"]["value"] == len(VALUES) - 2


def test_without_a_meter_provider_recording_does_nothing_and_costs_no_lookup_of_the_sdk():
    series = metrics._instruments.series("rpc.server.duration", ("grpc", "s", "m", 0))
    series(0.1)
    series(0.1)
    assert not series.bound


def test_every_instrument_has_a_unique_name_and_the_issues_names_are_there():
    names = [spec.name for spec in metrics.SPECS]
    assert len(names) == len(set(names))
    for name in (
        "rpc.server.duration", "rpc.client.duration", "agentsuite.runs.accepted", "agentsuite.runs.finished",
        "agentsuite.runs.active", "agentsuite.run.duration", "agentsuite.run.queue_wait",
        "agentsuite.lanes.active", "agentsuite.lane.queue_depth", "agentsuite.lease.acquired",
        "agentsuite.lease.takeovers", "agentsuite.lease.lost", "agentsuite.llm.duration",
        "agentsuite.llm.time_to_first_token", "agentsuite.llm.tokens", "agentsuite.tool.executions",
        "agentsuite.tool.duration", "agentsuite.messages.appended", "agentsuite.archival.search.duration",
        "agentsuite.embedding.duration", "db.client.connections.usage", "db.client.connections.max",
        "db.client.connections.wait_time", "db.client.operation.duration",
    ):  # fmt: skip
        assert name in names


@pytest.mark.parametrize("count", [60])
def test_a_client_choosing_model_names_cannot_grow_the_series_without_bound(count):
    bounded = metrics._Bounded(limit=50)
    seen = {bounded(f"model-{index}") for index in range(count)}
    assert len(seen) == 51 and "other" in seen
