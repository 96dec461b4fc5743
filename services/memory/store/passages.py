"""Passages: bulk insert with exact counters, listing, deletion, and the two candidate searches
(nearest vectors, best full-text matches) that :mod:`services.memory.core.archival_memory` fuses.

The caller resolves archives for the tenant first (``ArchiveStore``); statements here take archive
ids that are known to be the tenant's, except ``delete``, which checks the tenant itself.
"""

from __future__ import annotations

import builtins
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
from services.memory.core.archival import Archive, Fence, NewPassage, Passage, PassageFilter, SearchScope
from services.memory.core.text_query import matches_any_word
from services.memory.store import effects
from services.memory.store.agents import fence as fence_agent
from services.memory.store.vectors import EXACT_DISTANCE, ann_distance, with_vector_codec

_COLUMNS = ("id", "archive_id", "text", "tags", "metadata", "created_at", "embedding")
_PASSAGE = "p.id, p.archive_id, p.text, p.tags, p.metadata, p.created_at"
COUNT_CAP = 5000
"""Rows counted at most when estimating how selective a time filter is."""
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
        fence: Fence | None = None,
        idempotency_key: str = "",
    ) -> builtins.list[str]:
        """Insert every batch of (passages, their embeddings in the same order), all or none.

        Each batch is one binary COPY; the next batch may still be embedding meanwhile. The
        archive's passage count and tag counts move in the same transaction, so they are exact at
        every commit. An insert with an ``idempotency_key`` made before inserts nothing again and
        answers with the ids it inserted then.
        """
        ids: builtins.list[str] = []
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
                if fence is not None:
                    await fence_agent(conn, tenant, fence.agent_id, fence.epoch)
                if idempotency_key and (done := await effects.recorded(conn, tenant, idempotency_key)):
                    return list(done)
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
                                embedding,
                            )
                        )
                    await raw.copy_records_to_table(
                        "passages", schema_name="memory", columns=_COLUMNS, records=records
                    )
                await self._count(conn, archive.id, len(ids), tag_counts)
                if idempotency_key:
                    agent_id = fence.agent_id if fence else ""
                    await effects.record(conn, tenant, idempotency_key, ids, agent_id=agent_id)
        except IntegrityError as exc:
            if not (idempotency_key and effects.is_twin(exc)):
                raise NotFound("archive", archive.id) from exc  # it vanished between lookup and insert
            async with self._engine.connect() as conn:  # an unfenced twin with the same key won
                return list(await effects.recorded(conn, tenant, idempotency_key) or ())
        return ids

    @staticmethod
    async def _count(conn, archive_id: str, added: int, tag_counts: Counter[str]) -> None:
        await conn.execute(
            text(
                "UPDATE memory.archives SET passage_count = passage_count + :n, last_insert_at = clock_timestamp() "
                "WHERE id = :id"
            ),
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
    ) -> builtins.list[Passage]:
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
        """The archives of one search with, for each that has an HNSW index, an estimate of the
        share of its passages ``where`` keeps (to size the index scan).

        Tags alone are estimated from the exact tag counters (an upper bound); with a time range,
        matching rows are counted through the indexes, up to :data:`COUNT_CAP`.
        """
        fractions: builtins.list[float] = []
        capped: builtins.list[bool] = []
        async with self._engine.connect() as conn:
            for archive in archives:
                counted = None
                if not archive.indexed_through or where.is_empty or archive.passage_count == 0:
                    fractions.append(1.0)
                elif where.start is None and where.end is None:
                    fractions.append(await _tag_fraction(conn, archive, where))
                else:
                    parameters: dict = {"archive_ids": [archive.id], "cap": COUNT_CAP}
                    conditions = " AND ".join(_conditions(where, parameters))
                    counted = (
                        await conn.execute(
                            text(
                                "SELECT count(*) FROM (SELECT 1 FROM memory.passages p "
                                f"WHERE {conditions} LIMIT :cap) AS matching"
                            ),
                            parameters,
                        )
                    ).scalar_one()
                    fractions.append(min(1.0, max(counted, 1) / archive.passage_count))
                capped.append(counted is not None and counted >= COUNT_CAP)
        return SearchScope(
            archives=tuple(archives), filter_fractions=tuple(fractions), counts_capped=tuple(capped)
        )

    async def nearest_exact(
        self,
        query: np.ndarray,
        *,
        archive_ids: Sequence[str],
        tails: Sequence[tuple[str, int]] = (),
        where: PassageFilter,
        limit: int,
        text_query: str = "",
    ) -> builtins.list[tuple[Passage, float, float]]:
        """The ``limit`` passages nearest to ``query`` among every passage of ``archive_ids`` and the
        passages after the given ordinal of each (archive id, ordinal) in ``tails``, comparing with
        each candidate row. Returns (passage, cosine similarity, text rank); the text rank is
        computed for the returned rows only, when ``text_query`` is given."""
        parameters: dict = {"archive_ids": list(archive_ids), "query": query, "limit": limit}
        conditions = _conditions(where, parameters)
        scope = ["p.archive_id = ANY(CAST(:archive_ids AS uuid[]))"]
        for number, (archive_id, after) in enumerate(tails):
            parameters[f"tail_{number}"], parameters[f"after_{number}"] = archive_id, after
            scope.append(f"(p.archive_id = :tail_{number} AND p.ordinal > :after_{number})")
        conditions[0] = "(" + " OR ".join(scope) + ")"
        return await self._nearest(EXACT_DISTANCE, conditions, parameters, text_query)

    async def nearest_indexed(
        self,
        archive: Archive,
        query: np.ndarray,
        *,
        where: PassageFilter,
        limit: int,
        ef_search: int,
        text_query: str = "",
    ) -> builtins.list[tuple[Passage, float, float]]:
        """The ``limit`` nearest passages of the part of ``archive`` its HNSW index holds, by an
        index scan of ``ef_search`` candidates (filters apply after the scan, so fewer may come
        back); same result shape as :meth:`nearest_exact`."""
        parameters: dict = {"archive_ids": [archive.id], "query": query, "limit": limit}
        conditions = _conditions(where, parameters)
        del parameters["archive_ids"]
        conditions[0] = _indexed_part(archive)
        return await self._nearest(
            ann_distance(archive.dimension), conditions, parameters, text_query, ef_search=ef_search
        )

    async def explain_indexed(
        self,
        archive: Archive,
        query: np.ndarray,
        *,
        where: PassageFilter,
        limit: int,
        only_index: bool = False,
    ) -> str:
        """The plan Postgres chooses for :meth:`nearest_indexed`; with ``only_index``, the plan when
        sorting and other scans are priced out, which shows whether the index *can* answer it (its
        expression and predicate match). For tests and benchmarks."""
        parameters: dict = {"archive_ids": [archive.id], "query": query, "limit": limit}
        conditions = _conditions(where, parameters)
        del parameters["archive_ids"]
        conditions[0] = _indexed_part(archive)
        async with self._engine.begin() as conn:
            await with_vector_codec(conn)
            if only_index:
                for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                    await conn.execute(text(f"SET LOCAL {setting} = off"))
            sql = _nearest_sql(ann_distance(archive.dimension), conditions, "0.0")
            rows = await conn.execute(text("EXPLAIN " + sql), parameters)
            return "\n".join(row[0] for row in rows)

    async def _nearest(
        self,
        distance: str,
        conditions: builtins.list[str],
        parameters: dict,
        text_query: str,
        ef_search: int = 0,
    ) -> builtins.list[tuple[Passage, float, float]]:
        sql = _nearest_sql(distance, conditions, _text_rank(text_query, parameters))
        async with self._engine.begin() as conn:
            await with_vector_codec(conn)
            if ef_search:
                await conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
            rows = await conn.execute(text(sql), parameters)
            return [(_passage(row), 1.0 - float(row.distance), float(row.text_rank)) for row in rows]

    async def best_text_matches(
        self,
        scope: SearchScope,
        text_query: str,
        *,
        where: PassageFilter,
        limit: int,
        query: np.ndarray | None = None,
    ) -> builtins.list[tuple[Passage, float, float]]:
        """The ``limit`` best full-text matches of ``text_query`` (``websearch_to_tsquery`` syntax,
        plain words OR-ed as ``core.text_query`` explains, English configuration, ranked by
        ``ts_rank_cd``) as (passage, cosine similarity, text rank); the similarity is computed for
        the returned rows only, when ``query`` is given."""
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


