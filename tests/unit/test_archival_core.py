"""Archival memory's core without a database: reciprocal rank fusion, the vector search plan, the
local embedder, the text-query rule, the embedder registry, and the exact fallback of a short ANN."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.settings import Settings
from services.memory.core.archival import Archive, Passage, PassageFilter, SearchMode, SearchScope
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.fusion import reciprocal_rank_fusion
from services.memory.core.hashing_embedder import HashingEmbedder
from services.memory.core.index_policy import IndexPolicy
from services.memory.core.search_plan import MAX_EF_SEARCH, MIN_EF_SEARCH, plan_vector_search
from services.memory.core.text_query import matches_any_word
from services.memory.embedding import build_embedders
from services.memory.embedding.minilm import require_installed

# --- fusion ----------------------------------------------------------------------------------------


def test_rrf_rewards_items_both_rankings_agree_on():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "d"]])

    assert [key for key, _ in fused][:2] == ["b", "c"] or [key for key, _ in fused][:2] == ["c", "b"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(2 / 62)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)


def test_rrf_breaks_ties_by_first_appearance():
    assert [key for key, _ in reciprocal_rank_fusion([["x"], ["y"]])] == ["x", "y"]


# --- plan ------------------------------------------------------------------------------------------


def test_small_candidate_sets_are_searched_exactly():
    assert plan_vector_search(needed=11, indexed_rows=4_000).exact
    assert plan_vector_search(needed=11, indexed_rows=100_000, filter_fraction=0.01).exact


def test_a_big_archive_uses_its_index_with_ef_scaled_by_the_filter():
    unfiltered = plan_vector_search(needed=11, indexed_rows=100_000)
    filtered = plan_vector_search(needed=11, indexed_rows=1_000_000, filter_fraction=0.03)

    assert not unfiltered.exact and not filtered.exact
    assert unfiltered.ef_search == MIN_EF_SEARCH
    assert filtered.ef_search > unfiltered.ef_search


def test_a_filter_too_selective_for_the_widest_scan_goes_exact():
    plan = plan_vector_search(needed=11, indexed_rows=10_000_000, filter_fraction=0.005)
    assert plan.exact


def test_a_capped_count_is_a_lower_bound_and_keeps_the_index():
    # A month of a million passages: 5,000 counted (the cap), so at least 0.5% match.
    plan = plan_vector_search(
        needed=11, indexed_rows=1_000_000, filter_fraction=0.005, fraction_is_lower_bound=True
    )
    assert not plan.exact and plan.ef_search == MAX_EF_SEARCH


def test_ef_search_never_exceeds_pgvectors_limit():
    plan = plan_vector_search(needed=400, indexed_rows=1_000_000, filter_fraction=0.5)
    assert not plan.exact and plan.ef_search == MAX_EF_SEARCH


def test_index_policy_waits_for_quiet_or_for_a_large_tail():
    policy = IndexPolicy(min_rows=20_000, settle_seconds=2)

    assert not policy.wants_index(indexed_rows=0, tail_rows=19_999, quiet_seconds=60)
    assert policy.wants_index(indexed_rows=0, tail_rows=20_000, quiet_seconds=60)
    assert not policy.wants_index(indexed_rows=0, tail_rows=50_000, quiet_seconds=0.5)  # still loading
    assert policy.wants_index(indexed_rows=0, tail_rows=80_000, quiet_seconds=0.5)
    assert not policy.wants_index(indexed_rows=400_000, tail_rows=60_000, quiet_seconds=60)
    assert policy.wants_index(indexed_rows=400_000, tail_rows=100_000, quiet_seconds=60)


# --- local embedder --------------------------------------------------------------------------------


def test_local_vectors_are_deterministic_unit_vectors():
    first = HashingEmbedder().embed_now(["Archival memory keeps passages", ""])
    again = HashingEmbedder().embed_now(["Archival memory keeps passages", ""])

    assert first.shape == (2, 384) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_local_vectors_see_shared_words_and_morphology_but_not_meaning():
    embed = HashingEmbedder().embed_now
    query, inflected, unrelated, synonym = embed(
        ["indexing embeddings", "the embedding index", "a cat sat on the mat", "vectorising representations"]
    )

    assert query @ inflected > 0.15  # no word in common, only stems: character n-grams carry it
    assert query @ inflected > query @ unrelated + 0.1
    assert query @ synonym < 0.05  # it does not know these mean much the same


async def test_local_embedder_batches_large_inputs_off_the_event_loop():
    texts = [f"passage {i} about harbours and cranes" for i in range(2500)]
    embedder = HashingEmbedder(64)

    vectors = await embedder.embed(texts)

    assert vectors.shape == (2500, 64)
    assert np.array_equal(vectors[1234], embedder.embed_now([texts[1234]])[0])


# --- text queries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "any_word"),
    [
        ("what did Ana say about Lisbon", True),
        ('"exact phrase" here', False),
        ("cats -dogs", False),
        ("cats or dogs", False),
        ("oregano and ore", True),
        ("state-of-the-art", True),
    ],
)
def test_plain_queries_match_any_word_and_operators_keep_their_meaning(query, any_word):
    assert matches_any_word(query) is any_word


# --- registry --------------------------------------------------------------------------------------


def test_registry_names_the_known_embedders_when_asked_for_another():
    registry = build_embedders(Settings(service="memory"))

    with pytest.raises(InvalidArgument) as refused:
        registry.resolve("bert", 0)

    assert "local" in refused.value.message and "minilm" in refused.value.message
    assert registry.resolve("", 0).name == "local"
    assert registry.resolve("local", 128).dimension == 128


def test_openai_embedder_exists_only_when_configured():
    plain = build_embedders(Settings(service="memory"))
    configured = build_embedders(Settings(service="memory", embedding_model="m", embedding_dimension=256))

    with pytest.raises(InvalidArgument):
        plain.resolve("openai", 0)
    assert configured.resolve("openai", 0).dimension == 256
    with pytest.raises(InvalidArgument):
        configured.resolve("openai", 384)


def test_minilm_without_its_packages_is_a_failed_precondition_saying_how_to_install():
    try:
        require_installed()
    except FailedPrecondition as missing:
        assert "pip install" in missing.message
        with pytest.raises(FailedPrecondition):
            build_embedders(Settings(service="memory")).resolve("minilm", 0)
    else:
        pytest.skip("the minilm extra is installed here")


# --- exact fallback --------------------------------------------------------------------------------


class ShortIndex:
    """A passage repository whose index scan comes back short, as a filtered HNSW scan can."""

    def __init__(self):
        self.calls: list[str] = []
        now = datetime.now(UTC)
        self.passages = [
            Passage(id=f"p{i}", archive_id="a", text="t", tags=(), metadata={}, created_at=now)
            for i in range(20)
        ]

    async def scope(self, archives, where):
        return SearchScope(archives=tuple(archives), filter_fractions=(0.5,))

    async def nearest_indexed(self, archive, query, *, where, limit, ef_search, text_query=""):
        self.calls.append("index")
        return [(p, 0.5, 0.0) for p in self.passages[:3]]

    async def nearest_exact(self, query, *, archive_ids, tails=(), where, limit, text_query=""):
        self.calls.append(f"exact {list(archive_ids)} tails {list(tails)}")
        return [(p, 0.5, 0.0) for p in self.passages[:limit]]


class OneIndexedArchive:
    async def get(self, *, tenant, archive_id):
        return Archive(
            id="a", name="n", embedder="local", dimension=8, passage_count=100_000, agent_ids=(),
            created_at=datetime.now(UTC), indexed_through=90_000, indexed_rows=90_000,
        )  # fmt: skip


async def test_a_short_index_scan_falls_back_to_an_exact_search_of_that_archive():
    index = ShortIndex()
    memory = ArchivalMemory(OneIndexedArchive(), index, build_embedders(Settings(service="memory")))

    page = await memory.search(
        tenant="t", archive_id="a", query="q", mode=SearchMode.VECTOR,
        where=PassageFilter(start=datetime(2020, 1, 1, tzinfo=UTC)), limit=10,
    )  # fmt: skip

    assert index.calls == ["index", "exact ['a'] tails []"]
    assert len(page.results) == 10 and page.more
