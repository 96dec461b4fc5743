"""``agentsuite up``: embedded PostgreSQL plus the four services, until Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import sys

from services.cli.keys import gateway_database
from services.cli.main import api_key_file, install_stop_handlers, write_secret
from services.cli.supervisor import Suite, SuitePorts
from services.common.embedded_pg import EmbeddedPostgres
from services.common.settings import Settings
from services.gateway.core.keys import key_hash
from services.gateway.store.keys import KeyStore

DEFAULT_TENANT = "default"


async def run_up(settings: Settings) -> int:
    logging.basicConfig(level=logging.WARNING)
    state_dir = settings.state_dir
    embedded = None
    if settings.database_url:
        url = settings.database_url
        print(f"database: {_redact(url)}")
    else:
        embedded = EmbeddedPostgres(state_dir)
        print(f"starting embedded PostgreSQL 16 + pgvector in {embedded.data_dir} ...", flush=True)
        url = await asyncio.to_thread(embedded.ensure_running)

    suite = Suite(database_url=url, ports=_ports(settings), host=settings.host, log_dir=state_dir / "logs")
    try:
        return await _serve(settings, suite)
    finally:
        # Whatever happened above, nothing we started outlives us.
        print("\nstopping services ...", flush=True)
        await asyncio.to_thread(suite.stop)
        if embedded is not None:
            print("stopping PostgreSQL ...", flush=True)
            await asyncio.to_thread(embedded.stop)
        print("stopped.")


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
