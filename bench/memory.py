"""Memory service benchmarks, through its gRPC API on a private PostgreSQL:

* **context**: ``GetContext`` for an agent with 10,000 messages and 5 blocks (the read every agent
  step makes), with the eviction boundary leaving 100 messages in context, and without a boundary
  but ``max_messages=100`` (how the loop reads before its first summary).
* **recall**: ``SearchMessages`` over 1,000,000 messages of one tenant, all of one agent (the worst
  case for a per-agent search), with queries of one and two words taken from stored messages.

Prints one JSON document; progress goes to stderr. Example::

    .venv/bin/python bench/memory.py                       # both, full size (~5 minutes)
    .venv/bin/python bench/memory.py --recall-messages 100000 --skip-context
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from bench.harness import embedded_database, log, machine, running_services
from bench.load import percentile

TENANT = "bench"
METADATA = (("x-agentsuite-tenant", TENANT),)
USER, ASSISTANT, TOOL = (
    common_pb2.MESSAGE_ROLE_USER,
    common_pb2.MESSAGE_ROLE_ASSISTANT,
    common_pb2.MESSAGE_ROLE_TOOL,
)


class Corpus:
    """Chat-like text: words of a Zipf-distributed vocabulary of pronounceable made-up words."""

    def __init__(self, seed: int = 7, vocabulary: int = 30_000):
        self._random = np.random.default_rng(seed)
        syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
        words: set[str] = set()
        while len(words) < vocabulary:
            count = int(self._random.integers(2, 5))
            words.add("".join(syllables[i] for i in self._random.integers(0, len(syllables), count)))
        self.words = sorted(words)
        weights = 1.0 / np.arange(1, vocabulary + 1) ** 1.07
        self._probabilities = weights / weights.sum()

    def messages(self, count: int, low: int = 6, high: int = 40) -> list[str]:
        lengths = self._random.integers(low, high, count)
        indices = self._random.choice(len(self.words), size=int(lengths.sum()), p=self._probabilities)
        out, start = [], 0
        for length in lengths:
            out.append(" ".join(self.words[i] for i in indices[start : start + length]))
            start += length
        return out


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
        "p90_ms": round(percentile(ordered, 0.90) * 1000, 3),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
    }


async def timed(calls: int, call) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


# --- context -------------------------------------------------------------------------------------


async def conversation(runtime, agent_id: str, corpus: Corpus, messages: int) -> None:
    """``messages`` messages in steps of user, assistant with a tool call, tool return, answer."""
    texts = corpus.messages(messages)
    batch: list[memory_pb2.MessageInput] = []
    for index, text in enumerate(texts):
        kind = index % 4
        call_id = f"call-{index - kind}"
        if kind == 1:
            message = memory_pb2.MessageInput(
                role=ASSISTANT,
                tool_calls=[common_pb2.ToolCall(id=call_id, name="search", arguments_json='{"q": "x"}')],
            )
        elif kind == 2:
            message = memory_pb2.MessageInput(role=TOOL, tool_call_id=call_id, name="search", content=text)
        else:
            message = memory_pb2.MessageInput(role=USER if kind == 0 else ASSISTANT, content=text)
        batch.append(message)
        if len(batch) == 500 or index == len(texts) - 1:
            await runtime.AppendMessages(
                memory_service_pb2.AppendMessagesRequest(agent_id=agent_id, epoch=1, messages=batch),
                metadata=METADATA,
            )
            batch = []


async def agent_with_blocks(runtime, corpus: Corpus) -> str:
    agent_id = str(uuid.uuid4())
    values = corpus.messages(5, 60, 300)
    await runtime.InitializeAgentMemory(
        memory_service_pb2.InitializeAgentMemoryRequest(
            agent_id=agent_id,
            blocks=[
                memory_pb2.Block(label=f"block{n}", value=value, limit=5000, description=f"block {n}")
                for n, value in enumerate(values)
            ],
        ),
        metadata=METADATA,
    )
    return agent_id


async def bench_context(address: str, messages: int, reads: int) -> dict:
    corpus = Corpus(seed=11)
    async with grpc.aio.insecure_channel(address) as channel:
        runtime = memory_service_pb2_grpc.MemoryRuntimeStub(channel)
        with_boundary, windowed = (
            await agent_with_blocks(runtime, corpus),
            await agent_with_blocks(runtime, corpus),
        )
        log(f"context: {messages} messages for two agents")
        for agent in (with_boundary, windowed):
            await conversation(runtime, agent, corpus, messages)
        # Messages come in groups of four (user, call, return, answer): seq 4k ends a group.
        boundary = messages - 100
        await runtime.SetEvictionBoundary(
            memory_service_pb2.SetEvictionBoundaryRequest(
                agent_id=with_boundary, epoch=1, boundary_seq=boundary, summary="earlier: " * 100
            ),
            metadata=METADATA,
        )
        results = {}
        for name, request in (
            ("boundary_100_in_context", memory_service_pb2.GetContextRequest(agent_id=with_boundary)),
            ("max_messages_100", memory_service_pb2.GetContextRequest(agent_id=windowed, max_messages=100)),
        ):
            answer = await runtime.GetContext(request, metadata=METADATA)
            assert len(answer.blocks) == 5 and len(answer.messages) >= 99, (
                len(answer.blocks),
                len(answer.messages),
            )
            await timed(200, lambda request=request: runtime.GetContext(request, metadata=METADATA))
            samples = await timed(
                reads, lambda request=request: runtime.GetContext(request, metadata=METADATA)
            )
            results[name] = {**summary(samples), "messages_returned": len(answer.messages)}
            log(f"context {name}: p50 {results[name]['p50_ms']} ms")
    return {"messages_per_agent": messages, "blocks": 5, **results}


# --- recall --------------------------------------------------------------------------------------


async def load_messages(url: str, agent_id: str, texts: list[str]) -> None:
    """COPY the messages straight into the table (loading is not what is measured); the search
    index is rebuilt once afterwards, as a bulk import would."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP INDEX IF EXISTS memory.messages_search")
        start = datetime.now(UTC) - timedelta(days=365)
        step = timedelta(days=365) / max(len(texts), 1)
        chunk = 50_000
        for first in range(0, len(texts), chunk):
            rows = [
                (
                    uuid.uuid4(),
                    TENANT,
                    uuid.UUID(agent_id),
                    first + offset + 1,
                    USER if (first + offset) % 2 == 0 else ASSISTANT,
                    text,
                    start + step * (first + offset),
                )
                for offset, text in enumerate(texts[first : first + chunk])
            ]
            await conn.copy_records_to_table(
                "messages",
                schema_name="memory",
                records=rows,
                columns=["id", "tenant", "agent_id", "seq", "role", "content", "created_at"],
            )
            log(f"recall: loaded {first + len(rows)} messages")
        await conn.execute(
            "INSERT INTO memory.agent_state (agent_id, tenant, last_seq, max_epoch) VALUES ($1, $2, $3, 1)",
            uuid.UUID(agent_id),
            TENANT,
            len(texts),
        )
        log("recall: building the search index")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("CREATE INDEX messages_search ON memory.messages USING gin (search)")
        await conn.execute("VACUUM ANALYZE memory.messages")
    finally:
        await conn.close()


