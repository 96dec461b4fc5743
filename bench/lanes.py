"""Per-agent serialization under load: 1,000 agents, 5 concurrent SendMessage each, every message
answered and the persisted history of every agent in order.

    python bench/lanes.py [--agents 1000] [--messages-per-agent 5] [--concurrency 5000]

Starts a throw-away suite (fake LLM at zero latency), creates the agents concurrently through the
gateway, then sends all messages at once (at most ``--concurrency`` calls in flight; the five of an
agent are issued together, so they compete for its lane). Then it reads every agent's history
through the gateway (``MemoryService.ListMessages``) and checks it: each user message is followed at
once by its own run's reply, no run is interleaved with another, none is lost or doubled, and the
user messages are in the order the runs were accepted (``ListRuns`` of the agent, oldest first; while
``ListRuns`` answers UNIMPLEMENTED, the ``create_time`` of the runs in the replies instead, which the
JSON says). Prints one JSON document on stdout; progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from bench.fleet import create_agents
from bench.harness import RunningSuite, log, machine, parse_args_with_env, running_suite
from bench.load import MAX_ERROR_SAMPLES, CpuMeter, percentile

READ_CONCURRENCY = 32
VIOLATION_SAMPLES = 10


@dataclass
class Outcome:
    """One SendMessage: which agent, which of its messages, and what came back."""

    agent: int
    index: int
    latency: float = 0.0
    run_id: str = ""
    accepted_ns: int = 0
    """``run.create_time`` of the reply, in nanoseconds."""
    error: str = ""


def channels(address: str, count: int) -> list[grpc.aio.Channel]:
    """``count`` channels with their own connections (a local subchannel pool each)."""
    return [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]


def text(agent: int, index: int) -> str:
    return f"agent {agent} message {index}"


async def send_all(
    pool: list[grpc.aio.Channel], metadata, agent_ids: list[str], args
) -> tuple[list[Outcome], float]:
    """Every message of every agent, agent after agent, at most ``args.concurrency`` in flight."""
    stubs = [gateway_service_pb2_grpc.ConversationServiceStub(channel) for channel in pool]
    semaphore = asyncio.Semaphore(args.concurrency)
    outcomes = [Outcome(a, k) for a in range(len(agent_ids)) for k in range(args.messages_per_agent)]

    async def send(number: int, outcome: Outcome) -> None:
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=agent_ids[outcome.agent],
            messages=[common_pb2.InputMessage(content=text(outcome.agent, outcome.index))],
        )
        async with semaphore:
            begin = time.perf_counter()
            try:
                reply = await stubs[number % len(stubs)].SendMessage(
                    request, metadata=metadata, timeout=args.timeout
                )
            except grpc.aio.AioRpcError as error:
                outcome.error = f"{error.code().name}: {error.details()}"[:300]
                return
            finally:
                outcome.latency = time.perf_counter() - begin
        outcome.run_id = reply.run.id
        outcome.accepted_ns = reply.run.create_time.ToNanoseconds()
        if reply.run.stop_reason != common_pb2.STOP_REASON_END_TURN:
            outcome.error = f"run stopped with {common_pb2.StopReason.Name(reply.run.stop_reason)}"

    log(f"send: {len(outcomes)} messages, at most {args.concurrency} in flight on {len(pool)} channels")
    begin = time.perf_counter()
    await asyncio.gather(*(send(n, outcome) for n, outcome in enumerate(outcomes)))
    return outcomes, time.perf_counter() - begin


async def read_histories(channel: grpc.aio.Channel, metadata, agent_ids: list[str]) -> dict[str, list]:
    """Every agent's whole history, oldest first."""
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    semaphore = asyncio.Semaphore(READ_CONCURRENCY)

    async def read(agent_id: str) -> list:
        messages, token = [], ""
        while True:
            async with semaphore:
                page = await memory.ListMessages(
                    memory_service_pb2.ListMessagesRequest(
                        agent_id=agent_id, page_size=1000, page_token=token
                    ),
                    metadata=metadata,
                    timeout=60,
                )
            messages.extend(page.messages)
            token = page.next_page_token
            if not token:
                return messages

    histories = await asyncio.gather(*(read(agent_id) for agent_id in agent_ids))
    return dict(zip(agent_ids, histories, strict=True))


