"""``agentsuite top``: a live view of a running suite, read from its services' Prometheus endpoints.

Every refresh scrapes each endpoint (``AGENTSUITE_METRICS_PORT`` of each service; ``agentsuite up``
serves them on the ports of :data:`services.common.metrics.DEFAULT_METRICS_PORTS`) and shows what
changed since the previous one: messages per second, runs executing, how deep agents' queues were,
p50/p99 per service and per method, and the model's and the tools' latency. The first frame counts
from each service's start.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group, JustifyMethod
from rich.live import Live
from rich.table import Table
from rich.text import Text

from services.cli.context import Context
from services.cli.parsing import command
from services.common.metrics import DEFAULT_METRICS_PORTS

Labels = tuple[tuple[str, str], ...]

RPC_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("service", "left"),
    ("method", "left"),
    ("calls", "right"),
    ("p50", "right"),
    ("p99", "right"),
    ("errors", "right"),
)
WORK_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("what", "left"),
    ("calls", "right"),
    ("p50", "right"),
    ("p99", "right"),
    ("first token p50", "right"),
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    top = command(
        commands,
        "top",
        "a live view of the suite's traffic and latency, from its metrics; Ctrl-C leaves",
        _top,
        gateway=False,
        json=False,
    )
    top.add_argument(
        "--metrics",
        action="append",
        metavar="HOST:PORT",
        help="a service's metrics endpoint (repeatable; default: the ports agentsuite up serves, "
        + ", ".join(f"{s} {p}" for s, p in DEFAULT_METRICS_PORTS.items())
        + ")",
    )
    top.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes (2)")
    top.add_argument("--once", action="store_true", help="print one view (since start) and exit")


@dataclass
class Scrape:
    """One endpoint's samples: name → labels → value."""

    service: str
    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)
    at: float = 0.0

    def value(self, name: str, **match: str) -> float:
        return sum(v for labels, v in self.samples.get(name, {}).items() if _matches(labels, match))

    def series(self, name: str) -> dict[Labels, float]:
        return self.samples.get(name, {})


def _matches(labels: Labels, match: dict[str, str]) -> bool:
    present = dict(labels)
    return all(present.get(key) == value for key, value in match.items())


def parse(text: str, fallback: str) -> Scrape:
    scrape = Scrape(service=fallback, at=time.monotonic())
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope")))
            if sample.name == "target_info" and "service_name" in sample.labels:
                scrape.service = sample.labels["service_name"].removeprefix("agentsuite-")
            scrape.samples.setdefault(sample.name, {})[labels] = sample.value
    return scrape


async def scrape_all(client: httpx.AsyncClient, endpoints: Sequence[str]) -> list[Scrape | str]:
    """Each endpoint's scrape, or why it could not be read."""

    async def one(endpoint: str) -> Scrape | str:
        try:
            answer = await client.get(f"http://{endpoint}/metrics")
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            return f"{endpoint}: {type(exc).__name__}"
        return parse(answer.text, endpoint)

    return list(await asyncio.gather(*(one(endpoint) for endpoint in endpoints)))


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of a cumulative histogram (upper bound → count), interpolated within the
    bucket as Prometheus's ``histogram_quantile`` does; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def histograms(
    now: Scrape, before: Scrape | None, name: str, by: Iterable[str]
) -> dict[tuple[str, ...], dict[float, float]]:
    """Bucket counts of histogram ``name`` grown since ``before``, grouped by the labels ``by``."""
    keys = tuple(by)
    grouped: dict[tuple[str, ...], dict[float, float]] = defaultdict(lambda: defaultdict(float))
    earlier = before.series(f"{name}_bucket") if before else {}
    for labels, value in now.series(f"{name}_bucket").items():
        present = dict(labels)
        group = tuple(present.get(key, "") for key in keys)
        grouped[group][float(present["le"])] += value - earlier.get(labels, 0.0)
    return grouped


