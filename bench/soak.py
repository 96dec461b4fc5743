"""A soak: the suite at half its measured capacity for minutes, watching for leaks and drift.

    python bench/soak.py [--minutes 10] [--rate N] [--agents 20] [--llm-latency-ms 0]

Starts a throw-away suite (embedded PostgreSQL, fake LLM, four service processes) and, unless
``--rate`` is given, measures its capacity briefly (a closed loop of ``--capacity-concurrency``
conversations for ``--capacity-seconds``). Then it offers half of that rate as an open loop
(Poisson arrivals: a slow answer does not slow the offered load), first ``--warmup-seconds``
unrecorded, then ``--minutes``: new messages to agents chosen at random among ``--agents``, each
with a fresh idempotency key; a client retrying a recent message with its key (it must get the
same run back); a read of an agent's newest history page.

Prints one JSON document: each service's and PostgreSQL's resident memory and open descriptors at
the start and end (and each minute), p50/p99 of new messages per minute, the errors by status
code, and the verdicts against the goals (memory growth < 10%, descriptors flat, p99 within 2x of
the first minute). Exits with status 1 when a verdict fails. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from bench import footprint
from bench.fleet import create_agents
from bench.harness import RunningSuite, log, machine, parse_args_with_env, running_suite
from bench.load import closed_loop, percentile
from bench.throughput import send_message_call, service_pids
from services.common.stored_cache import DEFAULT_LIMIT as CACHED_MESSAGES

CALL_TIMEOUT_S = 30.0
MAX_IN_FLIGHT = 2000
"""Arrivals beyond this many unanswered calls are not sent but counted (``shed``): a suite that
falls that far behind has failed the soak, and the client must not become the thing that leaks."""
RECENT_SENDS = 256
"""Answered messages a client retry picks from."""
MEMORY_GROWTH_LIMIT = 0.10
JUDGED = {
    "postgres": {"memory": "private_mib_per_process", "flat": {}},
    "service": {"memory": "rss_mib", "flat": {"fds": 10}},
}
"""What each verdict reads, and the slack of each "flat" series: a service's resident memory and
descriptors; PostgreSQL's private memory per process. PostgreSQL's descriptors are reported, not
judged: each backend keeps the files of the tables and indexes it has touched open (up to
max_files_per_process), and its number of backends follows the services' pools (opened on demand);
a connection a service leaks is a descriptor of that service."""
P99_FACTOR = 2.0
MIN_WARMUP_SECONDS = 30.0
WATCHED = ("gateway", "agent", "memory", "tools", "postgres")
"""The processes the verdicts judge; the fake LLM is reported, not judged."""


@dataclass(frozen=True)
class Call:
    """One call the soak made: when it began (seconds into the window), how long it took, and how
    it ended (``OK``, a status code's name, ``run:<stop reason>``, or ``retry:other_run``)."""

    kind: str
    began: float
    latency: float
    outcome: str


class Traffic:
    """The mix of calls the soak offers: new messages, client retries and history reads."""

    def __init__(self, channel: grpc.aio.Channel, metadata, agent_ids: list[str], args, rng: random.Random):
        self._conversation = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        self._memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
        self._metadata = metadata
        self._agents = agent_ids
        self._retry_share = args.retry_share
        self._read_share = args.read_share
        self._rng = rng
        self._numbers = itertools.count(1)
        self._recent: deque[tuple[gateway_service_pb2.SendMessageRequest, str]] = deque(maxlen=RECENT_SENDS)

    def next_call(self) -> tuple[str, Callable[[], Awaitable[str]]]:
        """The kind of the next arrival and the call that makes it."""
        roll = self._rng.random()
        if roll < self._read_share:
            return "read", self._read
        if roll < self._read_share + self._retry_share and self._recent:
            request, run_id = self._rng.choice(self._recent)
            return "retry", lambda: self._retry(request, run_id)
        return "send", self._send

    async def _send(self) -> str:
        number = next(self._numbers)
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=self._rng.choice(self._agents),
            messages=[common_pb2.InputMessage(content=f"soak message {number}: how are you today?")],
            idempotency_key=f"soak-{number}",
        )
        reply = await self._conversation.SendMessage(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        if reply.run.stop_reason != common_pb2.STOP_REASON_END_TURN:
            return f"run:{common_pb2.StopReason.Name(reply.run.stop_reason)}"
        self._recent.append((request, reply.run.id))
        return "OK"

    async def _retry(self, request: gateway_service_pb2.SendMessageRequest, run_id: str) -> str:
        reply = await self._conversation.SendMessage(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        return "OK" if reply.run.id == run_id else "retry:other_run"

    async def _read(self) -> str:
        request = memory_service_pb2.ListMessagesRequest(
            agent_id=self._rng.choice(self._agents), page_size=20, descending=True
        )
        await self._memory.ListMessages(request, metadata=self._metadata, timeout=CALL_TIMEOUT_S)
        return "OK"


async def open_loop(
    traffic: Traffic, *, rate: float, seconds: float, rng: random.Random
) -> tuple[list[Call], int]:
    """Offer ``rate`` calls/s (Poisson arrivals) for ``seconds``; wait for the last answers.
    Returns the calls and how many arrivals were shed (``MAX_IN_FLIGHT`` unanswered)."""
    calls: list[Call] = []
    in_flight: set[asyncio.Task] = set()
    shed = 0
    start = time.perf_counter()

    async def make(kind: str, call: Callable[[], Awaitable[str]], began: float) -> None:
        try:
            outcome = await call()
        except grpc.aio.AioRpcError as error:
            outcome = error.code().name
        except Exception as error:  # a bug of the client must show in the report, not end the soak
            outcome = f"client:{type(error).__name__}"
        calls.append(Call(kind, began - start, time.perf_counter() - began, outcome))

    arrival = start
    while (arrival := arrival + rng.expovariate(rate)) < start + seconds:
        await asyncio.sleep(max(0.0, arrival - time.perf_counter()))
        if len(in_flight) >= MAX_IN_FLIGHT:
            shed += 1
            continue
        kind, call = traffic.next_call()
        task = asyncio.create_task(make(kind, call, time.perf_counter()))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight)
    return calls, shed


async def sample_every_minute(pids: dict[str, int], samples: list[dict], stop: asyncio.Event) -> None:
    """A footprint reading at once, then each minute, and a last one once ``stop`` is set."""
    started = time.perf_counter()

    async def read() -> None:
        reading = await asyncio.to_thread(footprint.sample, pids)
        samples.append({"minute": round((time.perf_counter() - started) / 60, 2), "processes": reading})

    await read()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=60.0)
        except TimeoutError:
            pass
        await read()


