"""Archival memory at scale: bulk insert rate, search latency and HNSW recall, with the local embedder.

Builds a synthetic corpus (topics over a Zipf vocabulary, tags from a small set, times over a year),
inserts it into one archive (384 dimensions, HNSW index in place from the start), then measures
searches at the store level (``ArchivalMemory``, what the RPC handlers call) and, unless
``--skip-grpc``, through a real memory service process over gRPC. Prints one JSON document.

    .venv/bin/python bench/archival.py                       # 100,000 passages
    .venv/bin/python bench/archival.py --passages 1000000    # a million (takes a while)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.harness import free_ports, log, machine
from services.common.db import create_engine
from services.common.embedded_pg import EmbeddedPostgres
from services.common.migrations import upgrade
from services.common.settings import Settings
from services.memory.archive_indexer import ArchiveIndexer
from services.memory.core.archival import NewPassage, PassageFilter, SearchMode
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.index_policy import IndexPolicy
from services.memory.core.search_plan import plan_vector_search
from services.memory.embedding import build_embedders
from services.memory.store.archive_index import ArchiveIndexStore, index_name
from services.memory.store.archives import ArchiveStore
from services.memory.store.passages import PassageStore

ROOT = Path(__file__).resolve().parent.parent
TENANT = "bench"
TAGS = ("work", "family", "travel", "health", "money", "hobby", "news", "ideas")
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)


class Corpus:
    """Deterministic synthetic text: each passage is about one topic, whose words dominate it."""

    def __init__(self, seed: int = 7, vocabulary: int = 30_000, topics: int = 60):
        rng = random.Random(seed)
        syllables = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]
        words: set[str] = set()
        while len(words) < vocabulary:
            words.add("".join(rng.choice(syllables) for _ in range(rng.choice((2, 2, 3, 3, 4)))))
        self.words = sorted(words)
        rng.shuffle(self.words)
        # Cumulative weights once: random.choices would otherwise re-add 30,000 weights per call.
        self.zipf = list(itertools.accumulate(1.0 / (rank + 1) ** 1.07 for rank in range(vocabulary)))
        # Each topic: 400 words of its own (drawn from the long tail), used with Zipf weights.
        self.topics = [rng.sample(self.words[200:], 400) for _ in range(topics)]
        self.topic_zipf = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(400)))
        self.rng = rng

    def passage(self, index: int) -> NewPassage:
        rng = self.rng
        topic = rng.randrange(len(self.topics))
        length = rng.randint(15, 45)
        topical = rng.choices(self.topics[topic], cum_weights=self.topic_zipf, k=int(length * 0.5))
        general = rng.choices(self.words, cum_weights=self.zipf, k=length - len(topical))
        words = topical + general
        rng.shuffle(words)
        tags = (TAGS[topic % len(TAGS)],) + ((rng.choice(TAGS),) if rng.random() < 0.3 else ())
        when = YEAR_START + timedelta(seconds=rng.randrange(365 * 24 * 3600))
        return NewPassage(
            text=" ".join(words).capitalize() + ".",
            tags=tuple(dict.fromkeys(tags)),
            metadata={"topic": topic, "n": index},
            created_at=when,
        )

    def query(self) -> str:
        topic = self.rng.randrange(len(self.topics))
        words = self.rng.choices(self.topics[topic], cum_weights=self.topic_zipf, k=self.rng.randint(3, 6))
        return " ".join(words)


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


async def timed(calls) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def insert_corpus(
    memory: ArchivalMemory, archive_id: str, corpus: Corpus, count: int, batch: int
) -> dict:
    """Insert ``count`` passages in calls of ``batch``; only the insert calls are timed (the
    synthetic corpus is generated between them, outside the measurement)."""
    seconds = 0.0
    done = 0
    while done < count:
        size = min(batch, count - done)
        passages = [corpus.passage(done + i) for i in range(size)]
        started = time.perf_counter()
        await memory.insert(tenant=TENANT, archive_id=archive_id, passages=passages)
        seconds += time.perf_counter() - started
        done += size
        if done % (batch * 10) == 0 or done == count:
            log(f"bench: inserted {done:,} passages ({done / seconds:,.0f}/s)")
    return {
        "passages": count,
        "batch": batch,
        "seconds": round(seconds, 2),
        "passages_per_s": round(count / seconds),
    }


async def embedding_only_rate(corpus: Corpus, embedders, count: int = 20_000) -> float:
    texts = [corpus.passage(i).text for i in range(count)]
    embedder = embedders.resolve("local", 384)
    started = time.perf_counter()
    await embedder.embed(texts)
    return round(count / (time.perf_counter() - started))


async def store_level(
    memory: ArchivalMemory, embedders, passages: PassageStore, archive, corpus: Corpus, queries: int
) -> dict:
    texts = [corpus.query() for _ in range(queries)]

    def search(query: str, mode: SearchMode, where: PassageFilter | None = None):
        where = where or PassageFilter()
        return lambda: memory.search(
            tenant=TENANT, archive_id=archive.id, query=query, mode=mode, where=where, limit=10
        )

    for query in texts[:20]:  # warm caches
        await search(query, SearchMode.HYBRID)()
    results = {
        "vector": percentiles(await timed(search(q, SearchMode.VECTOR) for q in texts)),
        "full_text": percentiles(await timed(search(q, SearchMode.FULL_TEXT) for q in texts)),
        "hybrid": percentiles(await timed(search(q, SearchMode.HYBRID) for q in texts)),
    }
    one_tag = PassageFilter(tags=("travel",))
    results["vector_tag_filter"] = percentiles(
        await timed(search(q, SearchMode.VECTOR, one_tag) for q in texts)
    )
    month = PassageFilter(start=YEAR_START + timedelta(days=150), end=YEAR_START + timedelta(days=180))
    results["vector_one_month"] = percentiles(await timed(search(q, SearchMode.VECTOR, month) for q in texts))
    both = PassageFilter(tags=("health", "ideas"), start=YEAR_START, end=YEAR_START + timedelta(days=90))
    results["hybrid_tags_and_quarter"] = percentiles(
        await timed(search(q, SearchMode.HYBRID, both) for q in texts)
    )
    results["recall_at_10"] = await recall(embedders, passages, archive, texts)
    return results


async def recall(embedders, passages: PassageStore, archive, texts: list[str]) -> dict:
    """Index scans (at the ef_search the search plan picks, and others) against exact search of the
    same archive with the same query, k = 10."""
    plan = plan_vector_search(needed=11, indexed_rows=archive.indexed_rows)
    embedder = embedders.resolve(archive.embedder, archive.dimension)
    out: dict = {"plan_exact": plan.exact, "plan_ef_search": plan.ef_search}
    efs = sorted({plan.ef_search, 40, 100, 200, 400, 800})
    hits = dict.fromkeys(efs, 0)
    for query in texts:
        vector = (await embedder.embed([query]))[0]
        exact = await passages.nearest_exact(
            vector, archive_ids=[archive.id], where=PassageFilter(), limit=10
        )
        truth = {p.id for p, _, _ in exact}
        for ef in efs:
            ann = await passages.nearest_indexed(
                archive, vector, where=PassageFilter(), limit=10, ef_search=ef
            )
            hits[ef] += len({p.id for p, _, _ in ann} & truth)
    for ef in efs:
        out[f"ef_search_{ef}"] = round(hits[ef] / (10 * len(texts)), 4)
    return out


async def explain_vector_query(passages: PassageStore, archive, corpus: Corpus, embedders) -> str:
    vector = (await embedders.resolve("local", 384).embed([corpus.query()]))[0]
    return await passages.explain_indexed(archive, vector, where=PassageFilter(), limit=11)


async def wait_for_index(
    archives: ArchiveStore, archive_id: str, timeout: float = 3600
) -> tuple[float, object]:
    """Seconds until the background indexer has every passage of the archive in its index."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        archive = await archives.get(tenant=TENANT, archive_id=archive_id)
        if archive.indexed_rows >= archive.passage_count:
            return time.perf_counter() - started, archive
        await asyncio.sleep(0.5)
    raise TimeoutError("the indexer did not catch up")