async def bench_recall(address: str, url: str, messages: int, queries: int) -> dict:
    corpus = Corpus(seed=3)
    agent_id = str(uuid.uuid4())
    log(f"recall: generating {messages} messages")
    texts = corpus.messages(messages)
    started = time.perf_counter()
    await load_messages(url, agent_id, texts)
    load_seconds = time.perf_counter() - started
    picker = random.Random(5)

    def query(words: int) -> str:
        # What an agent recalls is something that was said: words of a stored message.
        return " ".join(picker.sample(picker.choice(texts).split(), words))

    results: dict = {"messages": messages, "agents": 1, "load_and_index_seconds": round(load_seconds, 1)}
    async with grpc.aio.insecure_channel(address) as channel:
        memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
        for words in (2, 1):
            requests = [
                memory_service_pb2.SearchMessagesRequest(agent_id=agent_id, query=query(words), page_size=10)
                for _ in range(queries)
            ]
            found: list[int] = []
            samples = []
            for request in requests[:20]:  # warm the cache and the connection
                await memory.SearchMessages(request, metadata=METADATA)
            for request in requests:
                begun = time.perf_counter()
                answer = await memory.SearchMessages(request, metadata=METADATA)
                samples.append(time.perf_counter() - begun)
                found.append(len(answer.results))
            results[f"{words}_word_queries"] = {
                **summary(samples),
                "queries_with_10_results": sum(1 for n in found if n == 10),
            }
            log(f"recall {words}-word: p50 {results[f'{words}_word_queries']['p50_ms']} ms")
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--context-messages", type=int, default=10_000)
    parser.add_argument("--context-reads", type=int, default=2_000)
    parser.add_argument("--recall-messages", type=int, default=1_000_000)
    parser.add_argument("--recall-queries", type=int, default=300)
    parser.add_argument("--skip-context", action="store_true")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()

    result: dict = {"benchmark": "memory", "machine": machine()}
    async with embedded_database() as (url, log_dir):
        async with running_services(url, ("memory",), log_dir=log_dir) as suite:
            address = f"127.0.0.1:{suite.ports.memory}"
            if not args.skip_context:
                result["context"] = await bench_context(address, args.context_messages, args.context_reads)
            if not args.skip_recall:
                result["recall"] = await bench_recall(address, url, args.recall_messages, args.recall_queries)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