async def accepted_orders(
    channel: grpc.aio.Channel, metadata, agent_ids: list[str]
) -> tuple[dict[str, list[str]] | None, str]:
    """Each agent's run ids in acceptance order from ``ListRuns`` (newest first, so reversed);
    None with the reason when ``ListRuns`` is not implemented."""
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(channel)
    semaphore = asyncio.Semaphore(READ_CONCURRENCY)

    async def runs_of(agent_id: str) -> list[str]:
        ids, token = [], ""
        while True:
            async with semaphore:
                page = await conversation.ListRuns(
                    gateway_service_pb2.ListRunsRequest(agent_id=agent_id, page_size=1000, page_token=token),
                    metadata=metadata,
                    timeout=60,
                )
            ids.extend(run.id for run in page.runs)
            token = page.next_page_token
            if not token:
                return ids[::-1]

    try:
        orders = await asyncio.gather(*(runs_of(agent_id) for agent_id in agent_ids))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        return None, f"ListRuns answers UNIMPLEMENTED ({error.details()})"
    return dict(zip(agent_ids, orders, strict=True)), "ListRuns"


def check_history(history: list, answered: list[Outcome], accepted: list[str]) -> list[str]:
    """The ordering violations in one agent's persisted history (empty when it is in order)."""
    violations = []
    seqs = [m.seq for m in history]
    if seqs != list(range(1, len(history) + 1)):
        violations.append(f"seq not 1..{len(history)} without gaps: {seqs}")
    user = common_pb2.MESSAGE_ROLE_USER
    assistant = common_pb2.MESSAGE_ROLE_ASSISTANT
    for position, message in enumerate(history):
        if message.role != user:
            continue
        following = history[position + 1] if position + 1 < len(history) else None
        if following is None or following.role != assistant or following.run_id != message.run_id:
            found = (
                "nothing"
                if following is None
                else f"{common_pb2.MessageRole.Name(following.role)} of run {following.run_id}"
            )
            violations.append(f"user message seq {message.seq} of run {message.run_id} followed by {found}")
    blocks = [m.run_id for i, m in enumerate(history) if i == 0 or history[i - 1].run_id != m.run_id]
    for run_id, count in Counter(blocks).items():
        if count > 1:
            violations.append(f"run {run_id} interleaved with another run ({count} separate blocks)")
    user_runs = [m.run_id for m in history if m.role == user]
    for run_id, count in Counter(user_runs).items():
        if count > 1:
            violations.append(f"run {run_id} has {count} user messages")
    for outcome in answered:
        if outcome.run_id not in user_runs:
            violations.append(
                f"answered run {outcome.run_id} ({text(outcome.agent, outcome.index)}) not persisted"
            )
    order = [run_id for run_id in accepted if run_id in set(user_runs)]
    ordered = set(order)
    persisted = [run_id for run_id in user_runs if run_id in ordered]
    if persisted != order:
        violations.append(f"user messages in run order {persisted}, accepted as {order}")
    return violations


def verify(
    agent_ids: list[str], outcomes: list[Outcome], histories: dict[str, list], accepted: dict[str, list[str]]
) -> dict:
    by_agent: dict[int, list[Outcome]] = {}
    for outcome in outcomes:
        by_agent.setdefault(outcome.agent, []).append(outcome)
    violations: list[str] = []
    agents_with_violations = 0
    unanswered_but_persisted = 0
    for number, agent_id in enumerate(agent_ids):
        answered = [o for o in by_agent.get(number, []) if not o.error]
        found = check_history(histories[agent_id], answered, accepted[agent_id])
        if found:
            agents_with_violations += 1
            violations.extend(f"agent {agent_id}: {v}" for v in found)
        known = {o.run_id for o in answered}
        unanswered_but_persisted += len(
            {m.run_id for m in histories[agent_id] if m.run_id and m.run_id not in known}
        )
    return {
        "ordering_violations": len(violations),
        "agents_with_violations": agents_with_violations,
        "violation_samples": violations[:VIOLATION_SAMPLES],
        "persisted_messages": sum(len(h) for h in histories.values()),
        # Runs in the history whose call failed on the client (e.g. its deadline passed): not a
        # violation by itself, but shows work done that the client never heard of.
        "persisted_runs_without_answer": unanswered_but_persisted,
    }


