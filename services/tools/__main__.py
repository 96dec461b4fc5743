"""``python -m services.tools``: run the tools service."""

import asyncio
from pathlib import Path

from services.common.app import Wiring, main, open_database
from services.common.settings import Settings
from services.tools.api import ToolsBackend, registrations
from services.tools.core.executor import ExecutionGate, ToolExecutor
from services.tools.sandbox.setup import limits_from, open_sandboxes
from services.tools.store.executions import ExecutionRecords
from services.tools.store.sealing import SecretBox, load_key
from services.tools.store.secrets import SecretStore
from services.tools.store.tables import SCHEMA
from services.tools.store.tools import ToolStore


async def wire(settings: Settings) -> Wiring:
    box = SecretBox(load_key(settings.secrets_key, settings.state_dir))
    # The database (migrations) and the sandbox (finding the interpreter's files, a probe sandbox)
    # are made ready at once: a restarted tools service serves again sooner.
    engine, (sandboxes, unavailable) = await asyncio.gather(
        open_database(settings, schema=SCHEMA, migrations=Path(__file__).parent / "migrations"),
        open_sandboxes(settings),
    )
    tools, secrets = ToolStore(engine), SecretStore(engine, box)
    if sandboxes is not None:
        sandboxes.start()
    executor = ToolExecutor(
        tools=tools,
        secrets=secrets,
        sandbox=sandboxes,
        unavailable_reason=unavailable,
        gate=ExecutionGate(running=settings.tools_max_concurrent, queued=settings.tools_max_queued),
        limits=limits_from(settings),
        records=ExecutionRecords(engine),
    )
    backend = ToolsBackend(tools, secrets, executor, settings.tools_max_timeout_seconds)
    closers = [engine.dispose] if sandboxes is None else [sandboxes.close, engine.dispose]
    return Wiring(registrations(backend), closers=closers)


if __name__ == "__main__":
    main("tools", wire, starts_processes=True)
