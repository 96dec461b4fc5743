"""The Grafana dashboard and the Prometheus alert rules query only metrics (and labels) the services
export, under the names Prometheus gives them: every instrument of ``services/common/metrics.py``
is recorded once through the module's own functions and read back through OpenTelemetry's real
Prometheus exporter (dots become underscores, units suffixes, counters get ``_total``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from services.common import metrics

DOCKER = Path(__file__).resolve().parents[2] / "docker"
PROMQL_WORDS = {
    "by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "le", "inf", "nan",
}  # fmt: skip
"""Identifiers of PromQL that are not metric names."""


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Every sample name the services' instruments produce, with the labels it carries."""
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    real = metrics._instruments
    metrics._instruments = metrics.Instruments(provider.get_meter("test"))
    try:
        metrics.record_rpc_server("agentsuite.gateway.v1.ConversationService", "SendMessage", 0, 0.01)
        metrics.record_rpc_client("agentsuite.agent.v1.AgentRuntime", "Step", 0, 0.01)
        metrics.record_run_accepted(2)
        metrics.record_run_started(0.1)
        metrics.record_run_finished("completed", "end_turn", 1.0)
        metrics.record_lease_acquired(takeover=True)
        metrics.record_lease_lost()
        metrics.record_llm_call("gpt-x", "ok", 1.0, 0.2, 100, 20)
        metrics.record_tool_execution("custom", "ok", 0.1)
        metrics.record_messages_appended(2)
        metrics.record_archival_search("hybrid", 0.01)
        metrics.record_embedding("local", 0.001)
        metrics.record_db_operation("SELECT", 0.001)
        metrics.record_pool_wait("asyncpg", 0.0001)
        metrics.observe_pool("asyncpg", used=lambda: 1, idle=lambda: 2, most=3)
        metrics.observe("agentsuite.lanes.active", lambda: [(1, {})])
        metrics._observe_process()
        text = generate_latest(REGISTRY).decode()
    finally:
        metrics._instruments = real
        provider.shutdown()
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords, labels or durations)."""
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r'"[^"]*"', " ", expr)
    expr = re.sub(r"(?<![A-Za-z0-9_:])\d[\d.]*(?:e[+-]?\d+)?", " ", expr)  # numbers: 1e-9, 0.5
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?", expr):
        word = match.group(0)
        if word.endswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def label_matchers(expr: str) -> list[tuple[str, str]]:
    """(metric, label) of every ``metric{label=...}`` matcher."""
    pairs = []
    for metric, matchers in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr):
        pairs += [
            (metric, label) for label in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!=|!~|=)", matchers)
        ]
    return pairs


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DOCKER / "grafana" / "agentsuite-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((DOCKER / "prometheus" / "alerts.yaml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_the_parser_finds_metric_names_and_nothing_else():
    expr = 'sum by (le, job) (rate(foo_seconds_bucket{job="x", a=~"b"}[$__rate_interval])) / bar_total > 1e-9'
    assert metric_names(expr) == {"foo_seconds_bucket", "bar_total"}
    assert metric_names("histogram_quantile(0.99, x_bucket) / 1e9 > 0.5") == {"x_bucket"}
    assert label_matchers(expr) == [("foo_seconds_bucket", "job"), ("foo_seconds_bucket", "a")]


@pytest.mark.parametrize("source", ["dashboard", "alert rules"])
def test_every_metric_queried_is_exported_with_the_labels_matched(source, exported):
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    assert queries
    used = set().union(*(metric_names(expr) for expr in queries))
    assert used - exported.keys() == set(), f"{source} queries metrics nobody exports"
    for expr in queries:
        for metric, label in label_matchers(expr):
            assert label == "job" or label in exported[metric], f"{metric} has no label {label}"


def test_the_dashboard_shows_what_an_operator_asked_for():
    used = set().union(*(metric_names(expr) for expr in dashboard_queries()))
    for wanted in (
        "agentsuite_runs_accepted_total",  # messages per second
        "rpc_server_duration_seconds_bucket",  # p50/p99 per RPC
        "agentsuite_runs_active",
        "agentsuite_lane_queue_depth_bucket",
        "agentsuite_llm_duration_seconds_bucket",
        "agentsuite_llm_tokens_sum",
        "agentsuite_tool_executions_total",
        "db_client_connections_usage",
        "agentsuite_lease_takeovers_total",
    ):
        assert wanted in used


def test_the_observability_compose_file_is_valid_compose_and_mounts_files_that_exist():
    import jsonschema

    document = yaml.safe_load((DOCKER / "compose.observability.yaml").read_text())
    schema = json.loads((DOCKER / "schemas" / "compose-spec.json").read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(document)) == []
    mounts = [m.split(":")[0] for s in document["services"].values() for m in s.get("volumes", [])]
    for source in (m for m in mounts if m.startswith("./")):
        assert (DOCKER / source).exists(), source
    collector = yaml.safe_load((DOCKER / "otel" / "collector.yaml").read_text())
    assert "prometheus" in collector["service"]["pipelines"]["metrics"]["exporters"]
    assert collector["exporters"]["prometheus"]["endpoint"].endswith(":8889")
