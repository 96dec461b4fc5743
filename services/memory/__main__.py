"""``python -m services.memory``: run the memory service."""

from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from services.common.app import Wiring, main, open_database
from services.common.db import direct_engine, open_pool
from services.common.server import Registration
from services.common.settings import Settings
from services.common.stored_cache import StoredMessageCache
from services.memory.api import MemoryApi, MemoryRuntimeApi
from services.memory.api.convert import encoded_message
from services.memory.archive_indexer import ArchiveIndexer
from services.memory.core.agent_setup import AgentSetup
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.index_policy import IndexPolicy
from services.memory.core.recall import Recall
from services.memory.core.steps import AgentSteps
from services.memory.embedding import build_embedders
from services.memory.embedding.registry import EmbedderRegistry
from services.memory.store.archive_index import ArchiveIndexStore
from services.memory.store.archives import ArchiveStore
from services.memory.store.blocks import BlockStore
from services.memory.store.passages import PassageStore
from services.memory.store.recall import RecallStore
from services.memory.store.recent import RecentMessages
from services.memory.store.removal import AgentRemoval
from services.memory.store.steps import StepStore
from services.memory.store.tables import SCHEMA


async def wire(settings: Settings) -> Wiring:
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    embedders = build_embedders(settings)
    # The statements of every step (append, context read) run on asyncpg alone; the rest on
    # SQLAlchemy's engine.
    pool = await open_pool(engine, settings)
    index_engine = direct_engine(settings, engine)  # index builds take a session lock and SET
    indexer = ArchiveIndexer(
        ArchiveIndexStore(index_engine, maintenance_work_mem=settings.archive_index_build_memory),
        IndexPolicy(
            min_rows=settings.archive_index_min_rows, settle_seconds=settings.archive_index_settle_seconds
        ),
    )
    indexer.start()
    closers = [engine.dispose, pool.close, embedders.aclose, indexer.stop]
    if index_engine is not engine:
        closers.append(index_engine.dispose)
    return Wiring(registrations(engine, pool, embedders), closers=closers)


def registrations(engine: AsyncEngine, pool: asyncpg.Pool, embedders: EmbedderRegistry) -> list[Registration]:
    """Both APIs over one database: each store, core object and cache built once, here."""
    blocks, archives, passages = BlockStore(engine), ArchiveStore(engine), PassageStore(engine)
    archival = ArchivalMemory(archives, passages, embedders)
    public = MemoryApi(
        recall=Recall(RecallStore(engine)),
        blocks=blocks,
        archival=archival,
        archives=archives,
        passages=passages,
    )
    runtime = MemoryRuntimeApi(
        AgentSteps(StepStore(pool, RecentMessages())),
        AgentSetup(blocks, archives, archival, AgentRemoval(engine)),
        StoredMessageCache(encoded_message),
    )
    file = memory_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file, "MemoryService", memory_service_pb2_grpc.add_MemoryServiceServicer_to_server, public
        ),
        Registration.of(
            file, "MemoryRuntime", memory_service_pb2_grpc.add_MemoryRuntimeServicer_to_server, runtime
        ),
    ]


if __name__ == "__main__":
    main("memory", wire)
