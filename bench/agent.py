"""Agent-service overhead per step: everything ``AgentRuntime.Step`` costs except the LLM's own time.

Starts an embedded PostgreSQL, the fake LLM (its own process, zero latency) and the memory, tools
and agent services (real processes), creates one agent through ``AgentService`` and gives it
``--history`` messages of earlier conversation, then calls ``AgentRuntime.Step`` directly (a new run
id per call, epoch 0, one user input) ``--steps`` times in a row after ``--warmup`` unrecorded ones.
For every step it records

* the wall time of the Step call (first byte sent to last event received);
* the LLM time the agent reports in its usage event (``usage.llm_time``);
* the raw round trip of the very request the agent sent, replayed straight to the fake LLM with
  httpx (streaming, keep-alive), right after the step.

With ``--steps-per-run K`` each run makes K model calls: the first K-1 call the built-in
``conversation_search`` (a memory read, counted as tool time) and the last answers.

Overhead = run wall - llm_time - tool_time, and per step that divided by the run's steps (the
target's number); the alternative, run wall - median raw round trip,
also counts the parts of the agent's LLM call that are its own (building and parsing the request,
forwarding deltas). After each step the eviction boundary is moved so that the context again holds
exactly ``--history`` messages: every step sees the same context size.

Then, to show where the overhead goes, the same number of calls of what a step calls downstream,
made directly from the bench on a second agent with the same history: memory ``AppendMessages``
with the context read back (the step's first call), a plain one-message ``AppendMessages`` (its
last), ``AgentService.GetAgent`` (the agent's own database read plus a gRPC hop), and a gRPC health
check of the agent service (the floor of one gRPC round trip on this machine).

Prints one JSON document on stdout; progress goes to stderr. Target (issue 5): p50 <= 3 ms.

    .venv/bin/python bench/agent.py
    .venv/bin/python bench/agent.py --steps 1000 --history 200 --omit-deltas
    .venv/bin/python bench/agent.py --steps 200 --steps-per-run 5
    .venv/bin/python bench/agent.py --profile-dir /tmp/prof-agent   # py-spy; then profile_summary.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from bench.harness import (
    embedded_database,
    fake_llm,
    log,
    machine,
    parse_args_with_env,
    postmaster_pid,
    running_services,
)
from bench.load import CpuMeter, percentile
from services.common.call import TENANT_KEY
from services.common.embedded_pg import EmbeddedPostgres

TENANT = "bench"
METADATA = ((TENANT_KEY, TENANT),)
TARGET_P50_MS = 3.0
CALL_TIMEOUT_S = 30.0
SERVICES = ("memory", "tools", "agent")
PROFILED = ("agent", "memory")
SUMMARY = "The user and the agent have been chatting about benchmark plans; nothing is pending."
SYSTEM_PROMPT = (
    "You are a helpful assistant that remembers the people you talk to. Use your core memory to "
    "keep track of what matters, answer briefly and precisely, and ask when something is unclear. "
) * 8
BLOCKS = (
    ("persona", "I am a patient, precise assistant. I keep answers short and check facts. " * 4),
    ("human", "Name: Ada. Works on distributed systems. Prefers concise answers with examples. " * 4),
)
WORDS = (
    "the agent keeps a running summary of earlier messages while the user asks about deadlines "
    "budgets schedules release notes database migrations and the weather in several cities"
).split()


@dataclass(frozen=True)
class StepSample:
    wall: float
    """Seconds from the Step call to its last event."""
    llm: float
    """``usage.llm_time`` reported by the agent."""
    raw: float
    """Round trip of the same request straight to the fake LLM."""
    llm_messages: int
    """Messages in the request the agent sent to the model."""
    tool: float = 0.0
    """``usage.tool_time`` reported by the agent (multi-step runs call a built-in tool)."""
    steps: int = 1
    """Steps (model calls) of the run."""


def text(index: int, words: int = 40) -> str:
    """Chat-like filler of about ``words`` words (~250 characters), different per index."""
    return " ".join(WORDS[(index * 7 + i * 3) % len(WORDS)] for i in range(words))


async def create_agent(channel: grpc.aio.Channel, model: str) -> str:
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    agent = agent_pb2.Agent(
        name=f"bench-{model}",
        system_prompt=SYSTEM_PROMPT,
        model=agent_pb2.ModelConfig(provider="openai", model=model),
    )
    blocks = [agent_pb2.BlockSpec(label=label, value=value, limit=5000) for label, value in BLOCKS]
    reply = await stub.CreateAgent(
        agent_service_pb2.CreateAgentRequest(agent=agent, memory_blocks=blocks),
        metadata=METADATA,
        timeout=CALL_TIMEOUT_S,
    )
    return reply.agent.id


async def seed_history(memory: memory_service_pb2_grpc.MemoryRuntimeStub, agent_id: str, count: int) -> None:
    """``count`` alternating user/assistant messages of earlier conversation."""
    roles = (common_pb2.MESSAGE_ROLE_USER, common_pb2.MESSAGE_ROLE_ASSISTANT)
    messages = [memory_pb2.MessageInput(role=roles[i % 2], content=text(i)) for i in range(count)]
    for start in range(0, count, 500):
        await memory.AppendMessages(
            memory_service_pb2.AppendMessagesRequest(
                agent_id=agent_id,
                epoch=0,
                run_id="seed",
                idempotency_key=f"seed:{start}",
                messages=messages[start : start + 500],
            ),
            metadata=METADATA,
            timeout=CALL_TIMEOUT_S,
        )


async def keep_history(
    memory: memory_service_pb2_grpc.MemoryRuntimeStub,
    agent_id: str,
    last_seq: int,
    history: int,
    *,
    per_run: int,
) -> None:
    """Evict all but the newest ``history`` messages (rounded up to whole runs of ``per_run``
    messages, so the boundary never splits a tool call from its result): every run sees the same
    context size."""
    boundary = last_seq - -(-history // per_run) * per_run
    if boundary < 1:
        return
    await memory.SetEvictionBoundary(
        memory_service_pb2.SetEvictionBoundaryRequest(
            agent_id=agent_id, epoch=0, boundary_seq=boundary, summary=SUMMARY
        ),
        metadata=METADATA,
        timeout=CALL_TIMEOUT_S,
    )


async def step(
    runtime: agent_service_pb2_grpc.AgentRuntimeStub, agent_id: str, index: int, omit_deltas: bool
) -> tuple[float, float, float, int, int]:
    """One Step call (a run): wall seconds, the LLM and tool seconds of its last usage event, its
    number of steps, and the seq of its last message."""
    request = agent_service_pb2.StepRequest(
        agent_id=agent_id,
        run_id=str(uuid.uuid4()),
        epoch=0,
        input=[common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_USER, content=text(index + 1000, 25))],
        omit_deltas=omit_deltas,
    )
    llm, tool, steps, last_seq, stop = None, 0.0, 0, 0, None
    started = time.perf_counter()
    async for response in runtime.Step(request, metadata=METADATA, timeout=CALL_TIMEOUT_S):
        event = response.event
        kind = event.WhichOneof("event")
        if kind == "usage":
            llm = event.usage.llm_time.ToTimedelta().total_seconds()
            tool = event.usage.tool_time.ToTimedelta().total_seconds()
            steps = event.usage.steps
        elif kind in ("assistant_message", "message_persisted"):
            last_seq = max(last_seq, getattr(event, kind).seq)
        elif kind == "stop":
            stop = event.stop
    wall = time.perf_counter() - started
    if stop is None or stop.reason != common_pb2.STOP_REASON_END_TURN:
        reason = common_pb2.StopReason.Name(stop.reason) if stop else "no stop event"
        raise RuntimeError(f"step stopped with {reason}: {stop.detail if stop else ''}")
    if llm is None:
        raise RuntimeError("the step reported no usage")
    return wall, llm, tool, steps, last_seq


class FakeLLM:
    """The fake LLM as the bench sees it: what the agent sent, and the same request replayed."""

    def __init__(self, base_url: str, model: str):
        self._base_url = base_url
        self._admin_url = base_url.removesuffix("/v1")
        self._model = model
        # Like the agent's provider: one pooled keep-alive client.
        self._client = httpx.AsyncClient(timeout=CALL_TIMEOUT_S)

    async def take_recorded(self) -> dict:
        """The last request the agent sent for our model; forgets the recorded ones."""
        answer = await self._client.get(f"{self._admin_url}/_admin/requests", params={"model": self._model})
        bodies = answer.raise_for_status().json()
        await self._client.delete(f"{self._admin_url}/_admin/script", params={"model": self._model})
        if not bodies:
            raise RuntimeError("the fake LLM recorded no request from the agent")
        return bodies[-1]

    async def script_tool_steps(self, count: int) -> None:
        """Make the next run call a cheap built-in tool ``count`` times before it answers."""
        call = {"name": "conversation_search", "arguments": {"query": "message", "limit": 1}}
        replies = [{"tool_calls": [{**call, "id": f"call_{i}"}]} for i in range(count)]
        answer = await self._client.post(
            f"{self._admin_url}/_admin/script", json={"model": self._model, "replies": replies}
        )
        answer.raise_for_status()

    async def round_trip(self, body: dict) -> float:
        """Seconds to send ``body`` and read the whole streamed answer."""
        started = time.perf_counter()
        async with self._client.stream("POST", f"{self._base_url}/chat/completions", json=body) as response:
            response.raise_for_status()
            async for _line in response.aiter_lines():
                pass
        return time.perf_counter() - started

    async def aclose(self) -> None:
        await self._client.aclose()


class CpuWindow:
    """CPU of the machine, this process and the servers over the measured steps.

    ``other_cores`` well above 0.1 means something else ran on the machine: a noisy result.
    """

    def __init__(self, pids: dict[str, int]):
        self._servers = CpuMeter(pids)
        self._process = psutil.Process()
        self._started = self._machine = self._client = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        self._machine = _busy(psutil.cpu_times())
        self._client = _own_cpu(self._process)
        self._servers.start()

    def stop(self, steps: int) -> dict:
        servers = self._servers.stop_seconds()
        elapsed = time.perf_counter() - self._started
        machine = _busy(psutil.cpu_times()) - self._machine
        client = _own_cpu(self._process) - self._client
        return {
            "seconds": round(elapsed, 2),
            "machine_busy_cores": round(machine / elapsed, 2),
            "bench_client_cores": round(client / elapsed, 2),
            "server_cores": {name: round(seconds / elapsed, 2) for name, seconds in servers.items()},
            "other_cores": round((machine - client - sum(servers.values())) / elapsed, 2),
            # The agent serves only the steps; memory, postgres and the fake LLM also serve the
            # bench's own calls between steps (recorded request, replay, eviction boundary).
            "cpu_ms_per_step": {name: round(seconds / steps * 1000, 3) for name, seconds in servers.items()},
        }


def _busy(times) -> float:
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq"))


def _own_cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class AgentProfiler:
    """py-spy on the agent and memory services while the measured steps run (folded stacks)."""

    def __init__(self, directory: Path, pids: dict[str, int]):
        self._py_spy = shutil.which(
            "py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        )
        if self._py_spy is None:
            raise SystemExit("--profile-dir needs py-spy (pip install py-spy)")
        self._directory = directory
        self._pids = pids
        self._recorders: list[asyncio.subprocess.Process] = []

    async def start(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self._pids.items():
            self._recorders.append(
                await asyncio.create_subprocess_exec(
                    self._py_spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    "500",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(self._directory / f"{name}.folded"),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )

    async def stop(self) -> None:
        """Ctrl-C each recorder: py-spy then writes its output."""
        for recorder in self._recorders:
            if recorder.returncode is None:
                recorder.send_signal(signal.SIGINT)
        for recorder in self._recorders:
            await asyncio.wait_for(recorder.wait(), 30)


async def measure(args, *, agent_address: str, memory_address: str, llm_url: str, pids: dict) -> dict:
    model = f"bench-agent-{uuid.uuid4().hex[:8]}"
    llm = FakeLLM(llm_url, model)
    samples: list[StepSample] = []
    async with (
        grpc.aio.insecure_channel(agent_address) as agent_channel,
        grpc.aio.insecure_channel(memory_address) as memory_channel,
    ):
        runtime = agent_service_pb2_grpc.AgentRuntimeStub(agent_channel)
        memory = memory_service_pb2_grpc.MemoryRuntimeStub(memory_channel)
        agent_id = await create_agent(agent_channel, model)
        await seed_history(memory, agent_id, args.history)
        profiler = (
            AgentProfiler(args.profile_dir, {n: pids[n] for n in PROFILED}) if args.profile_dir else None
        )
        cpu = CpuWindow(pids)
        progress(args, f"agent {agent_id}: {args.warmup} warm-up + {args.steps} measured steps")
        try:
            for index in range(args.warmup + args.steps):
                if index == args.warmup:
                    cpu.start()
                    if profiler:
                        await profiler.start()
                if args.steps_per_run > 1:
                    await llm.script_tool_steps(args.steps_per_run - 1)
                wall, llm_seconds, tool_seconds, steps, last_seq = await step(
                    runtime, agent_id, index, args.omit_deltas
                )
                body = await llm.take_recorded()
                raw = await llm.round_trip(body)
                await keep_history(memory, agent_id, last_seq, args.history, per_run=2 * steps)
                if index >= args.warmup:
                    samples.append(
                        StepSample(wall, llm_seconds, raw, len(body["messages"]), tool_seconds, steps)
                    )
                if (index + 1) % 100 == 0:
                    progress(args, f"  {index + 1} steps")
            cpu_window = cpu.stop(args.steps)
        finally:
            if profiler:
                await profiler.stop()
            await llm.aclose()
        progress(args, f"components: {args.steps} calls of each downstream call, directly")
        components = await measure_components(args, agent_channel, memory)
    return {**summarise(samples), "cpu": cpu_window, "components_ms": components}


async def measure_components(args, agent_channel: grpc.aio.Channel, memory) -> dict:
    """What one step calls downstream, each timed directly from here (see the module docstring)."""
    agents = agent_service_pb2_grpc.AgentServiceStub(agent_channel)
    health = health_pb2_grpc.HealthStub(agent_channel)
    agent_id = await create_agent(agent_channel, f"bench-probe-{uuid.uuid4().hex[:8]}")
    await seed_history(memory, agent_id, args.history)
    timings: dict[str, list[float]] = {
        "memory_append_then_read": [],
        "memory_append": [],
        "agent_get_agent": [],
        "agent_health_check": [],
    }

    def append(index: int, role: int, *, read: bool) -> memory_service_pb2.AppendMessagesRequest:
        run_id = str(uuid.uuid4())
        return memory_service_pb2.AppendMessagesRequest(
            agent_id=agent_id,
            epoch=0,
            run_id=run_id,
            idempotency_key=f"{run_id}:{role}",
            messages=[memory_pb2.MessageInput(role=role, content=text(index, 25), step=1)],
            return_context=read,
        )

    calls = {
        "memory_append_then_read": lambda i: memory.AppendMessages(
            append(i, common_pb2.MESSAGE_ROLE_USER, read=True), metadata=METADATA, timeout=CALL_TIMEOUT_S
        ),
        "memory_append": lambda i: memory.AppendMessages(
            append(i, common_pb2.MESSAGE_ROLE_ASSISTANT, read=False),
            metadata=METADATA,
            timeout=CALL_TIMEOUT_S,
        ),
        "agent_get_agent": lambda _i: agents.GetAgent(
            agent_service_pb2.GetAgentRequest(agent_id=agent_id), metadata=METADATA, timeout=CALL_TIMEOUT_S
        ),
        "agent_health_check": lambda _i: health.Check(
            health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S
        ),
    }
    last_seq = args.history
    for index in range(args.warmup + args.steps):
        for name, call in calls.items():
            started = time.perf_counter()
            await call(index)
            if index >= args.warmup:
                timings[name].append(time.perf_counter() - started)
        last_seq += 2
        await keep_history(memory, agent_id, last_seq, args.history, per_run=2)
    return {name: ms_summary(values) for name, values in timings.items()}


def summarise(samples: list[StepSample]) -> dict:
    raw_median = statistics.median(s.raw for s in samples)
    walls = [s.wall for s in samples]
    overhead = [s.wall - s.llm - s.tool for s in samples]
    per_step = [(s.wall - s.llm - s.tool) / s.steps for s in samples]
    p50 = percentile(sorted(per_step), 0.50) * 1000
    return {
        "benchmark": "agent_step_overhead",
        "target": f"p50 <= {TARGET_P50_MS:g} ms",
        "meets_target": p50 <= TARGET_P50_MS,
        "n": len(samples),
        "steps_per_run": statistics.median(s.steps for s in samples),
        "overhead_per_step_ms": ms_summary(per_step),
        "overhead_ms": ms_summary(overhead),
        "tool_time_ms": ms_summary([s.tool for s in samples]),
        "overhead_vs_raw_llm_ms": ms_summary([w - raw_median for w in walls]),
        "step_wall_ms": ms_summary(walls),
        "llm_time_ms": ms_summary([s.llm for s in samples]),
        "raw_llm_round_trip_ms": ms_summary([s.raw for s in samples]),
        "llm_request_messages": statistics.median(s.llm_messages for s in samples),
    }


def ms_summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, 3),
        "p90": round(percentile(ordered, 0.90) * 1000, 3),
        "p99": round(percentile(ordered, 0.99) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(statistics.fmean(ordered) * 1000, 3),
    }


def progress(args, message: str) -> None:
    if not args.json_only:
        log(message)


async def run(args) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "steps": args.steps,
            "warmup_steps": args.warmup,
            "history": args.history,
            "omit_deltas": args.omit_deltas,
            "steps_per_run": args.steps_per_run,
            "services": list(SERVICES),
            "service_env": args.env,
            "profiled": bool(args.profile_dir),
        },
    }
    async with embedded_database() as (url, log_dir):
        async with fake_llm(latency_ms=0, log_dir=log_dir) as (llm_url, llm_pid):
            env = {
                "AGENTSUITE_OPENAI_BASE_URL": llm_url,
                "OPENAI_API_KEY": "fake",
                # The bench keeps the context at --history messages with the eviction boundary.
                "AGENTSUITE_CONTEXT_MAX_MESSAGES": "0",
                **args.env,
            }
            progress(args, f"bench: starting {', '.join(SERVICES)} (logs in {log_dir})")
            async with running_services(url, SERVICES, log_dir=log_dir, env=env) as suite:
                pids = {name: suite.processes[name].pid for name in ("agent", "memory")}
                pids["fake_llm"] = llm_pid
                if (postmaster := postmaster_pid(EmbeddedPostgres(log_dir.parent))) is not None:
                    pids["postgres"] = postmaster
                document.update(
                    await measure(
                        args,
                        agent_address=f"{suite.host}:{suite.ports.agent}",
                        memory_address=f"{suite.host}:{suite.ports.memory}",
                        llm_url=llm_url,
                        pids=pids,
                    )
                )
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/agent.py", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="measured Step calls (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="unrecorded Step calls first (default 50)")
    parser.add_argument(
        "--history", type=int, default=50, help="messages of earlier conversation in context (default 50)"
    )
    parser.add_argument(
        "--steps-per-run",
        type=int,
        default=1,
        help="model calls per run: the first ones call a built-in tool (default 1: one answer)",
    )
    parser.add_argument("--omit-deltas", action="store_true", help="as SendMessage: no text deltas streamed")
    parser.add_argument("--profile-dir", type=Path, help="py-spy the agent and memory during the steps")
    parser.add_argument("--json-only", action="store_true", help="no progress on stderr")
    args = parse_args_with_env(parser, argv)
    if args.steps < 1 or args.warmup < 0 or args.history < 0 or args.steps_per_run < 1:
        parser.error("--steps must be positive, --warmup and --history not negative")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
