"""Start-up shared by every service's ``__main__``: settings, logs, tracing, database, serve."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import create_engine, direct_engine, resolve_database_url, wait_for_database
from services.common.event_loop import run_event_loop
from services.common.metrics import configure_metrics, shutdown_metrics
from services.common.migrations import upgrade
from services.common.server import Registration, run_service
from services.common.settings import Settings, SettingsError
from services.common.telemetry import configure_logging, configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    """What a service built at start-up: the servicers to serve and what to close at the end."""

    registrations: Sequence[Registration]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    """Server interceptors after the tracing one, outermost first (the gateway's authentication, then
    its request checks)."""


async def open_database(settings: Settings, *, schema: str, migrations: Path) -> AsyncEngine:
    """Connect (starting the embedded server when no URL is set) and migrate ``schema`` to head
    over the direct URL (a no-op wait on a lock when another replica or the one-shot
    ``python -m services.migrate`` migrates it)."""
    url = await asyncio.to_thread(resolve_database_url, settings)
    engine = create_engine(url, settings, through_pooler=settings.db_transaction_pooler)
    await wait_for_database(engine)
    migrator = direct_engine(settings, engine, pool_size=1)
    try:
        if migrator is not engine:
            await wait_for_database(migrator)
        await upgrade(migrator, schema=schema, script_location=migrations)
    finally:
        if migrator is not engine:
            await migrator.dispose()
    return engine


def shutdown_telemetry() -> None:
    """Export the spans and metrics still held (blocking; a few seconds at most)."""
    shutdown_tracing()
    shutdown_metrics()


def collect_garbage_less_often() -> None:
    """Every call allocates thousands of short-lived objects (protobufs, futures, records). With
    the default thresholds the young generation was collected about every 700 of them and the whole
    heap, modules included, every few seconds: about 5% of the agent's CPU per message. Larger
    generations let nearly all of a call's objects die first, and what start-up made (modules,
    wiring) is frozen out of the collections."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def main(
    service: str, wire: Callable[[Settings], Awaitable[Wiring]], *, starts_processes: bool = False
) -> None:
    """Entry point of ``python -m services.<service>``; a service that ``starts_processes`` runs on
    asyncio's own event loop (see ``run_event_loop``)."""
    try:
        settings = Settings.from_env(service)
    except SettingsError as exc:
        print(f"agentsuite-{service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(service, settings.log_level)
    configure_tracing(service, settings.tracing)
    configure_metrics(service, settings.metrics_port, settings.metrics_host)
    try:
        run_event_loop(_serve(settings, wire), starts_processes=starts_processes)
    except SettingsError as exc:  # found while wiring, e.g. a secret that is too weak
        print(f"agentsuite-{service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


async def _serve(settings: Settings, wire: Callable[[Settings], Awaitable[Wiring]]) -> None:
    wiring = await wire(settings)
    collect_garbage_less_often()

    async def close() -> None:
        for closer in reversed(wiring.closers):
            await closer()
        await asyncio.to_thread(shutdown_telemetry)

    await run_service(settings, wiring.registrations, interceptors=wiring.interceptors, on_stop=close)
