"""``agentsuite top``'s arithmetic: quantiles from Prometheus buckets, and what changed between two
scrapes of the same service."""

from __future__ import annotations

import math

from services.cli.top import histograms, parse, quantile

SCRAPE = """
# TYPE target_info gauge
target_info{{service_name="agentsuite-gateway"}} 1.0
# TYPE rpc_server_duration_seconds histogram
rpc_server_duration_seconds_bucket{{rpc_method="SendMessage",le="0.005"}} {fast}
rpc_server_duration_seconds_bucket{{rpc_method="SendMessage",le="0.01"}} {medium}
rpc_server_duration_seconds_bucket{{rpc_method="SendMessage",le="+Inf"}} {all}
rpc_server_duration_seconds_count{{rpc_method="SendMessage"}} {all}
rpc_server_duration_seconds_sum{{rpc_method="SendMessage"}} 1.0
"""


def test_a_quantile_is_interpolated_within_its_bucket_as_prometheus_does():
    buckets = {0.005: 50.0, 0.01: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == 0.005
    assert quantile(0.75, buckets) == 0.0075
    assert quantile(0.99, {}) is None
    assert quantile(0.99, {0.1: 0.0, math.inf: 0.0}) is None


def test_a_histogram_counts_only_what_happened_since_the_previous_scrape():
    before = parse(SCRAPE.format(fast=10, medium=10, all=10), "x")
    now = parse(SCRAPE.format(fast=10, medium=30, all=30), "x")

    grown = histograms(now, before, "rpc_server_duration_seconds", ("rpc_method",))

    assert now.service == "gateway"
    assert grown[("SendMessage",)] == {0.005: 0.0, 0.01: 20.0, math.inf: 20.0}
    assert 0.005 < quantile(0.5, grown[("SendMessage",)]) <= 0.01


def test_the_deepest_queue_is_the_bucket_of_the_largest_observation():
    from services.cli.top import _largest_observed

    assert _largest_observed({0: 5.0, 1: 5.0, 2: 7.0, 4: 9.0, 8: 9.0, math.inf: 9.0}) == 4
    assert _largest_observed({0: 0.0, math.inf: 0.0}) is None
