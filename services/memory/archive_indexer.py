"""The memory service's background indexer: gives large archives bulk-built HNSW indexes and
replaces them as the archives grow (policy in ``core.index_policy``, DDL in ``store.archive_index``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.memory.core.index_policy import IndexPolicy
from services.memory.store.archive_index import ArchiveIndexStore

log = logging.getLogger(__name__)


class ArchiveIndexer:
    """Checks every ``interval`` seconds which archives want a new index, and builds them one by one."""

    def __init__(self, store: ArchiveIndexStore, policy: IndexPolicy, *, interval: float = 1.0):
        self._store = store
        self._policy = policy
        self._interval = interval
        self._task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """One pass: build what the policy asks for, then drop indexes nothing uses; the builds done."""
        built = 0
        for state in await self._store.states(min_rows=self._policy.min_rows):
            wanted = self._policy.wants_index(
                indexed_rows=state.indexed_rows, tail_rows=state.tail_rows, quiet_seconds=state.quiet_seconds
            )
            if wanted and await self._store.build(state.archive_id, state.dimension):
                built += 1
        await self._store.sweep()
        return built

    def start(self) -> None:
        """Run passes in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._loop(), name="archive-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed build is retried on a later pass; the service keeps serving
                log.exception("archive indexing pass failed")
            await asyncio.sleep(self._interval)