async def grpc_level(url: str, archive_id: str, corpus: Corpus, queries: int, insert_count: int) -> dict:
    """The same searches through a real memory service process (gRPC, protobuf, tenant metadata)."""
    import grpc

    from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
    from services.common.call import TENANT_KEY

    port = free_ports(1)[0]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AGENTSUITE_PORT": str(port),
        "AGENTSUITE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.memory", env=env, cwd=str(ROOT), start_new_session=True
    )
    metadata = ((TENANT_KEY, TENANT),)
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_send_message_length", 16 << 20),
                ("grpc.max_receive_message_length", 16 << 20),
            ],
        ) as channel:
            await asyncio.wait_for(channel.channel_ready(), 60)
            stub = memory_service_pb2_grpc.MemoryServiceStub(channel)
            texts = [corpus.query() for _ in range(queries)]

            def search(query: str, mode: int):
                request = memory_service_pb2.SearchPassagesRequest(
                    archive_id=archive_id, query=query, mode=mode
                )
                return lambda: stub.SearchPassages(request, metadata=metadata, timeout=30)

            for query in texts[:20]:
                await search(query, memory_pb2.SEARCH_MODE_HYBRID)()
            out = {
                "vector": percentiles(await timed(search(q, memory_pb2.SEARCH_MODE_VECTOR) for q in texts)),
                "hybrid": percentiles(await timed(search(q, memory_pb2.SEARCH_MODE_HYBRID) for q in texts)),
            }
            other = await stub.CreateArchive(
                memory_service_pb2.CreateArchiveRequest(name="grpc"), metadata=metadata
            )
            batch, seconds = 2000, 0.0
            for offset in range(0, insert_count, batch):
                passages = [corpus.passage(offset + i) for i in range(min(batch, insert_count - offset))]
                request = memory_service_pb2.InsertPassagesRequest(
                    archive_id=other.archive.id,
                    passages=[
                        memory_pb2.PassageInput(text=p.text, tags=p.tags, create_time=_stamp(p.created_at))
                        for p in passages
                    ],
                )
                started = time.perf_counter()
                await stub.InsertPassages(request, metadata=metadata, timeout=120)
                seconds += time.perf_counter() - started
            out["insert"] = {
                "passages": insert_count,
                "batch": batch,
                "seconds": round(seconds, 2),
                "passages_per_s": round(insert_count / seconds),
                "note": "a second archive, while the corpus's archive stays in the database",
            }
            return out
    finally:
        process.terminate()
        await process.wait()


