"""The HNSW indexes of large archives: which archives want one, bulk building, swapping, cleaning up.

Each index is partial — ``WHERE archive_id = '<id>' AND ordinal <= <n>`` — over the expression
``embedding::vector(<d>)``, so it holds one archive's passages up to ordinal ``n`` and nothing else
(no other tenant's rows dilute a search). ``archive_indexes`` records the live one. A query uses it
only when its WHERE clause repeats that predicate with the same constants, which
``PassageStore.nearest_indexed`` does.

Indexes are built with ``CREATE INDEX CONCURRENTLY`` (writers are never blocked; pgvector builds the
graph in bulk, with parallel workers) and the replaced one is dropped concurrently. Only one replica
does index DDL at a time (an advisory lock); a build that died half-way leaves an invalid index,
which the next sweep drops.
"""

from __future__ import annotations

import logging
import re
import uuid
import zlib
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

INDEX_PREFIX = "archive_hnsw_"
"""Every run-time index of ``memory.passages`` starts with this."""
HNSW_M = 16
"""pgvector's default graph degree."""
HNSW_EF_CONSTRUCTION = 100
"""Build-time candidate list (pgvector default 64): bulk builds are cheap enough to buy graph quality."""
_LOCK = zlib.crc32(b"agentsuite-memory-archive-index")

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class IndexState:
    """What the indexer knows about one large archive."""

    archive_id: str
    dimension: int
    passage_count: int
    indexed_rows: int
    quiet_seconds: float

    @property
    def tail_rows(self) -> int:
        """Passages not in the index (approximately: deletions are not told apart)."""
        return max(0, self.passage_count - self.indexed_rows)


def index_name(archive_id: str, indexed_through: int) -> str:
    """At most 62 characters, within Postgres' 63."""
    return f"{INDEX_PREFIX}{uuid.UUID(archive_id).hex}_{indexed_through:x}"


class ArchiveIndexStore:
    """Index DDL for large archives; each method runs outside any transaction (CONCURRENTLY needs it)."""

    def __init__(self, engine: AsyncEngine, *, maintenance_work_mem: str = "1GB"):
        if not re.fullmatch(r"\d+\s*(kB|MB|GB)", maintenance_work_mem):
            raise ValueError(f"maintenance_work_mem {maintenance_work_mem!r} is not like 512MB or 2GB")
        self._engine = engine
        self._maintenance_work_mem = maintenance_work_mem

    async def states(self, *, min_rows: int) -> list[IndexState]:
        """Every archive with at least ``min_rows`` passages, with its index coverage."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT a.id, a.dimension, a.passage_count, coalesce(i.indexed_rows, 0) AS indexed_rows, "
                    "extract(epoch FROM now() - coalesce(a.last_insert_at, a.created_at)) AS quiet "
                    "FROM memory.archives a LEFT JOIN memory.archive_indexes i ON i.archive_id = a.id "
                    "WHERE a.passage_count >= :min_rows"
                ),
                {"min_rows": min_rows},
            )
            return [
                IndexState(
                    archive_id=str(row.id),
                    dimension=row.dimension,
                    passage_count=row.passage_count,
                    indexed_rows=row.indexed_rows,
                    quiet_seconds=float(row.quiet),
                )
                for row in rows
            ]

    async def build(self, archive_id: str, dimension: int) -> bool:
        """Build an index over every passage of the archive so far and make it the live one.

        False when another replica holds the index lock or the archive is gone.
        """
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not await _try_lock(conn):
                return False
            try:
                return await self._build(conn, archive_id, int(dimension))
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK})

    async def _build(self, conn: AsyncConnection, archive_id: str, dimension: int) -> bool:
        through = (
            await conn.execute(
                text("SELECT max(ordinal) FROM memory.passages WHERE archive_id = :id"), {"id": archive_id}
            )
        ).scalar_one()
        if through is None:
            return False
        name = index_name(archive_id, through)
        archive = str(uuid.UUID(archive_id))  # canonical: safe to put in DDL
        # A build takes minutes at a million passages: no statement timeout for this session, and
        # enough memory for pgvector to build the graph in memory (it says so when it runs out).
        await conn.execute(text("SET statement_timeout = 0"))
        await conn.execute(text(f"SET maintenance_work_mem = '{self._maintenance_work_mem}'"))
        await conn.execute(
            text(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON memory.passages USING hnsw "
                f"((embedding::vector({dimension})) vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
                f"WHERE archive_id = '{archive}'::uuid AND ordinal <= {int(through)}"
            )
        )
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM memory.passages WHERE archive_id = :id AND ordinal <= :through"),
                {"id": archive_id, "through": through},
            )
        ).scalar_one()
        try:
            async with self._engine.begin() as swap:
                previous = (
                    await swap.execute(
                        text(
                            "SELECT index_name FROM memory.archive_indexes WHERE archive_id = :id FOR UPDATE"
                        ),
                        {"id": archive_id},
                    )
                ).scalar_one_or_none()
                await swap.execute(
                    text(
                        "INSERT INTO memory.archive_indexes (archive_id, index_name, indexed_through, indexed_rows) "
                        "VALUES (:id, :name, :through, :rows) ON CONFLICT (archive_id) DO UPDATE SET "
                        "index_name = EXCLUDED.index_name, indexed_through = EXCLUDED.indexed_through, "
                        "indexed_rows = EXCLUDED.indexed_rows, built_at = now()"
                    ),
                    {"id": archive_id, "name": name, "through": through, "rows": rows},
                )
        except IntegrityError:  # the archive was deleted while its index was being built
            previous = name
        if previous and previous != name:
            await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS memory.{previous}"))
        log.info("archive index built", extra={"archive_id": archive_id, "rows": rows, "index": name})
        return previous != name

    async def sweep(self) -> list[str]:
        """Drop run-time indexes no archive uses (deleted archives, replaced or failed builds)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not await _try_lock(conn):
                return []
            try:
                stale = (
                    (
                        await conn.execute(
                            text(
                                "SELECT c.relname FROM pg_index x "
                                "JOIN pg_class c ON c.oid = x.indexrelid "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'memory' AND c.relname LIKE :prefix "
                                "AND c.relname NOT IN (SELECT index_name FROM memory.archive_indexes)"
                            ),
                            {"prefix": INDEX_PREFIX + "%"},
                        )
                    )
                    .scalars()
                    .all()
                )
                for name in stale:
                    await conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS memory."{name}"'))
                return list(stale)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK})


async def _try_lock(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK})).scalar_one())
