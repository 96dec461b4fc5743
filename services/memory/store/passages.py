"""Passages: bulk insert with exact counters, listing, deletion, and the two candidate searches
(nearest vectors, best full-text matches) that :mod:`services.memory.core.passage_search` fuses.

The caller resolves archives for the tenant first (``ArchiveStore``); statements here take archive
ids that are known to be the tenant's, except ``delete``, which checks the tenant itself.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import NotFound
from services.memory.core.archival import Archive, NewPassage, Passage, PassageFilter, SearchScope
from services.memory.core.text_query import matches_any_word
from services.memory.store.vectors import EXACT_DISTANCE, ann_distance, ann_predicate, with_vector_codec

_COLUMNS = ("id", "archive_id", "text", "tags", "metadata", "created_at", "dimension", "embedding")
_PASSAGE = "p.id, p.archive_id, p.text, p.tags, p.metadata, p.created_at"
_WEBSEARCH = "websearch_to_tsquery('english', :text)"
# A query without operators has only `&` between its terms: turning them into `|` matches any word.
_ANY_WORD = f"replace({_WEBSEARCH}::text, '&', '|')::tsquery"


class PassageStore:
    """Reads and writes passages; each method is one transaction."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def insert(
        self,
        *,
        tenant: str,
        archive: Archive,
        batches: AsyncIterator[tuple[Sequence[NewPassage], np.ndarray]],
    ) -> list[str]:
        """Insert every batch of (passages, their embeddings in the same order), all or none.

        Each batch is one binary COPY; the next batch may still be embedding meanwhile. The
        archive's passage count and tag counts move in the same transaction, so they are exact at
        every commit.
        """
        ids: list[str] = []
        tag_counts: Counter[str] = Counter()
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                # FOR KEY SHARE: a concurrent delete of the archive waits; other inserts do not.
                held = await conn.execute(
                    text("SELECT 1 FROM memory.archives WHERE id = :id AND tenant = :tenant FOR KEY SHARE"),
                    {"id": archive.id, "tenant": tenant},
                )
                if held.first() is None:
                    raise NotFound("archive", archive.id)
                raw = await with_vector_codec(conn)
                if not raw.is_in_transaction():  # the COPY must be part of the all-or-none transaction
                    raise RuntimeError("bulk insert outside its transaction")
                async for passages, embeddings in batches:
                    records = []
                    for passage, embedding in zip(passages, embeddings, strict=True):
                        passage_id = str(uuid.uuid4())
                        ids.append(passage_id)
                        tag_counts.update(passage.tags)
                        records.append(
                            (
                                passage_id,
                                archive.id,
                                passage.text,
                                list(passage.tags),
                                json.dumps(passage.metadata),
                                passage.created_at or now,
                                archive.dimension,
                                embedding,
                            )
                        )
                    await raw.copy_records_to_table(
                        "passages", schema_name="memory", columns=_COLUMNS, records=records
                    )
                await self._count(conn, archive.id, len(ids), tag_counts)
        except IntegrityError as exc:  # the archive vanished between lookup and insert
            raise NotFound("archive", archive.id) from exc
        return ids

    @staticmethod
    async def _count(conn, archive_id: str, added: int, tag_counts: Counter[str]) -> None:
        await conn.execute(
            text("UPDATE memory.archives SET passage_count = passage_count + :n WHERE id = :id"),
            {"n": added, "id": archive_id},
        )
        if tag_counts:
            tags = sorted(tag_counts)  # one lock order for every writer: no deadlocks between them
            await conn.execute(
                text(
                    "INSERT INTO memory.archive_tags (archive_id, tag, passage_count) "
                    "SELECT :id, t.tag, t.n FROM unnest(CAST(:tags AS text[]), "
                    "CAST(:counts AS bigint[])) AS t(tag, n) ORDER BY t.tag "
                    "ON CONFLICT (archive_id, tag) DO UPDATE "
                    "SET passage_count = archive_tags.passage_count + EXCLUDED.passage_count"
                ),
                {"id": archive_id, "tags": tags, "counts": [tag_counts[t] for t in tags]},
            )

    async def delete(self, *, tenant: str, passage_id: str) -> None:
        """Delete one passage of the tenant's and move the counters down; NOT_FOUND otherwise."""
        async with self._engine.begin() as conn:
            gone = (
                await conn.execute(
                    text(
                        "DELETE FROM memory.passages p USING memory.archives a "
                        "WHERE p.id = :id AND a.id = p.archive_id AND a.tenant = :tenant "
                        "RETURNING p.archive_id, p.tags"
                    ),
                    {"id": passage_id, "tenant": tenant},
                )
            ).first()
            if gone is None:
                raise NotFound("passage", passage_id)
            parameters = {"id": gone.archive_id, "tags": sorted(gone.tags)}
            await conn.execute(
                text("UPDATE memory.archives SET passage_count = passage_count - 1 WHERE id = :id"),
                parameters,
            )
            if gone.tags:
                await conn.execute(
                    text(
                        "UPDATE memory.archive_tags SET passage_count = passage_count - 1 "
                        "WHERE archive_id = :id AND tag = ANY(CAST(:tags AS text[]))"
                    ),
                    parameters,
                )
                await conn.execute(
                    text(
                        "DELETE FROM memory.archive_tags WHERE archive_id = :id "
                        "AND tag = ANY(CAST(:tags AS text[])) AND passage_count <= 0"
                    ),
                    parameters,
                )

    async def list(
        self,
        *,
        archive_id: str,
        limit: int,
        where: PassageFilter | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Passage]:
        """A page of an archive's passages, newest first; ``after`` is the last (created_at, id) seen."""
        parameters: dict = {"archive_ids": [archive_id], "limit": limit}
        conditions = _conditions(where or PassageFilter(), parameters)
        if after is not None:
            conditions.append("(p.created_at, p.id) < (:after_time, CAST(:after_id AS uuid))")
            parameters.update(after_time=after[0], after_id=after[1])
        query = (
            f"SELECT {_PASSAGE} FROM memory.passages p WHERE {' AND '.join(conditions)} "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT :limit"
        )
        async with self._engine.connect() as conn:
            return [_passage(row) for row in await conn.execute(text(query), parameters)]

    async def scope(self, archives: Sequence[Archive], where: PassageFilter) -> SearchScope:
        """Counts for planning a vector search over ``archives`` (one embedder and dimension)."""
        first = archives[0]
        ids = [archive.id for archive in archives]
        async with self._engine.connect() as conn:
            index_rows = (
                await conn.execute(
                    text("SELECT coalesce(sum(passage_count), 0) FROM memory.archives WHERE dimension = :d"),
                    {"d": first.dimension},
                )
            ).scalar_one()
            tagged = []
            if where.tags:
                tagged = (
                    await conn.execute(
                        text(
                            "SELECT archive_id, tag, passage_count FROM memory.archive_tags "
                            "WHERE archive_id = ANY(CAST(:ids AS uuid[])) AND tag = ANY(CAST(:tags AS text[]))"
                        ),
                        {"ids": ids, "tags": list(where.tags)},
                    )
                ).all()
        passage_count = sum(archive.passage_count for archive in archives)
        return SearchScope(
            archive_ids=tuple(ids),
            embedder=first.embedder,
            dimension=first.dimension,
            passage_count=passage_count,
            index_rows=int(index_rows),
            filter_fraction=_tag_fraction(tagged, where, passage_count),
        )

    async def nearest(
        self,
        scope: SearchScope,
        query: np.ndarray,
        *,
        where: PassageFilter,
        limit: int,
        exact: bool,
        ef_search: int = 40,
        text_query: str = "",
    ) -> list[tuple[Passage, float, float]]:
        """The ``limit`` passages nearest to ``query`` as (passage, cosine similarity, text rank).

        ``exact`` compares with every candidate row; otherwise the HNSW index answers with
        ``hnsw.ef_search`` set for this transaction and may return fewer rows than exist. The text
        rank is computed for the returned rows only, when ``text_query`` is given.
        """
        parameters: dict = {"archive_ids": list(scope.archive_ids), "query": query, "limit": limit}
        conditions = _conditions(where, parameters)
        if exact:
            distance = EXACT_DISTANCE
        else:
            distance = ann_distance(scope.dimension)
            conditions.append(ann_predicate(scope.dimension))
        text_rank = _text_rank(text_query, parameters)
        query_sql = (
            f"WITH hits AS MATERIALIZED (SELECT p.id, {distance} AS distance FROM memory.passages p "
            f"WHERE {' AND '.join(conditions)} ORDER BY {distance} LIMIT :limit) "
            f"SELECT {_PASSAGE}, hits.distance, {text_rank} AS text_rank "
            "FROM hits JOIN memory.passages p ON p.id = hits.id ORDER BY hits.distance, p.id"
        )
        async with self._engine.begin() as conn:
            await with_vector_codec(conn)
            if not exact:
                await conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
            rows = await conn.execute(text(query_sql), parameters)
            return [(_passage(row), 1.0 - float(row.distance), float(row.text_rank)) for row in rows]

    async def best_text_matches(
        self,
        scope: SearchScope,
        text_query: str,
        *,
        where: PassageFilter,
        limit: int,
        query: np.ndarray | None = None,
    ) -> list[tuple[Passage, float, float]]:
        """The ``limit`` best full-text matches of ``text_query`` (``websearch_to_tsquery`` syntax,
        plain words OR-ed as ``core.text_query`` explains, English configuration, ranked by
        ``ts_rank_cd``) as (passage, cosine similarity, text rank);
        the similarity is computed for the returned rows only, when ``query`` is given."""
        parameters: dict = {"archive_ids": list(scope.archive_ids), "text": text_query, "limit": limit}
        conditions = _conditions(where, parameters)
        tsquery = _tsquery(text_query)
        conditions.append(f"p.text_search @@ {tsquery}")
        similarity = "0.0"
        if query is not None:
            parameters["query"] = query
            similarity = f"1 - {EXACT_DISTANCE}"
        query_sql = (
            "WITH hits AS MATERIALIZED ("
            f"SELECT p.id, ts_rank_cd(p.text_search, {tsquery}) AS text_rank FROM memory.passages p "
            f"WHERE {' AND '.join(conditions)} ORDER BY text_rank DESC, p.id LIMIT :limit) "
            f"SELECT {_PASSAGE}, hits.text_rank, {similarity} AS similarity "
            "FROM hits JOIN memory.passages p ON p.id = hits.id ORDER BY hits.text_rank DESC, p.id"
        )
        async with self._engine.connect() as conn:
            await with_vector_codec(conn)
            rows = await conn.execute(text(query_sql), parameters)
            return [(_passage(row), float(row.similarity), float(row.text_rank)) for row in rows]