def _stamp(moment: datetime):
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="passages per insert call")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--grpc-insert", type=int, default=20_000, help="passages inserted through gRPC")
    parser.add_argument("--skip-grpc", action="store_true")
    parser.add_argument("--build-memory", default="2GB", help="maintenance_work_mem of index builds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="agentsuite-bench-archival-") as tmp:
        state = Path(tmp)
        os.chmod(tmp, 0o711)  # the embedded server's user must traverse it
        url = os.environ.get("DATABASE_URL")
        postgres = None
        if not url:
            postgres = EmbeddedPostgres(state, fast=True)
            url = await asyncio.to_thread(postgres.ensure_running)
        engine = create_engine(url, Settings(service="bench", db_pool_size=4))
        try:
            await upgrade(
                engine, schema="memory", script_location=ROOT / "services" / "memory" / "migrations"
            )
            embedders = build_embedders(Settings(service="memory"))
            archives, passages = ArchiveStore(engine), PassageStore(engine)
            memory = ArchivalMemory(archives, passages, embedders)
            corpus = Corpus()
            result: dict = {
                "machine": machine(),
                "config": vars(args)
                | {
                    "embedder": "local",
                    "dimension": 384,
                    "database": "external" if postgres is None else "embedded, fsync off",
                },
            }
            result["embedding_only_passages_per_s"] = await embedding_only_rate(Corpus(seed=99), embedders)
            archive = await memory.create_archive(tenant=TENANT, name="bench")
            # The service's background indexer, in this process, as `python -m services.memory` runs it.
            # A corpus below the service's threshold would be searched exactly: index it anyway.
            policy = IndexPolicy(min_rows=min(IndexPolicy().min_rows, args.passages))
            result["config"]["index_min_rows"] = policy.min_rows
            indexer = ArchiveIndexer(
                ArchiveIndexStore(engine, maintenance_work_mem=args.build_memory), policy
            )
            indexer.start()
            log(f"bench: inserting {args.passages:,} passages (the indexer runs meanwhile)")
            result["insert"] = await insert_corpus(memory, archive.id, corpus, args.passages, args.batch)
            log("bench: waiting for the indexer to hold every passage")
            catch_up, archive = await wait_for_index(archives, archive.id)
            await indexer.stop()
            result["insert"]["index_catch_up_seconds"] = round(catch_up, 2)
            result["insert"]["passages_per_s_until_fully_indexed"] = round(
                args.passages / (result["insert"]["seconds"] + catch_up)
            )
            # What autovacuum would soon do after a bulk load; done here so it does not run during
            # the measurements (and so counts can use the visibility map).
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("SET statement_timeout = 0"))
                await conn.execute(text("VACUUM ANALYZE memory.passages"))
                size = await conn.execute(
                    text(
                        "SELECT pg_size_pretty(pg_total_relation_size('memory.passages')), "
                        "pg_size_pretty(pg_relation_size(CAST(:index AS regclass)))"
                    ),
                    {"index": f"memory.{index_name(archive.id, archive.indexed_through)}"},
                )
                total, hnsw = size.one()
            result["sizes"] = {"passages_total": total, "hnsw_index": hnsw}
            log("bench: searching (store level)")
            result["store_level"] = await store_level(
                memory, embedders, passages, archive, corpus, args.queries
            )
            result["vector_query_plan"] = await explain_vector_query(passages, archive, corpus, embedders)
            if not args.skip_grpc:
                log("bench: searching and inserting through gRPC")
                result["grpc_level"] = await grpc_level(
                    url, archive.id, corpus, args.queries, args.grpc_insert
                )
            print(json.dumps(result, indent=2))
        finally:
            await engine.dispose()
            if postgres is not None:
                await asyncio.to_thread(postgres.stop)


if __name__ == "__main__":
    # A plain `kill` (or `timeout`) unwinds like Ctrl-C, so the embedded server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())
