"""``python -m services.memory``: run the memory service."""

from pathlib import Path

from services.common.app import Wiring, main, open_database
from services.common.db import direct_engine, open_pool
from services.common.settings import Settings
from services.memory.api import MemoryStores, registrations
from services.memory.archive_indexer import ArchiveIndexer
from services.memory.core.index_policy import IndexPolicy
from services.memory.embedding import build_embedders
from services.memory.store.archive_index import ArchiveIndexStore
from services.memory.store.tables import SCHEMA


async def wire(settings: Settings) -> Wiring:
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    embedders = build_embedders(settings)
    pool = await open_pool(engine, settings)
    stores = MemoryStores.over(engine, pool, embedders)
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
    return Wiring(registrations(stores), closers=closers)


if __name__ == "__main__":
    main("memory", wire)