def _indexed_part(archive: Archive) -> str:
    """The predicate of the archive's HNSW index, with the same constants, or the planner cannot
    use the index (a bind parameter would not do: a generic plan cannot prove the predicate)."""
    return f"p.archive_id = '{uuid.UUID(archive.id)}'::uuid AND p.ordinal <= {int(archive.indexed_through)}"


def _nearest_sql(distance: str, conditions: builtins.list[str], text_rank: str) -> str:
    # Only ids and distances are sorted; the wide columns are read for the winners alone.
    return (
        f"WITH hits AS MATERIALIZED (SELECT p.id, {distance} AS distance FROM memory.passages p "
        f"WHERE {' AND '.join(conditions)} ORDER BY {distance} LIMIT :limit) "
        f"SELECT {_PASSAGE}, hits.distance, {text_rank} AS text_rank "
        "FROM hits JOIN memory.passages p ON p.id = hits.id ORDER BY hits.distance, p.id"
    )


def _conditions(where: PassageFilter, parameters: dict) -> builtins.list[str]:
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


async def _tag_fraction(conn, archive: Archive, where: PassageFilter) -> float:
    """Upper estimate of the share of an archive's passages a tag filter keeps, from its tag counts."""
    counts = (
        (
            await conn.execute(
                text(
                    "SELECT passage_count FROM memory.archive_tags "
                    "WHERE archive_id = :id AND tag = ANY(CAST(:tags AS text[]))"
                ),
                {"id": archive.id, "tags": list(where.tags)},
            )
        )
        .scalars()
        .all()
    )
    if where.all_tags:
        kept = min(counts) if len(counts) == len(set(where.tags)) else 0
    else:
        kept = sum(counts)
    return min(1.0, max(kept, 1) / archive.passage_count)


def _passage(row) -> Passage:
    return Passage(
        id=str(row.id),
        archive_id=str(row.archive_id),
        text=row.text,
        tags=tuple(row.tags),
        metadata=row.metadata,
        created_at=row.created_at,
    )
