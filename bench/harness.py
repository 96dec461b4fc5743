"""A throw-away suite for benchmarks: embedded PostgreSQL, the fake LLM and the four services.

Everything lives in a temporary directory and on ports picked by the kernel, so a benchmark never
touches the user's state or a suite that is already running. ``running_suite`` tears it all down
in reverse order, whatever happens inside the ``async with``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from services.cli.supervisor import Suite, SuitePorts
from services.common.db import create_engine
from services.common.embedded_pg import EmbeddedPostgres
from services.common.settings import Settings
from services.gateway.store.keys import KeyStore

TENANT = "bench"


@dataclass(frozen=True, kw_only=True)
class RunningSuite:
    """What a benchmark needs to talk to the suite it started."""

    suite: Suite
    """The four service processes (``suite.processes`` has their pids, for profilers)."""
    gateway_address: str
    """Public address (``host:port``) of the gateway."""
    agent_address: str
    """Internal address of the agent service, for calling ``AgentRuntime.Step`` directly."""
    api_key: str
    """An API key of ``tenant``."""
    tenant: str
    """The tenant the key belongs to."""
    log_dir: Path
    """Where each service (and the fake LLM) writes its stderr."""
    postgres_pid: int | None
    """The postmaster, to account for the database's CPU (its backends are its children)."""
    llm_pid: int
    """The fake LLM process: it competes for the same cores."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports: all sockets stay bound until every port is chosen."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def machine() -> dict:
    """The facts about this machine that explain a result."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def parse_args_with_env(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` with the option every benchmark shares, ``--env KEY=VALUE`` (repeatable):
    extra environment for the services, as a dict in ``args.env``."""
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra service environment (repeatable)",
    )
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    args.env = dict(item.split("=", 1) for item in args.env)
    return args


def log(message: str) -> None:
    """Progress goes to stderr: stdout carries only the JSON result."""
    print(message, file=sys.stderr, flush=True)


@asynccontextmanager
async def listening_process(args: list[str], *, log_file: Path) -> AsyncIterator[tuple[int, int]]:
    """Run ``python *args`` in its own session, stderr to ``log_file``, until the context ends.

    The child prints ``{"port": N}`` on stdout once it listens; yields that port and the pid.
    """
    with log_file.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if not line:
                raise RuntimeError(
                    f"{' '.join(args)} exited with code {await process.wait()} (see {log_file})"
                )
            yield json.loads(line)["port"], process.pid
        finally:
            if process.returncode is None:
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def fake_llm(*, latency_ms: float, log_dir: Path) -> AsyncIterator[tuple[str, int]]:
    """Run the fake LLM in its own process; yields its OpenAI base URL and pid."""
    args = ["-m", "services.fake_llm", "--host", "127.0.0.1", "--port", "0", "--latency-ms", str(latency_ms)]
    async with listening_process(args, log_file=log_dir / "fake_llm.log") as (port, pid):
        yield f"http://127.0.0.1:{port}/v1", pid


@asynccontextmanager
async def embedded_database() -> AsyncIterator[tuple[str, Path]]:
    """A private PostgreSQL (fsync off) in a temporary directory; yields its URL and the directory
    (for service logs). ``DATABASE_URL`` is used instead when set."""
    with tempfile.TemporaryDirectory(prefix="agentsuite-bench-") as tmp:
        state, log_dir = _prepare(Path(tmp))
        external = os.environ.get("DATABASE_URL")
        if external:
            yield external, log_dir
            return
        postgres = EmbeddedPostgres(state, fast=True)
        url = await asyncio.to_thread(postgres.ensure_running)
        try:
            yield url, log_dir
        finally:
            await asyncio.to_thread(postgres.stop)


@asynccontextmanager
async def running_services(
    url: str,
    services: tuple[str, ...],
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[Suite]:
    """Run only ``services`` (e.g. ``("memory",)``) against ``url`` on free ports; ``service_env``
    adds to one service's environment (its own certificate, say)."""
    suite = Suite(
        url,
        SuitePorts(*free_ports(4)),
        env={"AGENTSUITE_LOG_LEVEL": "WARNING", **(env or {})},
        service_env=service_env or {},
        log_dir=log_dir,
        services=services,
    )
    await suite.start()
    try:
        yield suite
    finally:
        await asyncio.to_thread(suite.stop)


@asynccontextmanager
async def running_suite(
    *,
    llm_latency_ms: float = 0.0,
    env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[RunningSuite]:
    """Start PostgreSQL, the fake LLM and the suite in a temporary directory; stop all on exit.

    ``env`` adds to the services' environment (log level, profiling switches, ...), ``service_env``
    to one service's.
    """
    with tempfile.TemporaryDirectory(prefix="agentsuite-bench-") as tmp:
        state, log_dir = _prepare(Path(tmp))
        log(f"bench: state in {state}")
        postgres = EmbeddedPostgres(state, fast=True)
        url = await asyncio.to_thread(postgres.ensure_running)
        try:
            async with fake_llm(latency_ms=llm_latency_ms, log_dir=log_dir) as (llm_url, llm_pid):
                ports = SuitePorts(*free_ports(4))
                suite = Suite(
                    url,
                    ports,
                    env={
                        "AGENTSUITE_OPENAI_BASE_URL": llm_url,
                        "OPENAI_API_KEY": "fake",
                        "AGENTSUITE_LOG_LEVEL": "WARNING",
                        **(env or {}),
                    },
                    service_env=service_env or {},
                    log_dir=log_dir,
                )
                log(f"bench: starting suite on ports {ports}")
                await suite.start()
                try:
                    key = await issue_key(url)
                    yield RunningSuite(
                        suite=suite,
                        gateway_address=suite.gateway_address,
                        agent_address=f"{suite.host}:{ports.agent}",
                        api_key=key,
                        tenant=TENANT,
                        log_dir=log_dir,
                        postgres_pid=postmaster_pid(postgres),
                        llm_pid=llm_pid,
                    )
                finally:
                    await asyncio.to_thread(suite.stop)
        finally:
            await asyncio.to_thread(postgres.stop)


def _prepare(state: Path) -> tuple[Path, Path]:
    # The embedded server may run as another user who must reach its data directory.
    state.chmod(0o711)
    log_dir = state / "logs"
    log_dir.mkdir()
    return state, log_dir


def postmaster_pid(postgres: EmbeddedPostgres) -> int | None:
    """The embedded server's postmaster (its backends are its children), None when not running."""
    try:
        return int((postgres.data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


async def issue_key(url: str) -> str:
    """An API key of the benchmark's tenant, written straight into the gateway's table."""
    engine = create_engine(url, Settings(service="bench"))
    try:
        return (await KeyStore(engine).issue(TENANT)).key
    finally:
        await engine.dispose()