async def measure_capacity(running: RunningSuite, metadata, args) -> dict:
    """Messages/s of a closed loop of fresh agents (as ``throughput.py`` measures it)."""
    async with grpc.aio.insecure_channel(running.gateway_address) as channel:
        agents, _ = await create_agents(channel, metadata, args.capacity_concurrency, "soak-capacity")
        log(f"capacity: {args.capacity_concurrency} conversations for {args.capacity_seconds:g}s")
        return await closed_loop(
            send_message_call(channel, metadata, agents),
            concurrency=args.capacity_concurrency,
            seconds=args.capacity_seconds,
            warmup=3.0,
        )


def per_minute(calls: list[Call], minutes: int) -> list[dict]:
    """p50/p99 of new messages, and errors of every kind, in each minute of the window."""
    rows = []
    for minute in range(minutes):
        inside = [c for c in calls if minute * 60 <= c.began < (minute + 1) * 60]
        sends = sorted(c.latency for c in inside if c.kind == "send" and c.outcome == "OK")
        rows.append(
            {
                "minute": minute + 1,
                "sends": len(sends),
                "sends_per_s": round(len(sends) / 60, 1),
                "p50_ms": _ms(percentile(sends, 0.50)),
                "p99_ms": _ms(percentile(sends, 0.99)),
                "errors": sum(1 for c in inside if c.outcome != "OK"),
            }
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def by_kind(calls: list[Call]) -> dict:
    summary = {}
    for kind in ("send", "retry", "read"):
        latencies = sorted(c.latency for c in calls if c.kind == kind and c.outcome == "OK")
        summary[kind] = {
            "calls": sum(1 for c in calls if c.kind == kind),
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p99_ms": _ms(percentile(latencies, 0.99)),
        }
    return summary


def processes_report(samples: list[dict]) -> dict:
    """Start, end and the minute-by-minute series of each process."""
    report = {}
    for name in samples[0]["processes"]:
        series = [{"minute": s["minute"], **s["processes"][name]} for s in samples]
        report[name] = {"start": series[0], "end": series[-1], "per_minute": series}
    return report


def verdicts(processes: dict, minutes: list[dict]) -> dict:
    """The goals: memory growth under 10% from start to end; descriptors flat (no reading at the
    end above the most seen in the soak's first half, plus a slack: pools fill up early and stay
    within their size, a leak keeps growing); p99 of every later minute within 2x of the first's."""
    growth, flat, gone = {}, {}, []
    for name in WATCHED:
        series = processes[name]["per_minute"]
        if any(reading.get("gone") for reading in series):
            gone.append(name)
            continue
        judged = JUDGED["postgres" if name == "postgres" else "service"]
        start, end = series[0][judged["memory"]], series[-1][judged["memory"]]
        growth[name] = round(100 * (end - start) / start, 1)
        first_half = series[: (len(series) + 1) // 2]
        for key, slack in judged["flat"].items():
            most_early = max(reading[key] for reading in first_half)
            flat[f"{name}.{key}"] = {
                "start": series[0][key],
                "most_in_first_half": most_early,
                "end": series[-1][key],
                "flat": series[-1][key] <= most_early + slack,
            }
    p99s = [m["p99_ms"] for m in minutes if m["p99_ms"] is not None]
    first_p99 = p99s[0] if p99s else None
    worst_p99 = max(p99s[1:], default=first_p99)
    return {
        "memory_growth_below_10_pct": {
            "pass": not gone and all(g < 100 * MEMORY_GROWTH_LIMIT for g in growth.values()),
            "growth_pct": growth,
            **({"gone": gone} if gone else {}),
        },
        "descriptors_flat": {
            "pass": not gone and all(f["flat"] for f in flat.values()),
            "series": flat,
        },
        "p99_within_2x_of_first_minute": {
            "pass": first_p99 is not None and worst_p99 <= P99_FACTOR * first_p99,
            "first_minute_p99_ms": first_p99,
            "worst_later_minute_p99_ms": worst_p99,
        },
    }


async def run(args) -> dict:
    document: dict = {"machine": machine(), "config": _config(args)}
    rng = random.Random(args.seed)
    async with running_suite(llm_latency_ms=args.llm_latency_ms, env=args.env) as running:
        metadata = (("authorization", f"Bearer {running.api_key}"),)
        pids = service_pids(running)
        rate = args.rate
        if rate is None:
            capacity = await measure_capacity(running, metadata, args)
            document["capacity"] = capacity
            rate = capacity["messages_per_s"] / 2
        document["rate_per_s"] = round(rate, 1)
        warmup = args.warmup_seconds
        if warmup is None:
            warmup = warmup_seconds(rate, args)
        document["warmup_seconds"] = round(warmup, 1)
        async with grpc.aio.insecure_channel(running.gateway_address) as channel:
            agents, _ = await create_agents(channel, metadata, args.agents, "soak")
            traffic = Traffic(channel, metadata, agents, args, rng)
            log(f"warm-up: {rate:.1f} calls/s for {warmup:.0f}s")
            await open_loop(traffic, rate=rate, seconds=warmup, rng=rng)
            log(f"soak: {rate:.1f} calls/s for {args.minutes} minutes")
            samples: list[dict] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_every_minute(pids, samples, stop))
            calls, shed = await open_loop(traffic, rate=rate, seconds=args.minutes * 60, rng=rng)
            stop.set()
            await sampler
    minutes = per_minute(calls, args.minutes)
    processes = processes_report(samples)
    outcomes = Counter(c.outcome for c in calls if c.outcome != "OK")
    document["soak"] = {
        "calls": len(calls),
        "achieved_per_s": round(len(calls) / (args.minutes * 60), 1),
        "shed": shed,
        "by_kind": by_kind(calls),
        "errors_by_status": dict(outcomes.most_common()),
        "per_minute": minutes,
    }
    document["processes"] = processes
    document["verdicts"] = verdicts(processes, minutes)
    document["pass"] = all(v["pass"] for v in document["verdicts"].values())
    return document


def warmup_seconds(rate: float, args) -> float:
    """Long enough for the services' bounded caches of stored messages (``CACHED_MESSAGES`` each,
    in the agent and memory services) to fill with new messages (two per message sent): the start
    is then read at the memory the suite keeps, and what grows after it is not a cache filling."""
    new_messages_per_s = 2 * rate * (1 - args.retry_share - args.read_share)
    return max(MIN_WARMUP_SECONDS, CACHED_MESSAGES / new_messages_per_s)


def _config(args) -> dict:
    return {
        "minutes": args.minutes,
        "rate": args.rate,
        "rate_from": "--rate" if args.rate is not None else "half the measured capacity",
        "agents": args.agents,
        "retry_share": args.retry_share,
        "read_share": args.read_share,
        "warmup_seconds": args.warmup_seconds,
        "capacity_seconds": args.capacity_seconds,
        "capacity_concurrency": args.capacity_concurrency,
        "llm_latency_ms": args.llm_latency_ms,
        "seed": args.seed,
        "service_env": args.env,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10, help="length of the soak (default 10)")
    parser.add_argument("--rate", type=float, help="calls/s to offer; default: half the measured capacity")
    parser.add_argument("--agents", type=int, default=20, help="agents the messages go to (default 20)")
    parser.add_argument("--retry-share", type=float, default=0.05, help="share of client retries (0.05)")
    parser.add_argument("--read-share", type=float, default=0.05, help="share of history reads (0.05)")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        help="unrecorded load first; default: until the message caches are full (at least 30)",
    )
    parser.add_argument("--capacity-seconds", type=float, default=15.0, help="capacity window (15)")
    parser.add_argument("--capacity-concurrency", type=int, default=32, help="capacity loop (32)")
    parser.add_argument("--llm-latency-ms", type=float, default=0.0, help="fake LLM delay (0)")
    parser.add_argument("--seed", type=int, default=14, help="seed of arrivals, agents and the mix")
    args = parse_args_with_env(parser, argv)
    if args.minutes < 1:
        parser.error("--minutes must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    if not 0 <= args.retry_share + args.read_share < 1:
        parser.error("--retry-share and --read-share must leave room for new messages")
    return args


def main(argv: list[str] | None = None) -> None:
    document = asyncio.run(run(parse_args(argv)))
    print(json.dumps(document, indent=2))
    if not document["pass"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
