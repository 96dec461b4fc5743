"""``agentsuite up``: embedded PostgreSQL plus the four services, until Ctrl-C.

It never harms another suite: it holds its state directory (``SuiteLock``) and checks every port it
needs before it starts anything, and at the end it stops only the PostgreSQL it owns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import sys
from dataclasses import replace
from pathlib import Path

from services.cli.context import api_key_file
from services.cli.keys import gateway_database
from services.cli.suite_lock import SuiteLock, SuiteRunning
from services.cli.supervisor import BACKEND_HOST, SERVICES, Suite, SuitePorts
from services.common.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError
from services.common.metrics import metrics_ports_env
from services.common.ports import listener_of, port_is_free
from services.common.settings import Settings, default_state_dir
from services.gateway.core.keys import key_hash
from services.gateway.store.keys import KeyStore

DEFAULT_TENANT = "default"
DEFAULT_GATEWAY_ADDR = Settings(service="cli").gateway_addr


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
        f"\nChat from another terminal (in {Path.cwd()}):\n  {chat_command(settings, suite.gateway_address)}\n"
        "Stop with Ctrl-C.",
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


def chat_command(settings: Settings, gateway_address: str) -> str:
    """The command that chats with this suite when pasted into a new terminal in the current
    directory: the executable by a path that works from there (a new shell has no virtualenv
    activated), and the flags for what a new shell's environment will not say (a state directory
    or a gateway address other than the defaults)."""
    command = [*_agentsuite_executable(), "chat"]
    if settings.state_dir.resolve() != default_state_dir().resolve():
        command += ["--state-dir", str(settings.state_dir)]
    if gateway_address != DEFAULT_GATEWAY_ADDR:
        command += ["--endpoint", gateway_address]
    return shlex.join(command)


def _agentsuite_executable() -> list[str]:
    """``agentsuite`` of this environment, relative to the current directory when inside it."""
    script = Path(sys.prefix) / "bin" / "agentsuite"
    if not script.exists():
        return [sys.executable, "-m", "services.cli.main"]
    try:
        return [str(script.relative_to(Path.cwd()))]
    except ValueError:
        return [str(script)]


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)


def write_secret(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    path.chmod(0o600)


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