def _rate(now: Scrape, before: Scrape | None, name: str) -> float | None:
    if before is None:
        return None
    seconds = now.at - before.at
    return (now.value(name) - before.value(name)) / seconds if seconds > 0 else None


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def _count(buckets: dict[float, float]) -> float:
    return max(buckets.values(), default=0.0)


@dataclass
class View:
    """What one refresh shows, from the latest scrapes and the previous ones."""

    scrapes: list[Scrape]
    previous: dict[str, Scrape]
    problems: list[str]

    def _before(self, scrape: Scrape) -> Scrape | None:
        return self.previous.get(scrape.service)

    def summary(self) -> Table:
        table = Table(title="agentsuite", title_justify="left", expand=True)
        for column in ("messages/s", "runs active", "lanes", "queue depth p99 / max", "runs finished"):
            table.add_column(column, justify="right")
        gateways = [s for s in self.scrapes if s.samples.get("agentsuite_runs_accepted_total") is not None]
        rates = [_rate(s, self._before(s), "agentsuite_runs_accepted_total") for s in gateways]
        known = [r for r in rates if r is not None]
        depth: defaultdict[float, float] = defaultdict(float)
        finished: defaultdict[str, float] = defaultdict(float)
        for scrape in gateways:
            for le, count in (
                histograms(scrape, self._before(scrape), "agentsuite_lane_queue_depth", ())
                .get((), {})
                .items()
            ):
                depth[le] += count
            before = self._before(scrape)
            for labels, value in scrape.series("agentsuite_runs_finished_total").items():
                earlier = before.series("agentsuite_runs_finished_total").get(labels, 0.0) if before else 0.0
                finished[dict(labels).get("status", "?")] += value - earlier
        deepest = _largest_observed(dict(depth))
        p99 = quantile(0.99, dict(depth))
        table.add_row(
            f"{sum(known):.1f}" if known else "…",
            f"{sum(s.value('agentsuite_runs_active') for s in gateways):.0f}",
            f"{sum(s.value('agentsuite_lanes_active') for s in gateways):.0f}",
            f"{'-' if p99 is None else f'{p99:.0f}'} / {'-' if deepest is None else f'≤{deepest:g}'}",
            ", ".join(f"{status} {count:.0f}" for status, count in sorted(finished.items()) if count) or "-",
        )
        return table

    def services(self) -> Table:
        table = Table(title="RPCs served (ms)", title_justify="left", expand=True)
        for column, justify in RPC_COLUMNS:
            table.add_column(column, justify=justify)
        for scrape in sorted(self.scrapes, key=lambda s: s.service):
            before = self._before(scrape)
            by_method = histograms(scrape, before, "rpc_server_duration_seconds", ("rpc_method",))
            whole: dict[float, float] = defaultdict(float)
            for buckets in by_method.values():
                for le, count in buckets.items():
                    whole[le] += count
            errors = _errors(scrape, before)
            table.add_row(
                Text(scrape.service, style="bold"),
                "all",
                f"{_count(whole):.0f}",
                _ms(quantile(0.5, whole)),
                _ms(quantile(0.99, whole)),
                f"{sum(errors.values()):.0f}",
            )
            busiest = sorted(by_method.items(), key=lambda item: -_count(item[1]))[:4]
            for (method,), buckets in busiest:
                if _count(buckets) <= 0:
                    continue
                table.add_row(
                    "",
                    method,
                    f"{_count(buckets):.0f}",
                    _ms(quantile(0.5, buckets)),
                    _ms(quantile(0.99, buckets)),
                    f"{errors.get(method, 0):.0f}",
                )
        return table

    def work(self) -> Table:
        table = Table(title="model and tools (ms)", title_justify="left", expand=True)
        for column, justify in WORK_COLUMNS:
            table.add_column(column, justify=justify)
        for scrape in self.scrapes:
            before = self._before(scrape)
            first = histograms(scrape, before, "agentsuite_llm_time_to_first_token_seconds", ("model",))
            for (model, outcome), buckets in sorted(
                histograms(scrape, before, "agentsuite_llm_duration_seconds", ("model", "outcome")).items()
            ):
                if _count(buckets) > 0:
                    table.add_row(
                        f"model {model} ({outcome})",
                        f"{_count(buckets):.0f}",
                        _ms(quantile(0.5, buckets)),
                        _ms(quantile(0.99, buckets)),
                        _ms(quantile(0.5, first.get((model,), {}))),
                    )
            for (kind, outcome), buckets in sorted(
                histograms(scrape, before, "agentsuite_tool_duration_seconds", ("kind", "outcome")).items()
            ):
                if _count(buckets) > 0:
                    table.add_row(
                        f"{kind} tools ({outcome})",
                        f"{_count(buckets):.0f}",
                        _ms(quantile(0.5, buckets)),
                        _ms(quantile(0.99, buckets)),
                        "",
                    )
        return table

    def render(self, interval: float) -> Group:
        since = "since the previous refresh" if self.previous else "since each service started"
        parts: list[Table | Text] = [self.summary(), self.services(), self.work()]
        footer = f"counts {since}; refreshing every {interval:g} s; Ctrl-C quits"
        if self.problems:
            footer += "\nunreachable: " + "; ".join(self.problems)
        parts.append(Text(footer, style="dim"))
        return Group(*parts)


