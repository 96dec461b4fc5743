"""``python -m services.memory``: run the memory service."""

from pathlib import Path

from services.common.app import Wiring, main, open_database
from services.common.settings import Settings
from services.memory.api import MemoryStores, registrations
from services.memory.embedding import build_embedders
from services.memory.store.archives import ArchiveStore
from services.memory.store.messages import MessageStore
from services.memory.store.passages import PassageStore
from services.memory.store.tables import SCHEMA


async def wire(settings: Settings) -> Wiring:
    engine = await open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations")
    stores = MemoryStores(
        messages=MessageStore(engine),
        archives=ArchiveStore(engine),
        passages=PassageStore(engine),
        embedders=build_embedders(settings),
    )
    return Wiring(registrations(stores), closers=[engine.dispose])


if __name__ == "__main__":
    main("memory", wire)
