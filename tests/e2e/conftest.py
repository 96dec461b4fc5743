"""The suite as real processes: four services on free ports, one embedded PostgreSQL, and the fake
OpenAI-compatible server as the only stand-in (a real HTTP server in its own process).

``replicas`` adds service processes to that suite for one test (same database, same backends), to
pause, kill and restart: gateways in the lease and takeover tests, a backend in its crash tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest

from services.cli.supervisor import ServiceReplica, Suite, SuitePorts
from services.common.ports import free_port
from tests.e2e.own_suite import new_key, suite_env


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass(frozen=True)
class FakeLLM:
    base_url: str

    def script(self, model: str, replies: list[dict]) -> None:
        httpx.post(
            f"{self.base_url.removesuffix('/v1')}/_admin/script", json={"model": model, "replies": replies}
        )

    def requests(self, model: str) -> list[dict]:
        answer = httpx.get(f"{self.base_url.removesuffix('/v1')}/_admin/requests", params={"model": model})
        return answer.json()


@dataclass(frozen=True)
class RunningSuite:
    suite: Suite
    llm: FakeLLM
    database_url: str

    @property
    def address(self) -> str:
        return self.suite.gateway_address

    def backend_address(self, service: str) -> str:
        return f"127.0.0.1:{self.suite.ports.of(service)}"

    async def new_key(self, tenant: str) -> str:
        return await new_key(self.database_url, tenant)


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.fake_llm", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = json.loads(process.stdout.readline())["port"]
        yield FakeLLM(f"http://127.0.0.1:{port}/v1")
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
async def running_suite(database_url, fake_llm, tmp_path_factory) -> AsyncIterator[RunningSuite]:
    log_dir: Path = tmp_path_factory.mktemp("suite-logs")
    suite = Suite(
        database_url=database_url,
        ports=SuitePorts(gateway=free_port(), agent=free_port(), memory=free_port(), tools=free_port()),
        env=suite_env(fake_llm.base_url),
        log_dir=log_dir,
    )
    await suite.start()
    try:
        yield RunningSuite(suite, fake_llm, database_url)
    finally:
        suite.stop()


@pytest.fixture
async def gateway(running_suite) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(running_suite.address) as channel:
        yield channel


@pytest.fixture
async def tenant(running_suite):
    key = await running_suite.new_key(f"t-{uuid.uuid4().hex[:12]}")
    return (("authorization", f"Bearer {key}"),)


@dataclass
class ServiceReplicas:
    """Starts extra service processes on the session's suite; the fixture stops them when the test
    ends.

    A replica shares the database, the backends and the internal token with the suite's own process
    of its service: gateways to pause, kill and restart in the lease and takeover tests, a backend
    to crash under a gateway that is told its address.
    """

    suite: Suite
    started: list[ServiceReplica] = field(default_factory=list)

    async def start(
        self, service: str = "gateway", *, env: Mapping[str, str] | None = None
    ) -> ServiceReplica:
        """One more process of ``service``, SERVING on its own port, with ``env`` over the suite's
        environment (e.g. ``{"AGENTSUITE_LEASE_TTL_SECONDS": "1"}``)."""
        replica = await self.suite.start_replica(service, env=env)
        self.started.append(replica)
        return replica

    async def start_many(self, count: int, *, env: Mapping[str, str] | None = None) -> list[ServiceReplica]:
        """``count`` gateways with the same ``env``, one after the other (each takes about a second)."""
        return [await self.start(env=env) for _ in range(count)]

    def stop_all(self) -> None:
        """Stop every replica this test started, paused or killed ones included."""
        while self.started:
            self.suite.remove_replica(self.started.pop())


@pytest.fixture
def replicas(running_suite) -> Iterator[ServiceReplicas]:
    """Extra service processes for this test; see ``ServiceReplicas``."""
    replicas = ServiceReplicas(running_suite.suite)
    try:
        yield replicas
    finally:
        replicas.stop_all()
