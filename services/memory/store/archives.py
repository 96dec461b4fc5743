"""Archives, their attachment to agents, and the exact counts the context shows (MemoryStats).

Every statement is scoped by tenant; an archive of another tenant is NOT_FOUND like a missing one.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import NotFound
from services.memory.core.archival import Archive
from services.memory.store.agents import require_agent

# Archive rows with their agents, newest first; the keyset condition pages by (created_at, id).
_SELECT = """
    SELECT a.id, a.name, a.embedder, a.dimension, a.passage_count, a.created_at,
           ARRAY(SELECT l.agent_id::text FROM memory.archive_agents l
                 WHERE l.archive_id = a.id ORDER BY l.created_at, l.agent_id) AS agent_ids,
           coalesce(i.indexed_through, 0) AS indexed_through, coalesce(i.indexed_rows, 0) AS indexed_rows
    FROM memory.archives a LEFT JOIN memory.archive_indexes i ON i.archive_id = a.id
"""

AGENT_PASSAGE_COUNT_SQL = """(SELECT coalesce(sum(a.passage_count), 0)::bigint
         FROM memory.archive_agents l JOIN memory.archives a ON a.id = l.archive_id
         WHERE l.agent_id = :agent_id AND a.tenant = :tenant)"""
"""Passages of every archive attached to an agent, from the counters (parameters ``:agent_id``,
``:tenant``)."""
AGENT_ARCHIVE_TAGS_SQL = """ARRAY(SELECT DISTINCT t.tag
              FROM memory.archive_agents l
              JOIN memory.archives a ON a.id = l.archive_id
              JOIN memory.archive_tags t ON t.archive_id = l.archive_id
              WHERE l.agent_id = :agent_id AND a.tenant = :tenant
              ORDER BY t.tag)"""
"""Sorted distinct tags of every archive attached to an agent, from the counters."""
STATS_FOR_AGENT_SQL = f"""
    SELECT {AGENT_PASSAGE_COUNT_SQL} AS passage_count, {AGENT_ARCHIVE_TAGS_SQL} AS tags
