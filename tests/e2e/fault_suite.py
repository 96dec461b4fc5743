"""A suite of its own for the fault tests (issue 14): a private embedded PostgreSQL and every service
as a process that can be killed, paused and started again on the same port.

The fault test stops PostgreSQL at once and kills every service; doing that to the session's suite
would leave every later test with broken pools and dead listeners. So this suite has its own
database, and each of its five processes (memory, tools, agent and two gateways) is a
``ServiceReplica`` of an otherwise empty ``Suite``: the first replica of each service listens on the
suite's port for it, so every other process finds it at the address the suite hands out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli.supervisor import ServiceReplica, Suite, SuitePorts
from services.common.db import create_engine
from services.common.ports import free_port
from services.common.settings import Settings
from services.gateway.store.keys import KeyStore
from services.tools.store.sealing import generate_key

TENANT = "faults"
_EMBEDDED_PG = (
    "import sys; from pathlib import Path; from services.common.embedded_pg import EmbeddedPostgres; "
    "print(getattr(EmbeddedPostgres(Path(sys.argv[1]), fast=True, survives_crash=True), sys.argv[2])(*sys.argv[3:]) or '')"
)
HEALTH_POLL_S = 0.05


@dataclass(frozen=True)
class FaultSuite:
    """The processes of the fault suite and what a client needs to reach them."""

    suite: Suite
    database: EmbeddedDatabase
    memory: ServiceReplica
    tools: ServiceReplica
    agent: ServiceReplica
    gateways: tuple[ServiceReplica, ServiceReplica]
    api_key: str

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),)

    @property
    def processes(self) -> tuple[ServiceReplica, ...]:
        return (self.memory, self.tools, self.agent, *self.gateways)

    @property
    def log_dir(self) -> Path:
        assert self.suite.log_dir is not None
        return self.suite.log_dir


@dataclass(frozen=True)
class EmbeddedDatabase:
    """The suite's PostgreSQL (``EmbeddedPostgres`` with fsync off but synchronous commits, so a
    crash of PostgreSQL loses no commit it acknowledged, as in production): stopped at once
    (``pg_ctl stop -m immediate``, as a crash) and started again on the same port, so the services'
    ``DATABASE_URL`` stays right.

    Every operation runs in a fresh interpreter. As root, the server's programs run as its own
    user, and Python forks (rather than vforks) to switch users: a fork of a process whose gRPC
    threads are busy can crash before it execs (it did, in this test). The fresh interpreter has no
    such threads.
    """

    state_dir: Path
    url: str = ""

    @classmethod
    def start(cls, state_dir: Path) -> EmbeddedDatabase:
        return cls(state_dir, _embedded(state_dir, "ensure_running"))

    def stop(self) -> None:
        """Fast shutdown, at the end."""
        _embedded(self.state_dir, "stop")

    def stop_immediately(self) -> None:
        # EmbeddedPostgres has no public crash-stop; the lead's item 12 (the port kept across
        # restarts) may add one.
        _embedded(self.state_dir, "_pg_ctl", "stop", "-m", "immediate", "-w", "-t", "30")

    def start_again(self) -> None:
        """Start the stopped server with the options it last ran with (``postmaster.opts``, which
        ``pg_ctl restart`` reuses when no server runs): the same port, even with the old
        connections in TIME_WAIT, where ``ensure_running`` would move to a new port."""
        log = str(self.state_dir / "postgres" / "server.log")
        _embedded(self.state_dir, "_pg_ctl", "restart", "-w", "-t", "60", "-l", log)

    async def port(self) -> int:
        connection = await asyncpg.connect(self.url, timeout=5)
        try:
            return int(await connection.fetchval("SHOW port"))
        finally:
            await connection.close()


@asynccontextmanager
async def running_fault_suite(
    *,
    llm_base_url: str,
    log_dir: Path,
    gateway_env: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[FaultSuite]:
    """Start PostgreSQL, memory, tools, agent and two gateways (``gateway_env`` on both, e.g. a
    short lease; ``env`` on every service); stop everything, paused processes included, when the
    context ends."""
    with tempfile.TemporaryDirectory(prefix="agentsuite-faults-") as state:
        database = await asyncio.to_thread(EmbeddedDatabase.start, Path(state))
        try:
            suite = Suite(
                database.url,
                _distinct_ports(),
                env={
                    "AGENTSUITE_OPENAI_BASE_URL": llm_base_url,
                    "OPENAI_API_KEY": "sk-test-not-a-real-key",
                    "AGENTSUITE_SECRETS_KEY": generate_key(),
                    "AGENTSUITE_LOG_LEVEL": "INFO",
                    **(env or {}),
                },
                log_dir=log_dir,
                services=(),
            )
            try:
                yield await _start(suite, database, gateway_env)
            finally:
                await asyncio.to_thread(suite.stop)
        finally:
            await asyncio.to_thread(database.stop)


def _embedded(state_dir: Path, method: str, *args: str) -> str:
    """Call ``EmbeddedPostgres(state_dir).<method>(*args)`` in a fresh interpreter; its result."""
    done = subprocess.run(
        [sys.executable, "-c", _EMBEDDED_PG, str(state_dir), method, *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        raise RuntimeError(f"EmbeddedPostgres.{method}{args} failed: {done.stderr[-3000:]}")
    return done.stdout.strip()


async def _start(suite: Suite, database: EmbeddedDatabase, gateway_env: Mapping[str, str]) -> FaultSuite:
    ports = suite.ports
    # Memory first (its migration creates the vector extension), then the others two at a time:
    # each process takes seconds to start on a busy machine.
    memory = await suite.start_replica("memory", port=ports.memory)
    tools, agent = await asyncio.gather(
        suite.start_replica("tools", port=ports.tools), suite.start_replica("agent", port=ports.agent)
    )
    first, second = await asyncio.gather(
        suite.start_replica("gateway", port=ports.gateway, env=gateway_env),
        suite.start_replica("gateway", env=gateway_env),
    )
    engine = create_engine(database.url, Settings(service="test", db_pool_size=1))
    try:
        key = (await KeyStore(engine).issue(TENANT)).key
    finally:
        await engine.dispose()
    return FaultSuite(suite, database, memory, tools, agent, (first, second), key)


def _distinct_ports() -> SuitePorts:
    ports: list[int] = []
    while len(ports) < 4:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return SuitePorts(*ports)


async def serving(address: str, *, timeout: float = 1.0) -> bool:
    """Whether the gRPC health of ``address`` answers SERVING now."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.aio.AioRpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def seconds_until_all_serving(
    processes: tuple[ServiceReplica, ...], since: float, *, within: float
) -> float | None:
    """Seconds from ``since`` (monotonic) until every process answers SERVING; None if that takes
    longer than ``within`` seconds from ``since``."""
    for process in processes:
        while not await serving(process.address, timeout=0.5):
            if time.monotonic() - since > within:
                return None
            await asyncio.sleep(HEALTH_POLL_S)
    return time.monotonic() - since
