"""Metrics of every service: OpenTelemetry instruments with stable names, created once per process.

Exported by OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``OTEL_METRICS_EXPORTER=none`` turns
that off) and served for Prometheus on ``AGENTSUITE_METRICS_PORT`` when that is set. With neither,
no meter provider is installed and every recording below is a no-op call.

Call sites use the small functions of this module (one line at each measured point); the names and
attributes live here only. No attribute takes an unbounded value: ids never appear, and the few
free-form values (a model's name) are capped by :class:`_Bounded`.

Instrument names (Prometheus exposes them with dots as underscores, the unit as a suffix and
``_total`` on counters: ``rpc.server.duration`` is ``rpc_server_duration_seconds``):
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from services.common.bound_series import BoundSeries

log = logging.getLogger(__name__)

DEFAULT_METRICS_PORTS = {"gateway": 9464, "agent": 9465, "memory": 9466, "tools": 9467}
"""Where ``agentsuite up`` serves each service's metrics, and where ``agentsuite top`` looks."""


def metrics_ports_env() -> dict[str, dict[str, str]]:
    """Each service's ``AGENTSUITE_METRICS_PORT`` as ``agentsuite up`` sets it."""
    return {
        service: {"AGENTSUITE_METRICS_PORT": str(port)} for service, port in DEFAULT_METRICS_PORTS.items()
    }


DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
"""Seconds; from a fast gRPC hop (under a millisecond) to a long run (minutes)."""
DEPTH_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144)


@dataclass(frozen=True)
class Spec:
    """One instrument the suite exports."""

    name: str
    kind: str
    """counter, updown, histogram, or observed at collection: gauge, total (a monotonic sum)."""
    unit: str
    description: str
    attributes: tuple[str, ...] = ()
    """Names of the attributes of each measurement, in the order the record functions give values."""
    buckets: tuple[float, ...] = DURATION_BUCKETS


RPC = ("rpc.system", "rpc.service", "rpc.method", "rpc.grpc.status_code")
POOL = ("db.client.connection.pool.name",)

SPECS: tuple[Spec, ...] = (
    Spec("rpc.server.duration", "histogram", "s", "Duration of RPCs served, by service, method, status", RPC),
    Spec("rpc.client.duration", "histogram", "s", "Duration of RPCs made to other services", RPC),
    Spec("agentsuite.runs.accepted", "counter", "{run}", "Runs accepted (stored durably)"),
    Spec(
        "agentsuite.runs.finished",
        "counter",
        "{run}",
        "Runs finished, by status and stop reason",
        ("status", "stop_reason"),
    ),
    Spec("agentsuite.runs.active", "updown", "{run}", "Runs executing in this gateway"),
    Spec(
        "agentsuite.run.duration", "histogram", "s", "From a run's start to its end, by status", ("status",)
    ),
    Spec("agentsuite.run.queue_wait", "histogram", "s", "From a run's acceptance to its start"),
    Spec("agentsuite.lanes.active", "gauge", "{lane}", "Agent lanes alive in this gateway"),
    Spec(
        "agentsuite.lane.queue_depth",
        "histogram",
        "{run}",
        "Runs ahead of a run when it was accepted (its agent's queue)",
        buckets=DEPTH_BUCKETS,
    ),
    Spec("agentsuite.lease.acquired", "counter", "{lease}", "Agent leases acquired"),
    Spec("agentsuite.lease.takeovers", "counter", "{lease}", "Leases taken from another gateway"),
    Spec("agentsuite.lease.lost", "counter", "{lease}", "Leases lost while held"),
    Spec(
        "agentsuite.llm.duration", "histogram", "s", "Model calls, by model and outcome", ("model", "outcome")
    ),
    Spec(
        "agentsuite.llm.time_to_first_token",
        "histogram",
        "s",
        "Until a model's first text or call",
        ("model", "outcome"),
    ),
    Spec(
        "agentsuite.llm.tokens",
        "histogram",
        "{token}",
        "Tokens per model call, by kind (prompt, completion)",
        ("model", "kind"),
        TOKEN_BUCKETS,
    ),
    Spec(
        "agentsuite.tool.executions",
        "counter",
        "{execution}",
        "Tool calls, by kind (builtin, custom) and outcome",
        ("kind", "outcome"),
    ),
    Spec(
        "agentsuite.tool.duration", "histogram", "s", "Tool calls, by kind and outcome", ("kind", "outcome")
    ),
    Spec("agentsuite.messages.appended", "counter", "{message}", "Messages stored in agents' histories"),
    Spec("agentsuite.archival.search.duration", "histogram", "s", "Archival searches, by mode", ("mode",)),
    Spec("agentsuite.embedding.duration", "histogram", "s", "Embedding calls, by embedder", ("embedder",)),
    Spec("db.client.connections.usage", "gauge", "{connection}", "Pool connections, by state"),
    Spec("db.client.connections.max", "gauge", "{connection}", "Most connections a pool opens"),
    Spec("db.client.connections.wait_time", "histogram", "s", "Waiting for a pool connection", POOL),
    Spec(
        "db.client.operation.duration",
        "histogram",
        "s",
        "Database statements, by operation",
        ("db.system.name", "db.operation.name"),
    ),
    Spec("process.cpu.time", "total", "s", "CPU seconds used, by mode (user, system)"),
    Spec("process.memory.usage", "gauge", "By", "Resident memory"),
    Spec("process.unix.file_descriptor.count", "gauge", "{file_descriptor}", "Open file descriptors"),
)

