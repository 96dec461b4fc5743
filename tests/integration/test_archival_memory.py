"""Archival memory on the real PostgreSQL + pgvector: archives and their agents, exact counters,
all-or-none bulk insert, and search (vector, full text, hybrid) with filters applied before the limit
(DESIGN §7, §11)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from services.common.errors import InvalidArgument, NotFound
from services.memory.archive_indexer import ArchiveIndexer
from services.memory.core.archival import NewPassage, PassageFilter, SearchMode
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.hashing_embedder import HashingEmbedder
from services.memory.core.index_policy import IndexPolicy
from services.memory.embedding.registry import EmbedderRegistry, fixed_dimension
from services.memory.store.agents import ensure_agent
from services.memory.store.archive_index import INDEX_PREFIX, ArchiveIndexStore
from services.memory.store.archives import ArchiveStore
from services.memory.store.passages import PassageStore

TOPICS = ("ocean", "mountain", "city", "forest", "desert", "river", "island")


class TopicEmbedder:
    """Vectors a test can reason about: one axis per topic word, plus a small constant axis.

    It makes "similar by vector" and "similar by text" independent: a passage can be about a topic
    without sharing a word with the query, and share words without being about the topic.
    """

    name = "topics"
    dimension = len(TOPICS) + 1
    local = True

    async def embed(self, texts):
        out = np.zeros((len(texts), self.dimension), np.float32)
        for row, passage in enumerate(texts):
            for column, topic in enumerate(TOPICS):
                out[row, column] = passage.count(topic.upper())  # only UPPERCASE marks count
            out[row, -1] = 0.05
        return out


@pytest.fixture
def archives(migrated_engine) -> ArchiveStore:
    return ArchiveStore(migrated_engine)


@pytest.fixture
def passages(migrated_engine) -> PassageStore:
    return PassageStore(migrated_engine)


@pytest.fixture
def memory(archives, passages) -> ArchivalMemory:
    registry = EmbedderRegistry(
        {
            "local": lambda dimension: HashingEmbedder(dimension or 384),
            "topics": fixed_dimension("topics", TopicEmbedder.dimension, TopicEmbedder),
        },
        default="local",
    )
    # exact_max_rows=0: once an archive has an index, even these small ones take the HNSW path.
    return ArchivalMemory(archives, passages, registry, exact_max_rows=0)


@pytest.fixture
def indexes(migrated_engine) -> ArchiveIndexStore:
    return ArchiveIndexStore(migrated_engine)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def new_agent(migrated_engine, tenant):
    async def make(owner: str | None = None) -> str:
        agent_id = str(uuid.uuid4())
        async with migrated_engine.begin() as conn:
            await ensure_agent(conn, owner or tenant, agent_id)
        return agent_id

    return make


async def counters(engine, archive_id: str) -> tuple[int, dict[str, int]]:
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT passage_count FROM memory.archives WHERE id = :id"), {"id": archive_id}
            )
        ).scalar_one()
        tags = await conn.execute(
            text("SELECT tag, passage_count FROM memory.archive_tags WHERE archive_id = :id"),
            {"id": archive_id},
        )
        return count, dict(tags.all())


async def true_counts(engine, archive_id: str) -> tuple[int, dict[str, int]]:
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT count(*) FROM memory.passages WHERE archive_id = :id"), {"id": archive_id}
            )
        ).scalar_one()
        tags = await conn.execute(
            text(
                "SELECT tag, count(*) FROM memory.passages, unnest(tags) AS tag "
                "WHERE archive_id = :id GROUP BY tag"
            ),
            {"id": archive_id},
        )
        return count, dict(tags.all())


# --- archives -----------------------------------------------------------------------------------------


async def test_create_uses_the_local_embedder_by_default(memory, archives, tenant):
    archive = await memory.create_archive(tenant=tenant, name="notes")

    assert (archive.embedder, archive.dimension, archive.passage_count) == ("local", 384, 0)
    assert archive.indexed_through == 0
    assert await archives.get(tenant=tenant, archive_id=archive.id) == archive


async def test_create_refuses_an_unknown_embedder_naming_the_known_ones(memory, tenant):
    with pytest.raises(InvalidArgument) as refused:
        await memory.create_archive(tenant=tenant, name="x", embedder="word2vec")

    assert "local" in refused.value.message and "topics" in refused.value.message


async def test_create_checks_the_dimension_against_the_embedder(memory, tenant):
    with pytest.raises(InvalidArgument):
        await memory.create_archive(tenant=tenant, name="x", dimension=2001)
    with pytest.raises(InvalidArgument):
        await memory.create_archive(tenant=tenant, name="x", embedder="topics", dimension=384)

    small = await memory.create_archive(tenant=tenant, name="x", dimension=64)
    assert small.dimension == 64


async def test_another_tenants_archive_is_not_found(memory, archives, tenant):
    archive = await memory.create_archive(tenant=tenant, name="mine")

    with pytest.raises(NotFound):
        await archives.get(tenant="someone-else", archive_id=archive.id)
    with pytest.raises(NotFound):
        await archives.delete(tenant="someone-else", archive_id=archive.id)
    with pytest.raises(NotFound):
        await memory.insert(tenant="someone-else", archive_id=archive.id, passages=[NewPassage(text="x")])
    with pytest.raises(NotFound):
        await memory.search(
            tenant="someone-else", archive_id=archive.id, query="x", mode=SearchMode.HYBRID,
            where=PassageFilter(), limit=5,
        )  # fmt: skip
    assert (await archives.get(tenant=tenant, archive_id=archive.id)).id == archive.id


async def test_list_pages_newest_first_and_by_agent(memory, archives, tenant, new_agent):
    agent = await new_agent()
    made = [await memory.create_archive(tenant=tenant, name=f"a{i}") for i in range(5)]
    await archives.attach(tenant=tenant, archive_id=made[1].id, agent_ids=[agent])
    await archives.attach(tenant=tenant, archive_id=made[3].id, agent_ids=[agent])

    first = await archives.list(tenant=tenant, limit=3)
    rest = await archives.list(tenant=tenant, limit=3, after=(first[-1].created_at, first[-1].id))

    assert [a.name for a in first + rest] == ["a4", "a3", "a2", "a1", "a0"]
    by_agent = await archives.list(tenant=tenant, limit=10, agent_id=agent)
    assert [a.name for a in by_agent] == ["a3", "a1"]
    with pytest.raises(NotFound):
        await archives.list(tenant=tenant, limit=10, agent_id=str(uuid.uuid4()))


async def test_attach_and_detach_several_agents(memory, archives, tenant, new_agent):
    first, second = await new_agent(), await new_agent()
    archive = await memory.create_archive(tenant=tenant, name="shared", agent_id=first)

    attached = await archives.attach(tenant=tenant, archive_id=archive.id, agent_ids=[first, second])
    assert set(attached.agent_ids) == {first, second}

    detached = await archives.detach(tenant=tenant, archive_id=archive.id, agent_ids=[first])
    assert detached.agent_ids == (second,)
    with pytest.raises(NotFound):
        await archives.detach(tenant=tenant, archive_id=archive.id, agent_ids=[first])
    with pytest.raises(NotFound):  # an agent of another tenant is unknown here
        await archives.attach(tenant=tenant, archive_id=archive.id, agent_ids=[await new_agent("other")])


async def test_delete_removes_passages_links_and_counts(memory, archives, migrated_engine, tenant, new_agent):
    agent = await new_agent()
    archive = await memory.create_archive(tenant=tenant, name="gone", agent_id=agent)
    await memory.insert(tenant=tenant, archive_id=archive.id, passages=[NewPassage(text="a", tags=("x",))])

    await archives.delete(tenant=tenant, archive_id=archive.id)

    assert await true_counts(migrated_engine, archive.id) == (0, {})
    assert await archives.stats_for_agent(tenant=tenant, agent_id=agent) == (0, [])
    with pytest.raises(NotFound):
        await archives.delete(tenant=tenant, archive_id=archive.id)


async def test_forgetting_an_agent_deletes_its_own_archives_and_detaches_shared_ones(
    memory, archives, tenant, new_agent
):
    agent, other = await new_agent(), await new_agent()
    own = await memory.create_archive(tenant=tenant, name="own", agent_id=agent)
    shared = await memory.create_archive(tenant=tenant, name="shared", agent_id=agent)
    await archives.attach(tenant=tenant, archive_id=shared.id, agent_ids=[other])

    await archives.forget_agent(tenant=tenant, agent_id=agent)
    await archives.forget_agent(tenant=tenant, agent_id=agent)  # a retry is harmless

    with pytest.raises(NotFound):
        await archives.get(tenant=tenant, archive_id=own.id)
    assert (await archives.get(tenant=tenant, archive_id=shared.id)).agent_ids == (other,)


# --- passages and counters --------------------------------------------------------------------------


async def test_counters_stay_exact_through_inserts_and_deletes(
    memory, archives, passages, migrated_engine, tenant, new_agent
):
    agent = await new_agent()
    first = await memory.create_archive(tenant=tenant, name="one", agent_id=agent)
    second = await memory.create_archive(tenant=tenant, name="two", agent_id=agent)
    ids = await memory.insert(
        tenant=tenant,
        archive_id=first.id,
        passages=[
            NewPassage(text="alpha", tags=("red", "blue")),
            NewPassage(text="beta", tags=("red",)),
            NewPassage(text="gamma"),
        ],
    )
    await memory.insert(tenant=tenant, archive_id=second.id, passages=[NewPassage(text="d", tags=("green",))])

    await passages.delete(tenant=tenant, passage_id=ids[0])

    assert await counters(migrated_engine, first.id) == await true_counts(migrated_engine, first.id)
    assert await counters(migrated_engine, first.id) == (2, {"red": 1})
    assert await archives.stats_for_agent(tenant=tenant, agent_id=agent) == (3, ["green", "red"])
    with pytest.raises(NotFound):
        await passages.delete(tenant=tenant, passage_id=ids[0])
    with pytest.raises(NotFound):
        await passages.delete(tenant="someone-else", passage_id=ids[1])


async def test_insert_is_all_or_none(memory, migrated_engine, tenant):
    archive = await memory.create_archive(tenant=tenant, name="atomic")
    batch = [NewPassage(text=f"passage {i}", tags=("t",)) for i in range(500)]
    batch.append(NewPassage(text="a NUL \x00 byte Postgres text cannot hold", tags=("t",)))

    with pytest.raises(Exception):  # noqa: B017 - the driver's error; the API refuses NUL before this
        await memory.insert(tenant=tenant, archive_id=archive.id, passages=batch)

    assert await true_counts(migrated_engine, archive.id) == (0, {})
    assert await counters(migrated_engine, archive.id) == (0, {})


async def test_insert_keeps_fields_and_list_pages_newest_first_with_tag_filters(memory, passages, tenant):
    archive = await memory.create_archive(tenant=tenant, name="listed")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    await memory.insert(
        tenant=tenant,
        archive_id=archive.id,
        passages=[
            NewPassage(
                text=f"note {i}",
                tags=("even",) if i % 2 == 0 else ("odd", "prime") if i in (3, 5) else ("odd",),
                metadata={"i": i},
                created_at=start + timedelta(days=i),
            )
            for i in range(7)
        ],
    )

    page = await passages.list(archive_id=archive.id, limit=3)
    rest = await passages.list(archive_id=archive.id, limit=10, after=(page[-1].created_at, page[-1].id))
    assert [p.text for p in page + rest] == [f"note {i}" for i in range(6, -1, -1)]
    assert page[0].metadata == {"i": 6} and page[0].created_at == start + timedelta(days=6)

    odd_primes = await passages.list(
        archive_id=archive.id, limit=10, where=PassageFilter(tags=("odd", "prime"), all_tags=True)
    )
    assert [p.text for p in odd_primes] == ["note 5", "note 3"]
    either = await passages.list(archive_id=archive.id, limit=10, where=PassageFilter(tags=("prime", "even")))
    assert len(either) == 6


# --- search -------------------------------------------------------------------------------------------


async def topic_archive(memory, tenant, texts_tags_times, indexes: ArchiveIndexStore | None = None):
    """An archive of the topic embedder holding these passages; with ``indexes``, its HNSW index built."""
    archive = await memory.create_archive(tenant=tenant, name="topics", embedder="topics")
    await memory.insert(
        tenant=tenant,
        archive_id=archive.id,
        passages=[NewPassage(text=t, tags=tags, created_at=when) for t, tags, when in texts_tags_times],
    )
    if indexes is not None:
        assert await indexes.build(archive.id, archive.dimension)
    return archive


async def search(memory, tenant, archive, query, mode=SearchMode.VECTOR, limit=10, **where):
    page = await memory.search(
        tenant=tenant,
        archive_id=archive.id,
        query=query,
        mode=mode,
        where=PassageFilter(**where),
        limit=limit,
    )
    return page.results


NOW = datetime(2026, 6, 1, tzinfo=UTC)


async def test_a_tag_filter_that_excludes_the_top_vector_hits_still_returns_k_results(
    memory, tenant, indexes
):
    # 300 passages right on the query's topic, all tagged "noise"; 20 further away tagged "wanted".
    rows = [(f"OCEAN OCEAN {i}", ("noise",), NOW) for i in range(300)]
    rows += [(f"OCEAN RIVER RIVER {i}", ("wanted",), NOW) for i in range(20)]
    archive = await topic_archive(memory, tenant, rows, indexes)

    results = await search(memory, tenant, archive, "OCEAN", tags=("wanted",))

    assert len(results) == 10
    assert all(r.passage.tags == ("wanted",) for r in results)


async def test_a_time_range_that_excludes_the_top_vector_hits_still_returns_k_results(
    memory, tenant, indexes
):
    old = NOW - timedelta(days=400)
    rows = [(f"OCEAN {i}", (), NOW) for i in range(300)]
    rows += [(f"OCEAN FOREST {i}", (), old + timedelta(hours=i)) for i in range(20)]
    archive = await topic_archive(memory, tenant, rows, indexes)

    results = await search(
        memory, tenant, archive, "OCEAN", start=old, end=old + timedelta(hours=15), limit=10
    )

    assert len(results) == 10
    assert all(old <= r.passage.created_at < old + timedelta(hours=15) for r in results)


async def test_vector_scores_are_cosine_similarities_in_order(memory, tenant):
    rows = [("OCEAN", (), NOW), ("OCEAN RIVER", (), NOW), ("RIVER", (), NOW), ("CITY", (), NOW)]
    archive = await topic_archive(memory, tenant, rows)

    results = await search(memory, tenant, archive, "OCEAN")

    assert [r.passage.text for r in results[:3]] == ["OCEAN", "OCEAN RIVER", "RIVER"] or [
        r.passage.text for r in results[:2]
    ] == ["OCEAN", "OCEAN RIVER"]
    assert results[0].vector_score == pytest.approx(1.0, abs=1e-6)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert all(r.score == r.vector_score and r.text_score == 0 for r in results)


async def test_full_text_ranks_matches_and_ignores_the_rest(memory, tenant):
    rows = [
        ("the lighthouse keeper kept the lighthouse lit", (), NOW),
        ("a lighthouse on the coast", (), NOW),
        ("nothing to see here", (), NOW),
    ]
    archive = await topic_archive(memory, tenant, rows)

    results = await search(memory, tenant, archive, "lighthouses", mode=SearchMode.FULL_TEXT)

    assert [r.passage.text for r in results] == [rows[0][0], rows[1][0]]
    assert results[0].text_score > results[1].text_score > 0
    assert all(r.vector_score == 0 and r.score == r.text_score for r in results)


async def test_hybrid_finds_a_passage_only_text_matches_and_one_only_vectors_match(memory, tenant):
    only_text = "the word marmalade appears here, about CITY things"
    only_vector = "waves and tides OCEANOCEAN"  # on topic, yet no word in common
    rows = [(only_text, (), NOW), (only_vector, (), NOW)]
    rows += [(f"filler {i} DESERT", (), NOW) for i in range(30)]
    archive = await topic_archive(memory, tenant, rows)
    query = "marmalade OCEAN"

    by_text = {r.passage.text for r in await search(memory, tenant, archive, query, SearchMode.FULL_TEXT)}
    hybrid = await search(memory, tenant, archive, query, SearchMode.HYBRID, limit=2)

    assert only_vector not in by_text and only_text in by_text
    assert {r.passage.text for r in hybrid} == {only_text, only_vector}
    scores = {r.passage.text: r for r in hybrid}
    assert scores[only_text].text_score > 0 and scores[only_vector].text_score == 0
    assert scores[only_vector].vector_score > scores[only_text].vector_score
    assert (
        scores[only_text].score == pytest.approx(1 / 61 + 1 / (60 + 2), rel=1e-6)
        or scores[only_text].score > 1 / 61
    )


async def test_search_by_agent_covers_every_attached_archive(memory, archives, tenant, new_agent):
    agent = await new_agent()
    one = await memory.create_archive(tenant=tenant, name="one", agent_id=agent)
    two = await memory.create_archive(tenant=tenant, name="two", agent_id=agent)
    unattached = await memory.create_archive(tenant=tenant, name="three")
    for archive, word in ((one, "lighthouse"), (two, "lighthouses"), (unattached, "lighthouse")):
        await memory.insert(tenant=tenant, archive_id=archive.id, passages=[NewPassage(text=f"a {word}")])

    page = await memory.search(
        tenant=tenant, agent_id=agent, query="lighthouse", mode=SearchMode.HYBRID,
        where=PassageFilter(), limit=10,
    )  # fmt: skip

    assert {r.passage.archive_id for r in page.results} == {one.id, two.id}


async def test_search_pages_do_not_overlap(memory, tenant):
    archive = await memory.create_archive(tenant=tenant, name="paged")
    await memory.insert(
        tenant=tenant,
        archive_id=archive.id,
        passages=[NewPassage(text=f"harbour crane number {i} lifts boxes") for i in range(25)],
    )

    seen = []
    offset, more = 0, True
    while more:
        page = await memory.search(
            tenant=tenant, archive_id=archive.id, query="harbour crane", mode=SearchMode.HYBRID,
            where=PassageFilter(), limit=10, offset=offset,
        )  # fmt: skip
        seen += [r.passage.id for r in page.results]
        offset, more = offset + 10, page.more

    assert len(seen) == 25 and len(set(seen)) == 25


# --- large archives: their own bulk-built HNSW index, plus the exact tail ------------------------------


async def test_an_archive_index_covers_its_passages_and_the_planner_uses_it(
    memory, passages, archives, indexes, migrated_engine, tenant
):
    rows = [(f"OCEAN {'RIVER ' * (i % 5)}{i}", (), NOW) for i in range(200)]
    archive = await topic_archive(memory, tenant, rows, indexes)
    archive = await archives.get(tenant=tenant, archive_id=archive.id)

    assert archive.indexed_rows == 200 and archive.indexed_through > 0
    query = (await TopicEmbedder().embed(["OCEAN"]))[0]
    # Tiny and unanalysed, Postgres rightly prefers a sort here; priced out, the index must answer.
    plan = await passages.explain_indexed(archive, query, where=PassageFilter(), limit=10, only_index=True)
    assert f"Index Scan using {INDEX_PREFIX}" in plan


async def test_search_merges_the_index_with_the_tail_it_does_not_hold_yet(memory, archives, indexes, tenant):
    rows = [(f"OCEAN RIVER {i}", (), NOW) for i in range(200)]
    archive = await topic_archive(memory, tenant, rows, indexes)
    await memory.insert(tenant=tenant, archive_id=archive.id, passages=[NewPassage(text="OCEAN newest")])

    results = await search(memory, tenant, archive, "OCEAN", limit=5)

    assert results[0].passage.text == "OCEAN newest"  # exactly on topic, only in the tail
    assert len(results) == 5 and len({r.passage.id for r in results}) == 5


async def test_a_rebuilt_index_replaces_the_old_one_and_deleted_archives_lose_theirs(
    memory, archives, indexes, migrated_engine, tenant
):
    archive = await topic_archive(memory, tenant, [(f"CITY {i}", (), NOW) for i in range(50)], indexes)
    await memory.insert(tenant=tenant, archive_id=archive.id, passages=[NewPassage(text="CITY more")])

    assert await indexes.build(archive.id, archive.dimension)
    assert (await archives.get(tenant=tenant, archive_id=archive.id)).indexed_rows == 51
    assert await run_time_indexes(migrated_engine, archive.id) == 1

    await archives.delete(tenant=tenant, archive_id=archive.id)
    await indexes.sweep()
    assert await run_time_indexes(migrated_engine, archive.id) == 0


async def run_time_indexes(engine, archive_id: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM pg_indexes WHERE schemaname = 'memory' AND indexname LIKE :name"),
                {"name": f"{INDEX_PREFIX}{uuid.UUID(archive_id).hex}%"},
            )
        ).scalar_one()


async def test_the_indexer_gives_large_quiet_archives_an_index_and_leaves_small_ones_exact(
    memory, archives, migrated_engine, tenant
):
    big = await memory.create_archive(tenant=tenant, name="big", dimension=32)
    small = await memory.create_archive(tenant=tenant, name="small", dimension=32)
    await memory.insert(
        tenant=tenant, archive_id=big.id, passages=[NewPassage(text=f"b {i}") for i in range(60)]
    )
    await memory.insert(
        tenant=tenant, archive_id=small.id, passages=[NewPassage(text=f"s {i}") for i in range(5)]
    )
    indexer = ArchiveIndexer(ArchiveIndexStore(migrated_engine), IndexPolicy(min_rows=50, settle_seconds=0))

    await indexer.run_once()

    assert (await archives.get(tenant=tenant, archive_id=big.id)).indexed_rows == 60
    assert (await archives.get(tenant=tenant, archive_id=small.id)).indexed_through == 0
    assert await indexer.run_once() == 0  # nothing new: no rebuild
