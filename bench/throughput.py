"""Messages per second and latency of the whole suite, against the grpc.aio echo ceiling.

    python bench/throughput.py --concurrency 1,32 --seconds 10 [--llm-latency-ms 0]

Starts a throw-away suite (embedded PostgreSQL, fake LLM, four service processes), then from this
process (one asyncio loop, one shared channel) runs N concurrent conversations, each with its own
agent, calling ``SendMessage`` in a loop. It also measures the echo ceiling and the gateway's own
cost (``SendMessage`` vs ``AgentRuntime.Step`` called directly). Prints one JSON document on
stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from bench import echo
from bench.harness import RunningSuite, log, machine, parse_args_with_env, running_suite
from bench.load import CpuMeter, closed_loop, paired
from services.cli.supervisor import SERVICES
from services.common.call import TENANT_KEY
from services.common.ports import free_port
from tests.e2e.otlp_receiver import OtlpSink

MESSAGE = "hello there, how are you today?"
PROFILED = ("gateway", "agent", "memory")
CALL_TIMEOUT_S = 30.0


async def create_agents(channel: grpc.aio.Channel, metadata, count: int, prefix: str) -> list[str]:
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    ids = []
    for index in range(count):
        agent = agent_pb2.Agent(
            name=f"{prefix}-{index}",
            system_prompt="You are a benchmark agent.",
            model=agent_pb2.ModelConfig(provider="openai", model="bench"),
        )
        reply = await stub.CreateAgent(agent_service_pb2.CreateAgentRequest(agent=agent), metadata=metadata)
        ids.append(reply.agent.id)
    return ids


def send_message_call(channel: grpc.aio.Channel, metadata, agent_ids: list[str]):
    """One ``SendMessage`` of worker ``i`` to its own agent; a failed run counts as an error."""
    stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
    requests = [
        gateway_service_pb2.SendMessageRequest(
            agent_id=agent_id, messages=[common_pb2.InputMessage(content=MESSAGE)]
        )
        for agent_id in agent_ids
    ]

    async def call(worker: int) -> None:
        reply = await stub.SendMessage(requests[worker], metadata=metadata, timeout=CALL_TIMEOUT_S)
        if reply.run.stop_reason != common_pb2.STOP_REASON_END_TURN:
            raise RuntimeError(f"run stopped with {common_pb2.StopReason.Name(reply.run.stop_reason)}")

    return call


def step_call(channel: grpc.aio.Channel, tenant: str, agent_id: str):
    """``AgentRuntime.Step`` straight to the agent service, as the gateway calls it for ``SendMessage``
    (whole messages only: no text deltas)."""
    stub = agent_service_pb2_grpc.AgentRuntimeStub(channel)
    metadata = ((TENANT_KEY, tenant),)
    message = common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_USER, content=MESSAGE)

    async def call(_worker: int) -> None:
        request = agent_service_pb2.StepRequest(
            agent_id=agent_id, run_id=str(uuid.uuid4()), epoch=0, input=[message], omit_deltas=True
        )
        stop = None
        async for response in stub.Step(request, metadata=metadata, timeout=CALL_TIMEOUT_S):
            if response.event.WhichOneof("event") == "stop":
                stop = response.event.stop.reason
        if stop != common_pb2.STOP_REASON_END_TURN:
            raise RuntimeError(f"step stopped with {stop}")

    return call


def service_pids(running: RunningSuite) -> dict[str, int]:
    pids = {name: process.pid for name, process in running.suite.processes.items()}
    pids["fake_llm"] = running.llm_pid
    postmaster = running.postgres_pid
    if postmaster is not None:
        pids["postgres"] = postmaster
    return pids


class Profiler:
    """``py-spy record`` of the gateway, agent and memory processes for one measured window."""

    def __init__(self, directory: Path, pids: dict[str, int], *, seconds: float, delay: float):
        self._py_spy = shutil.which(
            "py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        )
        if self._py_spy is None:
            raise SystemExit("--profile-dir needs py-spy (pip install py-spy)")
        self._directory = directory
        self._pids = {name: pids[name] for name in PROFILED}
        self._seconds = seconds
        self._delay = delay

    async def record(self) -> None:
        """Wait out the warm-up, then sample every process for the window (folded stacks)."""
        self._directory.mkdir(parents=True, exist_ok=True)
        await asyncio.sleep(self._delay)
        recorders = [
            await asyncio.create_subprocess_exec(
                self._py_spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--duration",
                str(max(1, int(self._seconds))),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self._directory / f"{name}.folded"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for name, pid in self._pids.items()
        ]
        await asyncio.gather(*(recorder.wait() for recorder in recorders))


async def measure_suite(args, running: RunningSuite) -> dict:
    metadata = (("authorization", f"Bearer {running.api_key}"),)
    pids = service_pids(running)
    results = []
    async with grpc.aio.insecure_channel(running.gateway_address) as gateway:
        for concurrency in args.concurrency:
            agents = await create_agents(gateway, metadata, concurrency, f"bench-c{concurrency}")
            log(f"suite: concurrency {concurrency} for {args.warmup:g}s warm-up + {args.seconds:g}s")
            load = closed_loop(
                send_message_call(gateway, metadata, agents),
                concurrency=concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
                meter=CpuMeter(pids),
            )
            if args.profile_dir and concurrency == max(args.concurrency):
                profiler = Profiler(args.profile_dir, pids, seconds=args.seconds, delay=args.warmup)
                result, _ = await asyncio.gather(load, profiler.record())
            else:
                result = await load
            results.append(result)

        log(f"overhead: Step direct vs SendMessage, alternating, {args.overhead_seconds:g}s")
        direct_agent, gateway_agent = await create_agents(gateway, metadata, 2, "bench-overhead")
        async with grpc.aio.insecure_channel(running.agent_address) as agent_channel:
            overhead = await paired(
                {
                    "direct_step": step_call(agent_channel, running.tenant, direct_agent),
                    "through_gateway": send_message_call(gateway, metadata, [gateway_agent]),
                },
                seconds=args.overhead_seconds,
                warmup=args.warmup,
            )
    return {"suite": results, "overhead": overhead}


def _ratio(suite: list[dict], echo_results: list[dict]) -> dict | None:
    """Suite rate / echo rate, per concurrency and overall (best of each)."""
    if not echo_results:
        return None
    echo_by_level = {r["concurrency"]: r["messages_per_s"] for r in echo_results}
    ceiling = max(echo_by_level.values())
    return {
        "echo_ceiling_messages_per_s": ceiling,
        "best_suite_messages_per_s": max(r["messages_per_s"] for r in suite),
        "ratio": round(max(r["messages_per_s"] for r in suite) / ceiling, 4),
        "by_concurrency": {
            str(r["concurrency"]): round(r["messages_per_s"] / echo_by_level[r["concurrency"]], 4)
            for r in suite
            if echo_by_level.get(r["concurrency"])
        },
    }


async def run(args) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "overhead_seconds": args.overhead_seconds,
            "llm_latency_ms": args.llm_latency_ms,
            "message": MESSAGE,
            "profiled": bool(args.profile_dir),
            "service_env": args.env,
        },
    }
    if not args.skip_echo:
        document["echo"] = await echo.measure(args.concurrency, seconds=args.seconds, warmup=args.warmup)
    async with running_suite(llm_latency_ms=args.llm_latency_ms, env=args.env) as running:
        measured = await measure_suite(args, running)
    document["suite"] = measured["suite"]
    ratio = _ratio(measured["suite"], document.get("echo", {}).get("results", []))
    document["ratio_to_echo"] = ratio["ratio"] if ratio else None
    document["ratio_detail"] = ratio
    document["gateway_overhead_p50_ms"] = measured["overhead"]["difference_of_p50s_ms"]
    document["gateway_overhead"] = measured["overhead"]
    return document


def telemetry_variants(sink: str) -> dict[str, tuple[dict[str, str], dict[str, dict[str, str]]]]:
    """(environment, per-service environment) of each telemetry setting compared by ``--compare``."""
    traces = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_METRICS_EXPORTER": "none"}
    return {
        "off": ({}, {}),
        "metrics": ({}, {name: {"AGENTSUITE_METRICS_PORT": str(free_port())} for name in SERVICES}),
        "traces_100pct": ({**traces, "OTEL_TRACES_SAMPLER": "parentbased_always_on"}, {}),
        "traces_10pct": (
            {**traces, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
            {},
        ),
    }


async def compare_telemetry(args) -> dict:
    """Every telemetry setting on a suite of its own, all running at once, measured in short windows
    that take turns (``--rounds`` cycles, each starting with the next setting), at each concurrency:
    whatever else loads the machine loads every setting alike. Medians and ratios to "off"."""
    results: dict[str, dict[int, list[dict]]] = {}
    async with OtlpSink() as sink, contextlib.AsyncExitStack() as stack:
        variants = telemetry_variants(sink.endpoint)
        names = list(variants)
        loads = {}
        for name, (env, service_env) in variants.items():
            log(f"telemetry: starting the suite with {name}")
            running = await stack.enter_async_context(
                running_suite(
                    llm_latency_ms=args.llm_latency_ms, env={**args.env, **env}, service_env=service_env
                )
            )
            loads[name] = await stack.enter_async_context(_SuiteLoad(running, args.concurrency))
        for concurrency in args.concurrency:
            for cycle in range(args.rounds):
                for name in names[cycle % len(names) :] + names[: cycle % len(names)]:
                    result = await loads[name].measure(concurrency, seconds=args.seconds, warmup=args.warmup)
                    results.setdefault(name, {}).setdefault(concurrency, []).append(result)
                    log(f"telemetry: {name} cycle {cycle + 1} {json.dumps(result)}")
    return {"rounds": args.rounds, "otlp_exports_received": sink.exports, **_telemetry_summary(results)}


class _SuiteLoad:
    """A gateway channel and agents per concurrency on one running suite, to load it in windows."""

    def __init__(self, running: RunningSuite, levels: list[int]):
        self._running = running
        self._levels = levels
        self._metadata = (("authorization", f"Bearer {running.api_key}"),)
        self._agents: dict[int, list[str]] = {}

    async def __aenter__(self) -> _SuiteLoad:
        self._channel = grpc.aio.insecure_channel(self._running.gateway_address)
        for level in self._levels:
            self._agents[level] = await create_agents(self._channel, self._metadata, level, f"bench-c{level}")
        return self

    async def __aexit__(self, *exc) -> None:
        await self._channel.close()

    async def measure(self, concurrency: int, *, seconds: float, warmup: float) -> dict:
        return await closed_loop(
            send_message_call(self._channel, self._metadata, self._agents[concurrency]),
            concurrency=concurrency,
            seconds=seconds,
            warmup=warmup,
            meter=CpuMeter(service_pids(self._running)),
        )


def _telemetry_summary(results: dict[str, dict[int, list[dict]]]) -> dict:
    def median(values):
        values = [value for value in values if value is not None]  # a level where every call failed
        return round(statistics.median(values), 3) if values else None

    def cpu_ms(result: dict) -> float:
        return 1000 * sum(result.get("server_cpu_cores", {}).values()) / max(result["messages_per_s"], 1e-9)

    summary: dict = {"medians": {}, "ratios_to_off": {}, "runs": results}
    for name, levels in results.items():
        for level, runs in levels.items():
            summary["medians"].setdefault(name, {})[str(level)] = {
                "messages_per_s": median([r["messages_per_s"] for r in runs]),
                "p50_ms": median([r["p50_ms"] for r in runs]),
                "p99_ms": median([r["p99_ms"] for r in runs]),
                "server_cpu_ms_per_message": median([cpu_ms(r) for r in runs]),
                "other_cpu_cores": median([r["other_cpu_cores"] for r in runs]),
            }
    off = summary["medians"].get("off", {})
    for name, levels in summary["medians"].items():
        for level, values in levels.items():
            base = off.get(level)
            if name != "off" and base and None not in (*base.values(), *values.values()):
                summary["ratios_to_off"].setdefault(name, {})[level] = {
                    "throughput": round(values["messages_per_s"] / base["messages_per_s"], 4),
                    "p50": round(values["p50_ms"] / base["p50_ms"], 4),
                    "cpu_per_message": round(
                        values["server_cpu_ms_per_message"] / base["server_cpu_ms_per_message"], 4
                    ),
                }
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/throughput.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency", action="append", help="conversations at once, e.g. 1,32 (repeatable)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each window")
    parser.add_argument(
        "--overhead-seconds", type=float, default=5.0, help="window of the gateway-overhead measurement"
    )
    parser.add_argument("--llm-latency-ms", type=float, default=0.0, help="fake LLM delay before its reply")
    parser.add_argument("--skip-echo", action="store_true", help="do not measure the echo ceiling")
    parser.add_argument(
        "--compare",
        choices=["telemetry"],
        help="telemetry: metrics on, traces at 100%% and 10%% sampling, and all off, each on a suite "
        "of its own, measured in windows that take turns (no echo or overhead measurement)",
    )
    parser.add_argument(
        "--rounds", type=int, default=6, help="windows per setting and level of --compare (6)"
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="py-spy record gateway/agent/memory during the highest level (needs py-spy; slows the run)",
    )
    args = parse_args_with_env(parser, argv)
    args.concurrency = echo.concurrency_list(args.concurrency or ["1,32"])
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.compare == "telemetry":
        document = {"machine": machine(), "config": vars(args) | {"concurrency": args.concurrency}}
        document["telemetry"] = asyncio.run(compare_telemetry(args))
        print(json.dumps(document, indent=2, default=str))
        return
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
