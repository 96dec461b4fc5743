"""Stores the step-level events of every run this process executes, batched.

Runs hand their events to one writer, which stores everything waiting in one statement and then
the next batch, so under load one round trip serves many runs, and a lone run pays one. Each event
and each run's end is fenced by the run's epoch: a gateway whose lease passed on stores nothing,
and learns it (``LeaseLost``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from services.gateway.core.model import FinishRow
from services.gateway.core.ports import RunRepository

log = logging.getLogger(__name__)

MAX_RUNS_PER_BATCH = 150
"""The notification naming a batch's runs must stay under PostgreSQL's 8000-byte payload limit."""


class LeaseLost(Exception):
    """The run's epoch is no longer current: another gateway executes it now."""


@dataclass
class _Pending:
    done: asyncio.Future
    events: list[tuple[str, int, int, bytes]] = field(default_factory=list)
    finish: FinishRow | None = None


class EventWriter:
    def __init__(self, store: RunRepository):
        self._store = store
        self._pending: dict[str, _Pending] = {}
        self._flushing: asyncio.Task | None = None

    async def store(
        self, run_id: str, epoch: int, events: list[tuple[int, bytes]], finish: FinishRow | None = None
    ) -> None:
        """Store events (seq, serialized) of a run, and its end when given; returns once stored."""
        pending = self._pending.get(run_id)
        if pending is None:
            pending = self._pending[run_id] = _Pending(done=asyncio.get_running_loop().create_future())
        pending.events.extend((run_id, epoch, seq, data) for seq, data in events)
        if finish is not None:
            pending.finish = finish
        done = pending.done
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="gateway-event-writer")
        await asyncio.shield(done)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch: dict[str, _Pending] = {}
                for run_id in list(self._pending)[:MAX_RUNS_PER_BATCH]:
                    batch[run_id] = self._pending.pop(run_id)
                await self._write(batch)
        finally:
            self._flushing = None

    async def _write(self, batch: dict[str, _Pending]) -> None:
        events = [event for pending in batch.values() for event in pending.events]
        finishes = [pending.finish for pending in batch.values() if pending.finish is not None]
        try:
            result = await self._store.store(events, finishes)
        except Exception as exc:
            for pending in batch.values():
                if not pending.done.done():
                    pending.done.set_exception(exc)
            log.warning("storing run events failed", extra={"error": str(exc), "runs": len(batch)})
            return
        for run_id, pending in batch.items():
            fenced_out = (pending.events and run_id not in result.stored) or (
                pending.finish is not None and run_id not in result.finished
            )
            if fenced_out:
                pending.done.set_exception(LeaseLost(run_id))
            else:
                pending.done.set_result(None)
