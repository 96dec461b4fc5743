"""A bounded cache of what is derived from stored messages, by message id.

A stored message never changes (memory only appends and deletes, and ids are fresh UUIDs), yet
every step of an agent reads its whole context again: converting the same messages step after
step is most of the CPU of a context read. Caching the conversion by id is exact, not a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

S = TypeVar("S")
V = TypeVar("V")

DEFAULT_LIMIT = 20_000
"""Entries kept per process (the contexts of a few hundred busy agents)."""
MAX_CHARS = 16_384
"""Longer messages are converted every time: they are rare and would crowd the memory."""


class StoredMessageCache(Generic[S, V]):
    """``convert(message)`` by message id; the oldest entries are dropped past ``limit``."""

    def __init__(self, convert: Callable[[S], V], *, limit: int = DEFAULT_LIMIT):
        self._convert = convert
        self._limit = limit
        self._by_id: dict[str, V] = {}

    def known(self, message_id: str) -> V | None:
        """The conversion kept for ``message_id``, or None: a caller can skip working out what
        :meth:`get` needs for a new message (the hot path is a message seen before)."""
        return self._by_id.get(message_id)

    def get(self, message_id: str, message: S, size: int) -> V:
        """The conversion of ``message`` (stored as ``message_id``, ``size`` characters of text)."""
        found = self._by_id.get(message_id)
        if found is not None:
            return found
        converted = self._convert(message)
        if message_id and size <= MAX_CHARS:
            if len(self._by_id) >= self._limit:
                del self._by_id[next(iter(self._by_id))]
            self._by_id[message_id] = converted
        return converted
