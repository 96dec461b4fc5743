"""Overhead of one sandboxed tool call, end to end through the tools service over gRPC.

Starts an embedded PostgreSQL and the tools service (``python -m services.tools``) in a temporary
directory, stores a trivial tool, then for each sandbox mode (cold: a new bubblewrap + Python per
call; warm: the same, but started ahead of time and used once) measures:

- sequential latency of ``ToolRuntime.Execute`` (p50/p90/p99/max) and the part spent inside the
  sandbox (``ExecutionResult.duration``);
- bursts of ``--burst`` concurrent calls: every one must succeed.

Prints one JSON document on stdout; progress goes to stderr.

    .venv/bin/python bench/tools.py
    .venv/bin/python bench/tools.py --calls 500 --burst 20 --warm 0,4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from bench.harness import free_ports, log, machine
from services.common.call import TENANT_KEY
from services.common.embedded_pg import EmbeddedPostgres
from services.tools.store.sealing import generate_key

TRIVIAL = '''
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b
'''
METADATA = ((TENANT_KEY, "bench"),)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict:
    return {
        "p50": round(percentile(values, 0.50) * 1000, 2),
        "p90": round(percentile(values, 0.90) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
        "max": round(max(values) * 1000, 2),
        "mean": round(statistics.fmean(values) * 1000, 2),
    }


async def start_service(url: str, state: Path, warm: int) -> tuple[asyncio.subprocess.Process, str]:
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AGENTSUITE_HOST": "127.0.0.1",
        "AGENTSUITE_PORT": str(port),
        "AGENTSUITE_SECRETS_KEY": generate_key(),
        "AGENTSUITE_LOG_LEVEL": "WARNING",
        "AGENTSUITE_TOOLS_WARM_SANDBOXES": str(warm),
    }
    with (state / f"tools-warm{warm}.log").open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.tools", env=env, stderr=log_file
        )
    address = f"127.0.0.1:{port}"
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            if process.returncode is not None:
                raise RuntimeError(f"tools service exited; see {state}/tools-warm{warm}.log")
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return process, address
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("tools service did not start")


async def measure(address: str, *, calls: int, burst: int, rounds: int, warm: int) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        tools = tools_service_pb2_grpc.ToolServiceStub(channel)
        runtime = tools_service_pb2_grpc.ToolRuntimeStub(channel)
        created = await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(name=f"add_{warm}", source_code=TRIVIAL)),
            metadata=METADATA,
            timeout=10,
        )
        request = tools_service_pb2.ExecuteRequest(tool_id=created.tool.id, arguments_json='{"a": 1, "b": 2}')

        async def one() -> tuple[float, float, int]:
            started = time.perf_counter()
            reply = await runtime.Execute(request, metadata=METADATA, timeout=30)
            elapsed = time.perf_counter() - started
            inside = reply.result.duration.ToTimedelta().total_seconds()
            return elapsed, inside, reply.result.status

        for _ in range(20):  # warm-up: connections, caches, the pool's first fill
            await one()
        if warm:
            await asyncio.sleep(1.0)
        latencies, inside = [], []
        for _ in range(calls):
            elapsed, sandbox, status = await one()
            assert status == tools_pb2.EXECUTION_STATUS_OK, status
            latencies.append(elapsed)
            inside.append(sandbox)
            if warm:
                await asyncio.sleep(0.01)  # a sequential caller with think time lets the pool refill
        bursts = []
        for _ in range(rounds):
            started = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(burst)), return_exceptions=True)
            failed = [
                r for r in results if isinstance(r, BaseException) or r[2] != tools_pb2.EXECUTION_STATUS_OK
            ]
            bursts.append(
                {
                    "wall_ms": round((time.perf_counter() - started) * 1000, 1),
                    "failed": len(failed),
                    "slowest_ms": round(
                        max((r[0] for r in results if not isinstance(r, BaseException)), default=0) * 1000, 1
                    ),
                }
            )
            await asyncio.sleep(0.5)
    return {
        "warm_sandboxes": warm,
        "calls": calls,
        "latency_ms": summary_ms(latencies),
        "inside_sandbox_ms": summary_ms(inside),
        "burst": {"concurrency": burst, "rounds": bursts, "all_ok": all(b["failed"] == 0 for b in bursts)},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warm", default="0,4", help="warm-sandbox pool sizes to compare")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="agentsuite-bench-tools-") as tmp:
        state = Path(tmp)
        await asyncio.to_thread(
            state.chmod, 0o711
        )  # the embedded server may run as another user who must reach it
        postgres = EmbeddedPostgres(state, fast=True)
        url = await asyncio.to_thread(postgres.ensure_running)
        try:
            for warm in [int(w) for w in args.warm.split(",")]:
                log(f"bench: tools service with {warm} warm sandboxes")
                process, address = await start_service(url, state, warm)
                try:
                    results.append(
                        await measure(
                            address, calls=args.calls, burst=args.burst, rounds=args.rounds, warm=warm
                        )
                    )
                finally:
                    process.terminate()
                    await asyncio.wait_for(process.wait(), 30)
        finally:
            await asyncio.to_thread(postgres.stop)
    print(json.dumps({"benchmark": "tools", "machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
