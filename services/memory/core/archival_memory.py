"""Archival memory's use cases: create archives, embed and insert passages, search them.

Storage is reached through the small protocols below (the real ones are in ``services.memory.store``),
embedders through :class:`EmbedderSource`; nothing here knows SQL or gRPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Protocol

import numpy as np

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.metrics import record_embedding, timed
from services.memory.core.archival import (
    Archive,
    Fence,
    NewPassage,
    Passage,
    PassageFilter,
    ScoredPassage,
    SearchMode,
    SearchScope,
)
from services.memory.core.embedder import Embedder
from services.memory.core.fusion import reciprocal_rank_fusion
from services.memory.core.search_plan import EXACT_MAX_ROWS, MAX_EF_SEARCH, plan_vector_search

MAX_SEARCH_DEPTH = MAX_EF_SEARCH
"""Results beyond this rank are never returned (pages stop there)."""
HYBRID_DEPTH = 100
"""Candidates taken from each ranking before fusion while the pages asked for stay within them; a
fixed depth keeps fused scores, hence page boundaries, the same from one page to the next."""

INSERT_BATCH = 2000
"""Passages embedded and written (one COPY) at a time within one insert."""

_Hit = tuple[Passage, float, float]  # passage, cosine similarity, text rank


class EmbedderSource(Protocol):
    def resolve(self, name: str, dimension: int) -> Embedder:
        """The embedder ``name`` ("" = default) producing ``dimension`` (0 = native) dimensions;
        InvalidArgument when unknown or unsupported."""
        ...


class ArchiveRepository(Protocol):
    async def create(
        self, *, tenant: str, name: str, embedder: str, dimension: int, agent_id: str = ""
    ) -> Archive: ...

    async def get(self, *, tenant: str, archive_id: str) -> Archive: ...

    async def list_for_agent(self, *, tenant: str, agent_id: str) -> list[Archive]: ...


class PassageRepository(Protocol):
    async def insert(
        self,
        *,
        tenant: str,
        archive: Archive,
        batches: AsyncIterator[tuple[Sequence[NewPassage], np.ndarray]],
        fence: Fence | None = None,
        idempotency_key: str = "",
    ) -> list[str]: ...

    async def scope(self, archives: Sequence[Archive], where: PassageFilter) -> SearchScope: ...

    async def nearest_exact(
        self,
        query: np.ndarray,
        *,
        archive_ids: Sequence[str],
        tails: Sequence[tuple[str, int]] = (),
        where: PassageFilter,
        limit: int,
        text_query: str = "",
    ) -> list[_Hit]: ...

    async def nearest_indexed(
        self,
        archive: Archive,
        query: np.ndarray,
        *,
        where: PassageFilter,
        limit: int,
        ef_search: int,
        text_query: str = "",
    ) -> list[_Hit]: ...

    async def best_text_matches(
        self,
        scope: SearchScope,
        text_query: str,
        *,
        where: PassageFilter,
        limit: int,
        query: np.ndarray | None = None,
    ) -> list[_Hit]: ...


@dataclass(frozen=True)
class SearchPage:
    """One page of results, best first; ``more`` when a next page exists."""

    results: list[ScoredPassage]
    more: bool


class ArchivalMemory:
    """Archives and passages of every tenant, with embedding and hybrid search."""

    def __init__(
        self,
        archives: ArchiveRepository,
        passages: PassageRepository,
        embedders: EmbedderSource,
        *,
        exact_max_rows: int = EXACT_MAX_ROWS,
    ):
        self._archives = archives
        self._passages = passages
        self._embedders = embedders
        self._exact_max_rows = exact_max_rows

    async def create_archive(
        self, *, tenant: str, name: str, embedder: str = "", dimension: int = 0, agent_id: str = ""
    ) -> Archive:
        """Create an archive whose dimension the embedder can produce (its native one by default)."""
        chosen = self._embedders.resolve(embedder, dimension)
        return await self._archives.create(
            tenant=tenant, name=name, embedder=chosen.name, dimension=chosen.dimension, agent_id=agent_id
        )

    async def insert(
        self,
        *,
        tenant: str,
        archive_id: str,
        passages: Sequence[NewPassage],
        fence: Fence | None = None,
        idempotency_key: str = "",
    ) -> list[str]:
        """Embed ``passages`` with the archive's embedder and insert them, all or none; ``fence``
        makes the insert an agent run's write (refused when the run's lease passed on), and an
        ``idempotency_key`` used before makes it answer with the ids inserted then.

        An in-process embedder embeds the next batch while the previous one is written (the two
        use different cores). A remote one is called for every batch before the transaction opens,
        so a slow provider never holds a database connection or transaction.
        """
        archive = await self._archives.get(tenant=tenant, archive_id=archive_id)
        embedder = self._embedder_of(archive)
        chunks = [passages[start : start + INSERT_BATCH] for start in range(0, len(passages), INSERT_BATCH)]
        if embedder.local:
            batches = _embedded_ahead(embedder, chunks, archive.dimension)
        else:
            embedded = [(chunk, await _embed(embedder, chunk, archive.dimension)) for chunk in chunks]
            batches = _replay(embedded)
        return await self._passages.insert(
            tenant=tenant, archive=archive, batches=batches, fence=fence, idempotency_key=idempotency_key
        )

    async def search(
        self,
        *,
        tenant: str,
        query: str,
        mode: SearchMode,
        where: PassageFilter,
        limit: int,
        offset: int = 0,
        archive_id: str = "",
        agent_id: str = "",
    ) -> SearchPage:
        """Passages of one archive, or of every archive of an agent, ranked by ``mode``.

        An agent's archives may use different embedders: the query is embedded once per embedder
        and dimension, each group is searched on its own and the groups are merged by score.
        (Cosine similarities of different embedders are not calibrated against each other; hybrid
        scores, being rank-based, merge better.)
        """
        if archive_id:
            archives = [await self._archives.get(tenant=tenant, archive_id=archive_id)]
        else:
            archives = await self._archives.list_for_agent(tenant=tenant, agent_id=agent_id)
        needed = offset + limit + 1  # one more than the page tells whether a next page exists
        if offset + limit > MAX_SEARCH_DEPTH:
            raise InvalidArgument.field("page_token", f"results stop at rank {MAX_SEARCH_DEPTH}")
        results: list[ScoredPassage] = []
        key = _embedding_space
        for _, group in groupby(sorted(archives, key=key), key=key):
            results += await self._search_group(list(group), query, mode, where, needed)
        results.sort(key=lambda r: -r.score)  # stable: keeps each group's own order on ties
        more = len(results) > offset + limit and offset + limit < MAX_SEARCH_DEPTH
        return SearchPage(results[offset : offset + limit], more=more)

    async def _search_group(
        self, archives: list[Archive], query: str, mode: SearchMode, where: PassageFilter, needed: int
    ) -> list[ScoredPassage]:
        if mode is SearchMode.FULL_TEXT:  # no vector index to plan for
            scope = SearchScope(archives=tuple(archives), filter_fractions=(1.0,) * len(archives))
            hits = await self._passages.best_text_matches(scope, query, where=where, limit=needed)
            return [ScoredPassage(passage=p, score=rank, text_score=rank) for p, _, rank in hits]
        scope = await self._passages.scope(archives, where)
        embedder = self._embedder_of(scope.archives[0])
        with timed(record_embedding, embedder.name):
            vector = (await embedder.embed([query]))[0]
        if mode is SearchMode.VECTOR:
            hits = await self._nearest(scope, vector, where, needed)
            return [ScoredPassage(passage=p, score=sim, vector_score=sim) for p, sim, _ in hits]
        depth = HYBRID_DEPTH if needed <= HYBRID_DEPTH else MAX_SEARCH_DEPTH
        # The two rankings are independent queries: run them at once (on two connections).
        by_vector, by_text = await asyncio.gather(
            self._nearest(scope, vector, where, depth, text_query=query),
            self._passages.best_text_matches(scope, query, where=where, limit=depth, query=vector),
        )
        hits = {passage.id: (passage, sim, rank) for passage, sim, rank in (*by_text, *by_vector)}
        fused = reciprocal_rank_fusion([[h[0].id for h in by_vector], [h[0].id for h in by_text]])
        return [
            ScoredPassage(
                passage=hits[pid][0], score=score, vector_score=hits[pid][1], text_score=hits[pid][2]
            )
            for pid, score in fused[:needed]
        ]

    def _embedder_of(self, archive: Archive) -> Embedder:
        """The embedder of an existing archive; FAILED_PRECONDITION when this service lacks it (an
        ``openai`` archive on a service started without an embedding model, say)."""
        try:
            return self._embedders.resolve(archive.embedder, archive.dimension)
        except InvalidArgument as exc:
            raise FailedPrecondition(
                f"archive {archive.id} uses embedder {archive.embedder!r} ({archive.dimension} dimensions), "
                f"which this memory service does not offer: {exc.message}",
                reason="EMBEDDER_UNAVAILABLE",
            ) from None

    async def _nearest(
        self, scope: SearchScope, vector: np.ndarray, where: PassageFilter, needed: int, text_query: str = ""
    ) -> list[_Hit]:
        """The ``needed`` nearest passages in scope that pass the filter.

        Each archive with an HNSW index is searched through it (see ``search_plan``) for the part it
        holds; every other passage — small archives, and the tail each index does not hold yet — is
        compared exactly, in one query. The two are merged by similarity. An index scan that comes
        back short (the filter removed more than planned) is replaced by an exact search of that
        archive: without iterative scans (pgvector 0.8) that is the honest answer.
        """
        exact_ids: list[str] = []
        tails: list[tuple[str, int]] = []
        hits: list[_Hit] = []
        capped = scope.counts_capped or (False,) * len(scope.archives)
        for archive, fraction, lower_bound in zip(
            scope.archives, scope.filter_fractions, capped, strict=True
        ):
            plan = plan_vector_search(
                needed=needed,
                indexed_rows=archive.indexed_rows,
                filter_fraction=fraction,
                fraction_is_lower_bound=lower_bound,
                exact_max_rows=self._exact_max_rows,
            )
            if not archive.indexed_through or plan.exact:
                exact_ids.append(archive.id)
                continue
            found = await self._passages.nearest_indexed(
                archive, vector, where=where, limit=needed, ef_search=plan.ef_search, text_query=text_query
            )
            if len(found) < needed:
                exact_ids.append(archive.id)
            else:
                hits += found
                tails.append((archive.id, archive.indexed_through))
        if exact_ids or tails:
            hits += await self._passages.nearest_exact(
                vector, archive_ids=exact_ids, tails=tails, where=where, limit=needed, text_query=text_query
            )
        hits.sort(key=lambda hit: -hit[1])
        return hits[:needed]


def _embedding_space(archive: Archive) -> tuple[str, int]:
    return (archive.embedder, archive.dimension)


async def _embed(embedder: Embedder, passages: Sequence[NewPassage], dimension: int) -> np.ndarray:
    with timed(record_embedding, embedder.name):
        vectors = await embedder.embed([passage.text for passage in passages])
    if vectors.shape != (len(passages), dimension):
        raise RuntimeError(f"embedder {embedder.name} returned vectors of shape {vectors.shape}")
    return vectors


async def _embedded_ahead(
    embedder: Embedder, chunks: list[Sequence[NewPassage]], dimension: int
) -> AsyncIterator[tuple[Sequence[NewPassage], np.ndarray]]:
    """Each chunk with its vectors, the next chunk embedding while the caller writes this one."""
    pending = asyncio.ensure_future(_embed(embedder, chunks[0], dimension)) if chunks else None
    try:
        for index, chunk in enumerate(chunks):
            vectors = await pending
            pending = None
            if index + 1 < len(chunks):
                pending = asyncio.ensure_future(_embed(embedder, chunks[index + 1], dimension))
            yield chunk, vectors
    finally:
        if pending is not None:
            pending.cancel()


async def _replay(
    embedded: list[tuple[Sequence[NewPassage], np.ndarray]],
) -> AsyncIterator[tuple[Sequence[NewPassage], np.ndarray]]:
    for item in embedded:
        yield item
