"""What the many-agent benchmarks (lanes, broadcast, converse) share: creating agents in bulk, reading
a process's resident memory, and failing clearly on an RPC the gateway does not implement yet."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import grpc

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from bench.harness import log

Tags = Callable[[int], Sequence[str]]
"""The tags of agent ``i``."""


async def create_agents(
    channel: grpc.aio.Channel,
    metadata,
    count: int,
    prefix: str,
    *,
    concurrency: int = 16,
    tags: Tags | None = None,
) -> tuple[list[str], dict]:
    """Create ``count`` agents through the gateway, ``concurrency`` at a time; ids in index order.

    Returns the ids and a summary (seconds, agents/s, concurrency) for the benchmark's JSON.
    """
    stub = agent_service_pb2_grpc.AgentServiceStub(channel)
    ids: list[str] = [""] * count
    semaphore = asyncio.Semaphore(concurrency)

    async def create(index: int) -> None:
        agent = agent_pb2.Agent(
            name=f"{prefix}-{index}",
            system_prompt="You are a benchmark agent.",
            model=agent_pb2.ModelConfig(provider="openai", model="bench"),
            tags=list(tags(index)) if tags else [],
        )
        async with semaphore:
            reply = await stub.CreateAgent(
                agent_service_pb2.CreateAgentRequest(agent=agent), metadata=metadata, timeout=60
            )
        ids[index] = reply.agent.id

    log(f"agents: creating {count}, {concurrency} at a time")
    begin = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(count)))
    seconds = time.perf_counter() - begin
    log(f"agents: {count} created in {seconds:.1f}s")
    return ids, {
        "count": count,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "agents_per_s": round(count / seconds, 1),
    }


class NotImplementedYet(Exception):
    """The gateway answered UNIMPLEMENTED for an RPC the benchmark measures."""


async def require_implemented(rpc: str, probe: Callable[[], Awaitable[object]]) -> None:
    """Call ``probe`` (a cheap, usually invalid, request to ``rpc``); raise ``NotImplementedYet``
    when it answers UNIMPLEMENTED. Any other answer, an error included, means the RPC exists."""
    try:
        await probe()
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            raise NotImplementedYet(f"{rpc} answers UNIMPLEMENTED: {error.details()}") from error
        log(f"probe: {rpc} answered {error.code().name} ({error.details()}): implemented")
        return
    log(f"probe: {rpc} answered: implemented")


def fail_clearly(document: dict, error: Exception) -> None:
    """Print the document with the reason it could not be measured, and exit with status 2."""
    document["error"] = f"{type(error).__name__}: {error}"
    log(f"FAILED: {document['error']}")
    print(json.dumps(document, indent=2))
    sys.exit(2)


def resident_memory(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak so far) of a process, in MiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[f"{key.lower()}_mib"] = round(int(rest.split()[0]) / 1024, 1)  # kB
    return values
