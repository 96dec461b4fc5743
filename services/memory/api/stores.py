"""What the memory API reads and writes through, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from services.memory.embedding.registry import EmbedderRegistry
from services.memory.store.archives import ArchiveStore
from services.memory.store.blocks import BlockStore
from services.memory.store.context import ContextReader
from services.memory.store.messages import MessageStore
from services.memory.store.passages import PassageStore
from services.memory.store.recent import RecentMessages
from services.memory.store.removal import AgentRemoval


@dataclass(frozen=True)
class MemoryStores:
    """Every store of the memory service, over one database."""

    messages: MessageStore
    blocks: BlockStore
    context: ContextReader
    archives: ArchiveStore
    passages: PassageStore
    embedders: EmbedderRegistry
    removal: AgentRemoval

    @classmethod
    def over(cls, engine: AsyncEngine, pool: asyncpg.Pool, embedders: EmbedderRegistry) -> MemoryStores:
        """``pool`` (``services.common.db.open_pool``) runs the statements of every step: the
        append and the context read."""
        recent = RecentMessages()  # appends add to what the context reads keep
        return cls(
            messages=MessageStore(engine, pool, recent),
            blocks=BlockStore(engine),
            context=ContextReader(pool, recent),
            archives=ArchiveStore(engine),
            passages=PassageStore(engine),
            embedders=embedders,
            removal=AgentRemoval(engine),
        )