def _conditions(where: PassageFilter, parameters: dict) -> list[str]:
    """SQL conditions for the archives in ``parameters["archive_ids"]`` and the filter."""
    conditions = ["p.archive_id = ANY(CAST(:archive_ids AS uuid[]))"]
    if where.tags:
        parameters["tags"] = list(where.tags)
        operator = "@>" if where.all_tags else "&&"
        conditions.append(f"p.tags {operator} CAST(:tags AS text[])")
    if where.start is not None:
        parameters["start"] = where.start
        conditions.append("p.created_at >= :start")
    if where.end is not None:
        parameters["end"] = where.end
        conditions.append("p.created_at < :end")
    return conditions


def _text_rank(text_query: str, parameters: dict) -> str:
    if not text_query:
        return "0.0"
    parameters["text"] = text_query
    return f"ts_rank_cd(p.text_search, {_tsquery(text_query)})"


def _tsquery(text_query: str) -> str:
    return _ANY_WORD if matches_any_word(text_query) else _WEBSEARCH


def _tag_fraction(rows, where: PassageFilter, passage_count: int) -> float:
    """Upper estimate of the share of passages a tag filter keeps, from the exact tag counts."""
    if not where.tags or passage_count == 0:
        return 1.0
    per_archive: dict[str, list[int]] = {}
    for row in rows:
        per_archive.setdefault(str(row.archive_id), []).append(row.passage_count)
    if where.all_tags:
        wanted = len(set(where.tags))
        kept = sum(min(counts) for counts in per_archive.values() if len(counts) == wanted)
    else:
        kept = sum(sum(counts) for counts in per_archive.values())
    return min(1.0, kept / passage_count)


def _passage(row) -> Passage:
    return Passage(
        id=str(row.id),
        archive_id=str(row.archive_id),
        text=row.text,
        tags=tuple(row.tags),
        metadata=row.metadata,
        created_at=row.created_at,
    )
