"""``agentsuite up``: embedded PostgreSQL plus the four services, until Ctrl-C.

It never harms another suite: it holds its state directory (``SuiteLock``) and checks every port it
needs before it starts anything, and at the end it stops only the PostgreSQL it owns.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import replace

from services.cli.keys import gateway_database
from services.cli.main import api_key_file, install_stop_handlers, write_secret
from services.cli.suite_lock import SuiteLock, SuiteRunning
from services.cli.supervisor import BACKEND_HOST, SERVICES, Suite, SuitePorts
from services.common.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError
from services.common.metrics import metrics_ports_env
from services.common.ports import listener_of, port_is_free
from services.common.settings import Settings
from services.gateway.core.keys import key_hash
from services.gateway.store.keys import KeyStore

DEFAULT_TENANT = "default"


async def run_up(settings: Settings) -> int:
    logging.basicConfig(level=logging.WARNING)
    lock = SuiteLock(settings.state_dir)
    try:
        lock.acquire()
    except SuiteRunning as exc:
        _refuse(
            f"{exc}.\nStop it first (Ctrl-C in its terminal), or run this one with another state "
            "directory (--state-dir or AGENTSUITE_STATE_DIR) and other ports."
        )
        return 1
    try:
        return await _run(settings)
    finally:
        lock.release()


async def _run(settings: Settings) -> int:
    embedded = None if settings.database_url else EmbeddedPostgres(settings.state_dir)
    taken = await asyncio.to_thread(_ports_taken, settings, embedded)
    if taken:
        _refuse(
            "\n".join(taken) + "\nIs another suite running? Stop it, or choose free ports with "
            "AGENTSUITE_{GATEWAY,AGENT,MEMORY,TOOLS}_ADDR."
        )
        return 1
    if embedded is None:
        url = settings.database_url
        print(f"database: {_redact(url)}")
    else:
        print(f"starting embedded PostgreSQL 16 + pgvector in {embedded.data_dir} ...", flush=True)
        try:
            url = await asyncio.to_thread(embedded.ensure_running, adopt=True)
        except EmbeddedPostgresError as exc:
            _refuse(str(exc))
            return 1

    suite = Suite(
        database_url=url,
        ports=_ports(settings),
        host=settings.host,
        log_dir=settings.state_dir / "logs",
        service_env=metrics_ports_env(),
    )
    try:
        return await _serve(replace(settings, database_url=url), suite)
    finally:
        # Whatever happened above, nothing we started outlives us; nothing we did not start stops.
        print("\nstopping services ...", flush=True)
        await asyncio.to_thread(suite.stop)
        if embedded is not None:
            if await asyncio.to_thread(embedded.release):
                print("stopped PostgreSQL.")
            elif await asyncio.to_thread(embedded.running_url):
                print("PostgreSQL left running: another process started it and still runs.")
        print("stopped.")


def _ports_taken(settings: Settings, embedded: EmbeddedPostgres | None) -> list[str]:
    """Why the suite could not listen where it must, one line per port (empty when all are free).

    Checked before anything starts: a service that cannot bind exits, but the health check of
    ``Suite.start`` would otherwise have found whoever holds the port.
    """
    ports = _ports(settings)
    wanted = [
        (name, ports.of(name), settings.host if name == "gateway" else BACKEND_HOST) for name in SERVICES
    ]
    if embedded is not None and embedded.running_url() is None and (port := embedded.port()) is not None:
        wanted.append(("embedded PostgreSQL", port, "127.0.0.1"))
    taken, given = [], {}
    for name, port, host in wanted:
        if port in given:
            taken.append(f"port {port} is set for both {given[port]} and {name}")
        elif not port_is_free(port, host):
            holder = listener_of(port)
            by = f" by {holder.name()} (pid {holder.pid})" if holder is not None else " by another process"
            taken.append(f"port {port} ({name}) is in use{by}")
        given[port] = name
    return taken


def _refuse(message: str) -> None:
    print(f"agentsuite up: {message}", file=sys.stderr, flush=True)


async def _serve(settings: Settings, suite: Suite) -> int:
    """Start the services, print how to reach them, and wait for Ctrl-C or a service's death."""
    stop = asyncio.Event()
    install_stop_handlers(stop)
    print("starting gateway, agent, memory and tools ...", flush=True)
    try:
        await suite.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"agentsuite up: {exc}", file=sys.stderr)
        return 1
    key = await _api_key(settings)
    provider = (
        "OpenAI-compatible endpoint"
        if (settings.openai_base_url or settings.openai_api_key)
        else "offline scripted model (set AGENTSUITE_OPENAI_BASE_URL / OPENAI_API_KEY for a real LLM)"
    )
    print(
        "\nagentsuite is up.\n"
        f"  endpoint  {suite.gateway_address}  (gRPC, plaintext)\n"
        f"  API key   {key}\n"
        f"            (also in {api_key_file(settings)}, mode 0600)\n"
        f"  model     {provider}\n"
        f"  logs      {settings.state_dir / 'logs'}\n"
        "\nChat from another terminal:  agentsuite chat\nStop with Ctrl-C.",
        flush=True,
    )
    while not stop.is_set():
        exited = suite.exited()
        if exited:
            print(
                f"\nagentsuite up: a service stopped unexpectedly: {exited}; stopping the rest",
                file=sys.stderr,
            )
            return 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass
    return 0


async def _api_key(settings: Settings) -> str:
    """The key kept in the state directory if it still works, else a new one for the default tenant."""
    path = api_key_file(settings)
    engine = await gateway_database(settings)
    store = KeyStore(engine)
    try:
        if path.exists():
            key = path.read_text().strip()
            if await store.tenant_for_hash(key_hash(key)):
                return key
        issued = await store.issue(DEFAULT_TENANT, name="agentsuite up")
        write_secret(path, issued.key)
        return issued.key
    finally:
        await engine.dispose()


def _ports(settings: Settings) -> SuitePorts:
    def port(address: str) -> int:
        return int(address.rsplit(":", 1)[1])

    return SuitePorts(
        gateway=port(settings.gateway_addr),
        agent=port(settings.agent_addr),
        memory=port(settings.memory_addr),
        tools=port(settings.tools_addr),
    )


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return url.replace(parts.password, "***") if parts.password else url
