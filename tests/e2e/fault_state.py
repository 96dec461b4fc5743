"""The fault suite's state after a campaign, as a client can read it back: each agent's history,
runs with their stored events (WatchRun from seq 0), core-memory block and archive; and the epoch
each message was written under, which only the test database knows (memory.messages.epoch, once
issue 14 adds it).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import asyncpg
import grpc

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from tests.e2e.fault_load import BLOCK, LoadAgent
from tests.e2e.run_checks import CALL_TIMEOUT_S, history, runs_oldest_first, watch

READ_CONCURRENCY = 16
READ_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
)
T = TypeVar("T")


@dataclass(frozen=True)
class RunObservation:
    """One run as a client can see it afterwards: its stored messages and its stored events."""

    run: gateway_pb2.Run
    stored: list[common_pb2.Message]
    events: list[gateway_pb2.RunEvent]
    executions: dict[str, tuple[int, bool]]
    """The run's keyed custom-tool calls as the tools service recorded them: key -> (tries that won
    the claim to execute, whether one finished and stored its result)."""


@dataclass
class AgentState:
    agent: LoadAgent
    history: list[common_pb2.Message]
    runs: dict[str, RunObservation]
    block: str
    passages: Counter[str]
    epochs: dict[str, tuple[int, datetime]]
    """Message id -> (epoch it was written under, when)."""


async def read_state(channel, auth, database_url: str, agents: list[LoadAgent]) -> dict[str, AgentState]:
    """Every agent's history, runs with their stored events, block, archive and message epochs."""
    limit = asyncio.Semaphore(READ_CONCURRENCY)
    epochs = await message_epochs(database_url, [agent.id for agent in agents])
    executions = await tool_executions(database_url)
    states = await asyncio.gather(*(_read_agent(channel, auth, a, limit, epochs, executions) for a in agents))
    return {state.agent.id: state for state in states}


async def _read_agent(channel, auth, agent: LoadAgent, limit, epochs, executions) -> AgentState:
    async with limit:
        messages = await _again(lambda: history(channel, auth, agent.id))
        runs = await _again(lambda: runs_oldest_first(channel, auth, agent.id))
        block = await _again(lambda: _block_value(channel, auth, agent.id))
        passages = await _again(lambda: _passage_texts(channel, auth, agent.id))

    async def observe(run: gateway_pb2.Run) -> RunObservation:
        async with limit:
            events = await _again(lambda: watch(channel, auth, run.id))
        stored = [m for m in messages if m.run_id == run.id]
        prefix = f"{run.id}:"
        mine = {key: count for key, count in executions.items() if key.startswith(prefix)}
        return RunObservation(run, stored, events, mine)

    observed = await asyncio.gather(*(observe(run) for run in runs))
    written = {m.id: epochs[m.id] for m in messages if m.id in epochs}
    return AgentState(agent, messages, {o.run.id: o for o in observed}, block, Counter(passages), written)


async def _again(read: Callable[[], Awaitable[T]], *, tries: int = 5) -> T:
    """A read, tried again a few times on a transient answer: the load already recorded what
    clients saw; the reading afterwards must not fail on a pooled connection the database restart
    left broken (issue 14, item 4)."""
    for attempt in range(tries):
        try:
            return await read()
        except grpc.aio.AioRpcError as error:
            if error.code() not in READ_RETRYABLE or attempt == tries - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def _block_value(channel, auth, agent_id: str) -> str:
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    request = memory_service_pb2.ListBlocksRequest(agent_id=agent_id, label=BLOCK)
    (block,) = (await memory.ListBlocks(request, metadata=auth, timeout=CALL_TIMEOUT_S)).blocks
    return block.value


async def _passage_texts(channel, auth, agent_id: str) -> list[str]:
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    archives = await memory.ListArchives(
        memory_service_pb2.ListArchivesRequest(agent_id=agent_id), metadata=auth, timeout=CALL_TIMEOUT_S
    )
    texts: list[str] = []
    for archive in archives.archives:
        token = ""
        for _ in range(1000):
            page = await memory.ListPassages(
                memory_service_pb2.ListPassagesRequest(
                    archive_id=archive.id, page_size=1000, page_token=token
                ),
                metadata=auth,
                timeout=CALL_TIMEOUT_S,
            )
            texts += [passage.text for passage in page.passages]
            token = page.next_page_token
            if not token:
                break
    return texts


async def tool_executions(database_url: str) -> dict[str, tuple[int, bool]]:
    """Every keyed custom-tool call the tools service recorded (the suite's database is the
    campaign's own): idempotency key (run, step, call) -> (tries that won the claim to execute,
    whether one finished). A try that did not finish was cut off (its sandbox killed)."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT idempotency_key, attempts, result IS NOT NULL AS finished FROM tools.executions"
        )
    finally:
        await connection.close()
    return {row["idempotency_key"]: (row["attempts"], row["finished"]) for row in rows}


async def message_epochs(database_url: str, agent_ids: list[str]) -> dict[str, tuple[int, datetime]]:
    """The fencing epoch and time of every message of ``agent_ids``, read from memory.messages."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT id::text, epoch, created_at FROM memory.messages WHERE agent_id = ANY($1::uuid[])",
            agent_ids,
        )
    finally:
        await connection.close()
    return {row["id"]: (row["epoch"], row["created_at"]) for row in rows}