def _largest_observed(buckets: dict[float, float]) -> float | None:
    """The upper bound of the bucket holding the largest observation (buckets are cumulative)."""
    total = buckets.get(math.inf, 0.0)
    if total <= 0:
        return None
    return min((le for le, count in buckets.items() if count >= total), default=None)


def _errors(now: Scrape, before: Scrape | None) -> dict[str, float]:
    errors: dict[str, float] = defaultdict(float)
    earlier = before.series("rpc_server_duration_seconds_count") if before else {}
    for labels, value in now.series("rpc_server_duration_seconds_count").items():
        present = dict(labels)
        if present.get("rpc_grpc_status_code", "0") != "0":
            errors[present.get("rpc_method", "")] += value - earlier.get(labels, 0.0)
    return errors


def endpoints_of(args: argparse.Namespace) -> list[str]:
    return args.metrics or [f"127.0.0.1:{port}" for port in DEFAULT_METRICS_PORTS.values()]


async def _top(context: Context, args: argparse.Namespace) -> int:
    return await run_top(args)


async def run_top(args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    endpoints = endpoints_of(args)
    async with httpx.AsyncClient(timeout=max(0.5, min(args.interval, 2.0))) as client:
        previous: dict[str, Scrape] = {}
        view = await _view(client, endpoints, previous)
        if not view.scrapes:
            console.print(
                "agentsuite top: no service answered at " + ", ".join(endpoints) + ".\n"
                "Is the suite running (agentsuite up serves its metrics), or are its metrics on "
                "other ports (--metrics HOST:PORT; AGENTSUITE_METRICS_PORT of each service)?",
                style="red",
            )
            return 1
        if args.once:
            console.print(view.render(args.interval))
            return 0
        with Live(view.render(args.interval), console=console, auto_refresh=False, screen=False) as live:
            try:
                while True:
                    previous = {scrape.service: scrape for scrape in view.scrapes}
                    await asyncio.sleep(args.interval)
                    view = await _view(client, endpoints, previous)
                    live.update(view.render(args.interval), refresh=True)
            except asyncio.CancelledError:
                pass
    return 0


async def _view(client: httpx.AsyncClient, endpoints: Sequence[str], previous: dict[str, Scrape]) -> View:
    results = await scrape_all(client, endpoints)
    scrapes = [r for r in results if isinstance(r, Scrape)]
    return View(scrapes, previous, [r for r in results if isinstance(r, str)])