def service_pids(running: RunningSuite) -> dict[str, int]:
    pids = {name: process.pid for name, process in running.suite.processes.items()}
    pids["fake_llm"] = running.llm_pid
    if running.postgres_pid is not None:
        pids["postgres"] = running.postgres_pid
    return pids


async def measure(args, running: RunningSuite) -> dict:
    metadata = (("authorization", f"Bearer {running.api_key}"),)
    pool = channels(running.gateway_address, args.channels)
    try:
        agent_ids, creation = await create_agents(
            pool[0], metadata, args.agents, "lanes", concurrency=args.create_concurrency
        )
        meter = CpuMeter(service_pids(running))
        meter.start()
        outcomes, wall = await send_all(pool, metadata, agent_ids, args)
        server_cpu = meter.stop()
        errors = [o.error for o in outcomes if o.error]
        log(f"send: {len(outcomes) - len(errors)} answered, {len(errors)} errors in {wall:.1f}s")

        log("verify: reading every history and the acceptance order")
        histories = await read_histories(pool[0], metadata, agent_ids)
        accepted, source = await accepted_orders(pool[0], metadata, agent_ids)
        if accepted is None:
            log(f"verify: {source}; acceptance order from the replies' run.create_time instead")
            accepted = {agent_id: [] for agent_id in agent_ids}
            for outcome in sorted(outcomes, key=lambda o: o.accepted_ns):
                if not outcome.error:
                    accepted[agent_ids[outcome.agent]].append(outcome.run_id)
            source = f"reply run.create_time (approximate: {source})"
        checked = verify(agent_ids, outcomes, histories, accepted)
    finally:
        for channel in pool:
            await channel.close()
    latencies = sorted(o.latency for o in outcomes if not o.error)
    failed_after = sorted(o.latency for o in outcomes if o.error)
    answered = len(outcomes) - len(errors)
    return {
        "agent_creation": creation,
        "messages": len(outcomes),
        "answered": answered,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:MAX_ERROR_SAMPLES],
        "errors_after_ms": {
            "min": _ms(failed_after[0] if failed_after else None),
            "p50": _ms(percentile(failed_after, 0.50)),
            "max": _ms(failed_after[-1] if failed_after else None),
        },
        "all_answered": not errors,
        "wall_seconds": round(wall, 3),
        "messages_per_s": round(answered / wall, 1),
        "latency_ms": {
            "p50": _ms(percentile(latencies, 0.50)),
            "p99": _ms(percentile(latencies, 0.99)),
            "max": _ms(latencies[-1] if latencies else None),
        },
        "server_cpu_cores": server_cpu,
        "acceptance_order_source": source,
        **checked,
        "meets_target": not errors and checked["ordering_violations"] == 0,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def run(args) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "agents": args.agents,
            "messages_per_agent": args.messages_per_agent,
            "client_concurrency": args.concurrency,
            "channels": args.channels,
            "create_concurrency": args.create_concurrency,
            "call_timeout_s": args.timeout,
            "llm_latency_ms": 0,
            "service_env": args.env,
        },
    }
    async with running_suite(llm_latency_ms=0, env=args.env) as running:
        document.update(await measure(args, running))
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/lanes.py", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--messages-per-agent", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1000, help="most SendMessage calls in flight")
    parser.add_argument("--channels", type=int, default=4, help="client channels (connections)")
    parser.add_argument("--create-concurrency", type=int, default=16, help="CreateAgent calls at once")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline of each SendMessage")
    args = parse_args_with_env(parser, argv)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
