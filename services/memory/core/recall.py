"""Recall memory: an agent's whole message history, listed in pages, searched, counted.

The real repository is ``services.memory.store.recall.RecallStore``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from services.memory.core.model import FoundMessage, Role, StoredMessage

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, and whether another follows it."""

    items: tuple[T, ...]
    more: bool


class RecallRepository(Protocol):
    async def list(
        self,
        *,
        tenant: str,
        agent_id: str,
        limit: int,
        after_seq: int = 0,
        before_seq: int = 0,
        descending: bool = False,
        roles: Sequence[Role] = (),
    ) -> builtins.list[StoredMessage]:
        """Up to ``limit`` messages in seq order between exclusive bounds (0: open)."""
        ...

    async def search(
        self,
        *,
        tenant: str,
        agent_id: str,
        query: str,
        limit: int,
        roles: Sequence[Role] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[float, int] | None = None,
    ) -> builtins.list[FoundMessage]:
        """Up to ``limit`` messages matching ``query``, best first, after the (score, seq) ``after``."""
        ...

    async def count(self, *, tenant: str, agent_id: str, roles: Sequence[Role] = ()) -> int: ...


class Recall:
    """Reads of an agent's message history; NotFound for an agent memory does not know."""

    def __init__(self, store: RecallRepository):
        self._store = store

    async def list(
        self,
        *,
        tenant: str,
        agent_id: str,
        page_size: int,
        after_seq: int = 0,
        before_seq: int = 0,
        descending: bool = False,
        roles: Sequence[Role] = (),
    ) -> Page[StoredMessage]:
        found = await self._store.list(
            tenant=tenant,
            agent_id=agent_id,
            limit=page_size + 1,
            after_seq=after_seq,
            before_seq=before_seq,
            descending=descending,
            roles=roles,
        )
        return Page(tuple(found[:page_size]), more=len(found) > page_size)

    async def search(
        self,
        *,
        tenant: str,
        agent_id: str,
        query: str,
        page_size: int,
        roles: Sequence[Role] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[float, int] | None = None,
    ) -> Page[FoundMessage]:
        found = await self._store.search(
            tenant=tenant,
            agent_id=agent_id,
            query=query,
            limit=page_size + 1,
            roles=roles,
            start=start,
            end=end,
            after=after,
        )
        return Page(tuple(found[:page_size]), more=len(found) > page_size)

    async def count(self, *, tenant: str, agent_id: str, roles: Sequence[Role] = ()) -> int:
        return await self._store.count(tenant=tenant, agent_id=agent_id, roles=roles)