__doc__ += "\n".join(f"``{spec.name}`` ({spec.unit}): {spec.description}." for spec in SPECS)

Observer = Callable[[], Iterable[tuple[float, dict[str, str]]]]
"""A callback of an observable gauge: (value, attributes) pairs read at collection time."""


class Instruments:
    """Every instrument of :data:`SPECS`, made by one meter; observable gauges read the observers
    registered with :func:`observe`."""

    def __init__(self, meter: Meter):
        self._observers: dict[str, list[Observer]] = {}
        self._specs = {spec.name: spec for spec in SPECS}
        self.by_name = {spec.name: self._make(meter, spec) for spec in SPECS}
        self._series: dict[tuple, BoundSeries] = {}

    def series(self, name: str, values: tuple) -> BoundSeries:
        """The series of instrument ``name`` with these attribute values (in its spec's order)."""
        key = (name, values)
        series = self._series.get(key)
        if series is None:
            spec = self._specs[name]
            attributes = dict(zip(spec.attributes, values, strict=True)) or None
            series = self._series[key] = BoundSeries(
                self.by_name[name], attributes, histogram=spec.kind == "histogram"
            )
        return series

    def _make(self, meter: Meter, spec: Spec):
        if spec.kind == "counter":
            return meter.create_counter(spec.name, unit=spec.unit, description=spec.description)
        if spec.kind == "updown":
            return meter.create_up_down_counter(spec.name, unit=spec.unit, description=spec.description)
        if spec.kind == "histogram":
            return meter.create_histogram(
                spec.name,
                unit=spec.unit,
                description=spec.description,
                explicit_bucket_boundaries_advisory=list(spec.buckets),
            )
        observers = self._observers.setdefault(spec.name, [])

        def read(_options: CallbackOptions) -> Iterable[Observation]:
            for observer in observers:
                try:
                    for value, attributes in observer():
                        yield Observation(value, attributes)
                except Exception:  # one broken reading must not hide the others
                    log.warning("a metric observer failed", extra={"metric": spec.name}, exc_info=True)

        create = meter.create_observable_counter if spec.kind == "total" else meter.create_observable_gauge
        return create(spec.name, callbacks=[read], unit=spec.unit, description=spec.description)

    def add_observer(self, name: str, observer: Observer) -> None:
        self._observers[name].append(observer)


_instruments = Instruments(metrics.NoOpMeter("agentsuite"))
_recording = False


def recording() -> bool:
    """Whether this process exports metrics (a reader is installed)."""
    return _recording


def configure_metrics(service: str, port: int | None, host: str = "127.0.0.1") -> None:
    """Install the meter provider of this process: OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set,
    a Prometheus scrape endpoint on ``host:port`` when a port is given; process CPU, memory and
    descriptors."""
    global _instruments, _recording
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOffExemplarFilter
    from opentelemetry.sdk.metrics.export import MetricReader

    readers: list[MetricReader] = []
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and os.environ.get("OTEL_METRICS_EXPORTER") != "none":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        try:
            start_http_server(port, addr=host)
        except OSError as exc:  # the service still serves; its metrics are not scrapeable
            log.error("cannot serve metrics", extra={"address": f"{host}:{port}", "error": str(exc)})
        else:
            readers.append(PrometheusMetricReader())
    if not readers:
        return
    from services.common.telemetry import resource

    provider = MeterProvider(
        metric_readers=readers,
        resource=resource(service),
        # Exemplars would read the current span at every recording; nobody reads them here.
        exemplar_filter=AlwaysOffExemplarFilter(),
    )
    metrics.set_meter_provider(provider)
    _instruments = Instruments(provider.get_meter("agentsuite"))
    _recording = True
    _observe_process()


def shutdown_metrics() -> None:
    """Export what was recorded since the last export (at a graceful stop)."""
    provider = metrics.get_meter_provider()
    shutdown = getattr(provider, "shutdown", None)
    if _recording and shutdown is not None:
        shutdown(timeout_millis=5_000)


def observe(name: str, observer: Observer) -> None:
    """Read the observable gauge ``name`` from ``observer`` at every collection."""
    _instruments.add_observer(name, observer)


