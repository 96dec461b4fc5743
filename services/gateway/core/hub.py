"""The live events of the runs executing in this process, for every stream that follows one.

A hub holds a bounded window of a run's most recent events: the step-level ones (already stored, so
a stream that falls out of the window re-reads them from the database) and the text deltas between
them (live only, never replayed). Streams read it through cursors, so a slow reader holds no buffer
of its own and a run's memory is bounded whatever its readers do.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from agentsuite.gateway.v1 import gateway_pb2
from services.gateway.core.events import is_live_only

WINDOW = 1024
"""Events a hub keeps; a reader further behind continues from the database."""


class FellBehind(Exception):
    """The reader's position is no longer in the hub's window."""


class RunHub:
    """Events of one run, in order, as this process executes it."""

    def __init__(self, run_id: str, last_stored_seq: int):
        self.run_id = run_id
        self._events: deque[gateway_pb2.RunEvent] = deque()
        self._first_position = 0  # absolute position of self._events[0]
        self._floor_seq = last_stored_seq  # every step-level event up to here is in the database
        self._changed = asyncio.Event()
        self.closed = False

    def publish(self, event: gateway_pb2.RunEvent) -> None:
        self._events.append(event)
        if len(self._events) > WINDOW:
            dropped = self._events.popleft()
            self._first_position += 1
            self._floor_seq = max(self._floor_seq, dropped.seq)
        self._wake()

    def close(self) -> None:
        """No more events (the run stopped here, or this process lost its lease)."""
        self.closed = True
        self._wake()

    async def follow(
        self, after_seq: int, *, quiet_seconds: float
    ) -> AsyncIterator[gateway_pb2.RunEvent | None]:
        """Events after the step-level event ``after_seq``: the stored ones, then the live ones.

        Yields None after ``quiet_seconds`` without events (time for a heartbeat). Raises
        ``FellBehind`` when the events after ``after_seq`` have left the window (or were stored
        before this hub began): the caller reads them from the database and comes back.

        A step-level event is stored before it is published here, so a reader that came from the
        database may already have events this hub publishes later: those, and the deltas before
        them, are skipped, never sent twice.
        """
        if after_seq < self._floor_seq:
            raise FellBehind
        position = self._first_position
        for event in self._events:  # skip what the reader has, and deltas it missed (never replayed)
            if event.seq > after_seq:
                break
            position += 1
        seen = after_seq  # the last step-level event the reader has
        while True:
            if position < self._first_position:
                raise FellBehind
            index = position - self._first_position
            if index < len(self._events):
                event = self._events[index]
                position += 1
                if is_live_only(event):
                    if event.seq < seen:
                        continue
                elif event.seq <= seen:
                    continue
                else:
                    seen = event.seq
                yield event
                continue
            if self.closed:
                return
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), quiet_seconds)
            except TimeoutError:
                yield None

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


class RunHubs:
    """The hubs of this process, by run id, and the readers waiting for one to appear."""

    def __init__(self, on_open: Callable[[str], None]):
        self._hubs: dict[str, RunHub] = {}
        self._on_open = on_open
        """Called with a run's id when its hub opens (readers waiting elsewhere move over)."""

    def open(self, run_id: str, last_stored_seq: int) -> RunHub:
        hub = self._hubs[run_id] = RunHub(run_id, last_stored_seq)
        self._on_open(run_id)
        return hub

    def get(self, run_id: str) -> RunHub | None:
        return self._hubs.get(run_id)

    def close(self, hub: RunHub) -> None:
        hub.close()
        if self._hubs.get(hub.run_id) is hub:
            del self._hubs[hub.run_id]

    def __len__(self) -> int:
        return len(self._hubs)
