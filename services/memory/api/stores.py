"""What the memory API reads and writes through, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.memory.store.blocks import BlockStore
from services.memory.store.context import ContextReader
from services.memory.store.messages import MessageStore


@dataclass(frozen=True)
class MemoryStores:
    """Every store of the memory service, over one engine."""

    engine: AsyncEngine
    messages: MessageStore
    blocks: BlockStore
    context: ContextReader

    @classmethod
    def over(cls, engine: AsyncEngine) -> MemoryStores:
        return cls(
            engine=engine,
            messages=MessageStore(engine),
            blocks=BlockStore(engine),
            context=ContextReader(engine),
        )