@contextlib.contextmanager
def timed(record: Callable[..., None], *args) -> Iterator[None]:
    """Call ``record(*args, seconds)`` with the time the block took (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        record(*args, time.perf_counter() - started)


def _record(name: str, value: float, *attributes) -> None:
    """Record ``value`` on instrument ``name`` (a histogram, or a counter's increment)."""
    _instruments.series(name, attributes)(value)


class _Bounded:
    """Free-form attribute values (model and embedder names), the first ``limit`` kept as they are
    and any later one reported as ``other``: a client choosing names cannot grow the series."""

    def __init__(self, limit: int = 50):
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        value = value[:100]
        self._seen.add(value)
        return value


_models = _Bounded()
_embedders = _Bounded()

# -- gRPC ---------------------------------------------------------------------------------------


def record_rpc_server(service: str, method: str, code: int, seconds: float) -> None:
    _record("rpc.server.duration", seconds, "grpc", service, method, code)


def record_rpc_client(service: str, method: str, code: int, seconds: float) -> None:
    _record("rpc.client.duration", seconds, "grpc", service, method, code)


# -- runs, lanes and leases (gateway) ----------------------------------------------------------


def record_run_accepted(runs_ahead: int) -> None:
    _record("agentsuite.runs.accepted", 1)
    _record("agentsuite.lane.queue_depth", runs_ahead)


def record_run_started(queued_seconds: float | None) -> None:
    _record("agentsuite.runs.active", 1)
    if queued_seconds is not None:
        _record("agentsuite.run.queue_wait", max(0.0, queued_seconds))


def record_run_finished(status: str, stop_reason: str, seconds: float) -> None:
    _record("agentsuite.runs.active", -1)
    _record("agentsuite.runs.finished", 1, status, stop_reason)
    _record("agentsuite.run.duration", seconds, status)


def record_run_abandoned() -> None:
    """A run stopped executing here without finishing (lease lost, shutdown): no longer active."""
    _record("agentsuite.runs.active", -1)


def record_lease_acquired(*, takeover: bool) -> None:
    _record("agentsuite.lease.acquired", 1)
    if takeover:
        _record("agentsuite.lease.takeovers", 1)


def record_lease_lost() -> None:
    _record("agentsuite.lease.lost", 1)


# -- the agent loop ------------------------------------------------------------------------------


def record_llm_call(
    model: str,
    outcome: str,
    seconds: float,
    first_token_seconds: float | None,
    prompt_tokens: int | None,
    completion_tokens: int | None,
) -> None:
    model = _models(model)
    _record("agentsuite.llm.duration", seconds, model, outcome)
    if first_token_seconds is not None:
        _record("agentsuite.llm.time_to_first_token", first_token_seconds, model, outcome)
    if prompt_tokens is not None:
        _record("agentsuite.llm.tokens", prompt_tokens, model, "prompt")
    if completion_tokens is not None:
        _record("agentsuite.llm.tokens", completion_tokens, model, "completion")


def record_tool_execution(kind: str, outcome: str, seconds: float) -> None:
    _record("agentsuite.tool.executions", 1, kind, outcome)
    _record("agentsuite.tool.duration", seconds, kind, outcome)


# -- memory --------------------------------------------------------------------------------------


def record_messages_appended(count: int) -> None:
    if count:
        _record("agentsuite.messages.appended", count)


def record_archival_search(mode: str, seconds: float) -> None:
    _record("agentsuite.archival.search.duration", seconds, mode)


def record_embedding(embedder: str, seconds: float) -> None:
    _record("agentsuite.embedding.duration", seconds, _embedders(embedder))


# -- the database --------------------------------------------------------------------------------


def record_db_operation(operation: str, seconds: float) -> None:
    _record("db.client.operation.duration", seconds, "postgresql", operation)


def record_pool_wait(pool: str, seconds: float) -> None:
    _record("db.client.connections.wait_time", seconds, pool)


def observe_pool(pool: str, *, used: Callable[[], int], idle: Callable[[], int], most: int) -> None:
    """Report a connection pool's use (``used`` and ``idle`` read at collection time)."""
    name = {"db.client.connection.pool.name": pool}
    observe(
        "db.client.connections.usage",
        lambda: [(used(), {**name, "db.client.connection.state": "used"}),
                 (idle(), {**name, "db.client.connection.state": "idle"})],
    )  # fmt: skip
    observe("db.client.connections.max", lambda: [(most, name)])


# -- the process ---------------------------------------------------------------------------------


def _observe_process() -> None:
    import psutil

    process = psutil.Process()
    observe(
        "process.cpu.time",
        lambda: [
            (t, {"cpu.mode": mode})
            for mode, t in zip(("user", "system"), process.cpu_times()[:2], strict=True)
        ],
    )
    observe("process.memory.usage", lambda: [(process.memory_info().rss, {})])
    observe("process.unix.file_descriptor.count", lambda: [(process.num_fds(), {})])