"""
"""Passage count and distinct tags of every archive attached to an agent, read from the counters
(``archives.passage_count``, ``archive_tags``) without touching ``passages``. Parameters
``:agent_id``, ``:tenant``; one row. The context read embeds the two parts."""


class ArchiveStore:
    """Creates, reads, lists, deletes, attaches and detaches one tenant's archives."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def create(
        self, *, tenant: str, name: str, embedder: str, dimension: int, agent_id: str = ""
    ) -> Archive:
        """Create an archive (attached to ``agent_id`` when given: NOT_FOUND if memory lacks it)."""
        archive_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            if agent_id:
                await require_agent(conn, tenant, agent_id)
            await conn.execute(
                text(
                    "INSERT INTO memory.archives (id, tenant, name, embedder, dimension, created_at) "
                    "VALUES (:id, :tenant, :name, :embedder, :dimension, :now)"
                ),
                {
                    "id": archive_id,
                    "tenant": tenant,
                    "name": name,
                    "embedder": embedder,
                    "dimension": dimension,
                    "now": now,
                },
            )
            if agent_id:
                await _link(conn, archive_id, [agent_id])
            return await _get(conn, tenant, archive_id)

    async def get(self, *, tenant: str, archive_id: str) -> Archive:
        """One archive; NOT_FOUND when missing or another tenant's."""
        async with self._engine.connect() as conn:
            return await _get(conn, tenant, archive_id)

    async def get_many(self, *, tenant: str, archive_ids: Sequence[str]) -> builtins.list[Archive]:
        """The archives among ``archive_ids`` that belong to ``tenant``."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                text(_SELECT + " WHERE a.tenant = :tenant AND a.id = ANY(CAST(:ids AS uuid[]))"),
                {"tenant": tenant, "ids": list(archive_ids)},
            )
            return [_archive(row) for row in rows]

    async def list(
        self,
        *,
        tenant: str,
        limit: int,
        agent_id: str = "",
        after: tuple[datetime, str] | None = None,
    ) -> builtins.list[Archive]:
        """A page of archives, newest first, optionally only those attached to ``agent_id``.

        ``after`` is the (created_at, id) of the last archive of the previous page.
        """
        where = ["a.tenant = :tenant"]
        parameters: dict = {"tenant": tenant, "limit": limit}
        if agent_id:
            where.append(
                "EXISTS (SELECT 1 FROM memory.archive_agents l "
                "WHERE l.archive_id = a.id AND l.agent_id = :agent_id)"
            )
            parameters["agent_id"] = agent_id
        if after is not None:
            where.append("(a.created_at, a.id) < (:after_time, CAST(:after_id AS uuid))")
            parameters.update(after_time=after[0], after_id=after[1])
        query = (
            _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY a.created_at DESC, a.id DESC LIMIT :limit"
        )
        async with self._engine.connect() as conn:
            if agent_id:
                await require_agent(conn, tenant, agent_id)
            return [_archive(row) for row in await conn.execute(text(query), parameters)]

    async def list_for_agent(self, *, tenant: str, agent_id: str) -> builtins.list[Archive]:
        """Every archive attached to ``agent_id`` (NOT_FOUND when memory does not know the agent)."""
        async with self._engine.connect() as conn:
            await require_agent(conn, tenant, agent_id)
            rows = await conn.execute(
                text(
                    _SELECT + " WHERE a.tenant = :tenant AND a.id IN "
                    "(SELECT archive_id FROM memory.archive_agents WHERE agent_id = :agent_id)"
                    " ORDER BY a.created_at, a.id"
                ),
                {"tenant": tenant, "agent_id": agent_id},
            )
            return [_archive(row) for row in rows]

    async def delete(self, *, tenant: str, archive_id: str) -> None:
        """Delete an archive with its passages, links, tag counts and index record (foreign keys
        cascade); the indexer's next sweep drops its HNSW index."""
        async with self._engine.begin() as conn:
            deleted = await conn.execute(
                text("DELETE FROM memory.archives WHERE id = :id AND tenant = :tenant RETURNING id"),
                {"id": archive_id, "tenant": tenant},
            )
            if deleted.first() is None:
                raise NotFound("archive", archive_id)

    async def attach(self, *, tenant: str, archive_id: str, agent_ids: Sequence[str]) -> Archive:
        """Attach the archive to each agent (already attached is fine); NOT_FOUND for any unknown id."""
        async with self._engine.begin() as conn:
            await _get(conn, tenant, archive_id, lock=True)
            for agent_id in agent_ids:
                await require_agent(conn, tenant, agent_id)
            await _link(conn, archive_id, agent_ids)
            return await _get(conn, tenant, archive_id)

    async def detach(self, *, tenant: str, archive_id: str, agent_ids: Sequence[str]) -> Archive:
        """Detach the archive from each agent; NOT_FOUND when one of them is not attached."""
        async with self._engine.begin() as conn:
            await _get(conn, tenant, archive_id, lock=True)
            for agent_id in agent_ids:
                await require_agent(conn, tenant, agent_id)
                removed = await conn.execute(
                    text(
                        "DELETE FROM memory.archive_agents WHERE archive_id = :archive_id "
                        "AND agent_id = :agent_id RETURNING agent_id"
                    ),
                    {"archive_id": archive_id, "agent_id": agent_id},
                )
                if removed.first() is None:
                    raise NotFound(
                        "archive attachment",
                        f"{archive_id}/{agent_id}",
                        f"archive {archive_id!r} is not attached to agent {agent_id!r}",
                    )
            return await _get(conn, tenant, archive_id)

    async def forget_agent(self, *, tenant: str, agent_id: str) -> None:
        """Delete the archives attached to ``agent_id`` and to no other agent, and detach it from the
        shared ones; an unknown agent is fine, so a retry is safe."""
        async with self._engine.begin() as conn:
            await self.release_agent(conn, tenant, agent_id)

    @staticmethod
    async def release_agent(conn: AsyncConnection, tenant: str, agent_id: str) -> None:
        """As :meth:`forget_agent`, inside the caller's transaction."""
        await conn.execute(
            text(
                "DELETE FROM memory.archives a WHERE a.tenant = :tenant AND a.id IN "
                "(SELECT archive_id FROM memory.archive_agents WHERE agent_id = :agent_id) "
                "AND NOT EXISTS (SELECT 1 FROM memory.archive_agents o "
                "WHERE o.archive_id = a.id AND o.agent_id <> :agent_id)"
            ),
            {"tenant": tenant, "agent_id": agent_id},
        )
        await conn.execute(
            text(
                "DELETE FROM memory.archive_agents l USING memory.archives a "
                "WHERE l.agent_id = :agent_id AND a.id = l.archive_id AND a.tenant = :tenant"
            ),
            {"tenant": tenant, "agent_id": agent_id},
        )

    async def stats_for_agent(self, *, tenant: str, agent_id: str) -> tuple[int, builtins.list[str]]:
        """(passages, sorted distinct tags) over the archives attached to an agent, from the counters."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(text(STATS_FOR_AGENT_SQL), {"tenant": tenant, "agent_id": agent_id})
            ).one()
            return row.passage_count, list(row.tags)


async def _get(conn: AsyncConnection, tenant: str, archive_id: str, *, lock: bool = False) -> Archive:
    if lock:  # serialises attach/detach against a concurrent delete of the archive
        locked = await conn.execute(
            text("SELECT 1 FROM memory.archives WHERE id = :id AND tenant = :tenant FOR UPDATE"),
            {"id": archive_id, "tenant": tenant},
        )
        if locked.first() is None:
            raise NotFound("archive", archive_id)
    row = (
        await conn.execute(
            text(_SELECT + " WHERE a.id = :id AND a.tenant = :tenant"), {"id": archive_id, "tenant": tenant}
        )
    ).first()
    if row is None:
        raise NotFound("archive", archive_id)
    return _archive(row)


async def _link(conn: AsyncConnection, archive_id: str, agent_ids: Sequence[str]) -> None:
    await conn.execute(
        text(
            "INSERT INTO memory.archive_agents (archive_id, agent_id) "
            "SELECT :archive_id, unnest(CAST(:agent_ids AS uuid[])) ON CONFLICT DO NOTHING"
        ),
        {"archive_id": archive_id, "agent_ids": list(agent_ids)},
    )


def _archive(row) -> Archive:
    return Archive(
        id=str(row.id),
        name=row.name,
        embedder=row.embedder,
        dimension=row.dimension,
        passage_count=row.passage_count,
        agent_ids=tuple(row.agent_ids),
        created_at=row.created_at,
        indexed_through=row.indexed_through,
        indexed_rows=row.indexed_rows,
    )
