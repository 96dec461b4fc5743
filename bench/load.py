"""A closed-loop load generator: N coroutines each calling as fast as answers come back.

Shared by the echo ceiling and the suite benchmark so both are measured the same way: a warm-up that
is not recorded, then a fixed window in which every call that starts is timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import psutil

Call = Callable[[int], Awaitable[None]]
"""One request of worker ``i``; raising counts as an error."""

MAX_ERROR_SAMPLES = 5


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


async def closed_loop(
    call: Call, *, concurrency: int, seconds: float, warmup: float, meter: CpuMeter | None = None
) -> dict:
    """Run ``concurrency`` workers for ``warmup + seconds``; summarise the measured window.

    Calls that start inside the window are counted even if they end just after it, so the loop
    stops by itself at most one call after the window closes. ``meter`` measures other processes
    (the servers) over the same window.
    """
    samples: list[tuple[float, float]] = []  # (start, latency) in start order per worker
    errors: list[str] = []
    started = time.perf_counter()
    window_start = started + warmup
    window_end = window_start + seconds
    process = psutil.Process()

    async def worker(index: int) -> None:
        while True:
            begin = time.perf_counter()
            if begin >= window_end:
                return
            try:
                await call(index)
            except Exception as exc:
                if begin >= window_start:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            if begin >= window_start:
                samples.append((begin, time.perf_counter() - begin))

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
    cpu_before = process.cpu_times()
    machine_before = psutil.cpu_times()
    if meter is not None:
        meter.start()
    await asyncio.gather(*tasks)
    cpu_after = process.cpu_times()
    machine_after = psutil.cpu_times()
    server_cpu = meter.stop() if meter is not None else None
    elapsed = max(seconds, time.perf_counter() - window_start)
    samples.sort()
    # A growing conversation history makes later calls slower: compare the window's two ends.
    tenth = max(1, len(samples) // 10)
    first = sorted(latency for _, latency in samples[:tenth])
    last = sorted(latency for _, latency in samples[-tenth:])
    latencies = sorted(latency for _, latency in samples)
    machine_busy = _busy(machine_after) - _busy(machine_before)
    client_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "messages": len(latencies),
        "messages_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
        "p50_first_tenth_ms": _ms(percentile(first, 0.50)),
        "p50_last_tenth_ms": _ms(percentile(last, 0.50)),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:MAX_ERROR_SAMPLES],
        # 1.0 means the client kept one core busy: then the client, not the server, may be the limit.
        "client_cpu_cores": round(client_cpu / elapsed, 2),
        "machine_busy_cores": round(machine_busy / elapsed, 2),
        **({"server_cpu_cores": server_cpu} if server_cpu is not None else {}),
        # CPU used by anything else on the machine (other test runs): high means a noisy result.
        "other_cpu_cores": round(
            machine_busy / elapsed - client_cpu / elapsed - sum((server_cpu or {}).values()), 2
        ),
    }


def _busy(times) -> float:
    """Busy CPU seconds of the machine (guest time is already inside user on Linux)."""
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq"))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class CpuMeter:
    """CPU time used by some processes between ``start`` and ``stop``, in cores (1.0 = one core busy)."""

    def __init__(self, pids: dict[str, int]):
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._before: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        self._before = {name: _cpu(p) for name, p in self._processes.items()}

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._started
        return {name: round(seconds / elapsed, 2) for name, seconds in self.stop_seconds().items()}

    def stop_seconds(self) -> dict[str, float]:
        """CPU seconds used by each process since ``start``, unrounded."""
        return {name: _cpu(p) - self._before[name] for name, p in self._processes.items()}


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and of all its children, live or already reaped.

    PostgreSQL's backends are children of the postmaster; a backend that exits during the window
    moves from the live children into the postmaster's ``children_*`` times, so nothing is lost.
    """
    try:
        times = process.cpu_times()
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = times.user + times.system + times.children_user + times.children_system
    for child in children:
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue  # reaped between the two calls: its time is in children_* next time
        total += child_times.user + child_times.system
    return total


async def paired(calls: dict[str, Call], *, seconds: float, warmup: float) -> dict:
    """Concurrency 1, the calls taking turns: each sees the same history length and machine state.
    The summary has each call's p50 and p99, the p50 of (second - first) per round, and the
    difference of the two p50s.

    Run one after the other instead, the difference would drown in the drift of a growing history.
    """
    rounds: list[dict[str, float]] = []
    errors: dict[str, int] = dict.fromkeys(calls, 0)
    window_start = time.perf_counter() + warmup
    window_end = window_start + seconds
    while (round_start := time.perf_counter()) < window_end:
        measured = round_start >= window_start
        timings = {}
        for name, call in calls.items():
            begin = time.perf_counter()
            try:
                await call(0)
            except Exception:
                if measured:
                    errors[name] += 1
                continue
            timings[name] = time.perf_counter() - begin
        if measured and len(timings) == len(calls):
            rounds.append(timings)
    summary: dict = {"rounds": len(rounds)}
    for name in calls:
        values = sorted(r[name] for r in rounds)
        summary[name] = {
            "p50_ms": _ms(percentile(values, 0.50)),
            "p99_ms": _ms(percentile(values, 0.99)),
            "errors": errors[name],
        }
    first, second = calls
    differences = sorted(r[second] - r[first] for r in rounds)
    summary["p50_of_round_differences_ms"] = _ms(percentile(differences, 0.50))
    p50s = (summary[first]["p50_ms"], summary[second]["p50_ms"])
    summary["difference_of_p50s_ms"] = None if None in p50s else round(p50s[1] - p50s[0], 3)
    return summary
