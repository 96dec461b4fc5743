"""The tools service as a real process (``python -m services.tools``) on a free port, with the test
database, a known secrets key, small sandbox limits (so hostile cases end fast) and a canary
variable in its environment that no tool may ever see."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentsuite.tools.v1 import tools_service_pb2_grpc
from services.common.call import TENANT_KEY
from services.common.ports import free_port
from services.tools.store.sealing import generate_key

CANARY = f"canary-{uuid.uuid4()}"
LIMITS = {
    # Far above the CPU limit: on a loaded 2-core machine a busy loop gets a third of a core, so
    # its 2 CPU seconds can take 6 wall-clock seconds, and the CPU limit must still be what stops it.
    "AGENTSUITE_TOOLS_DEFAULT_TIMEOUT_SECONDS": "12",
    "AGENTSUITE_TOOLS_CPU_SECONDS": "2",
    "AGENTSUITE_TOOLS_MEMORY_MB": "256",
    "AGENTSUITE_TOOLS_MAX_PROCESSES": "16",
    "AGENTSUITE_TOOLS_FILE_SIZE_MB": "4",
    "AGENTSUITE_TOOLS_OUTPUT_LIMIT_BYTES": "65536",
    "AGENTSUITE_TOOLS_MAX_CONCURRENT": "4",
    "AGENTSUITE_TOOLS_MAX_QUEUED": "32",
    # No idle pre-started sandboxes: the hostile tests assert that no sandbox process is left.
    "AGENTSUITE_TOOLS_WARM_SANDBOXES": "0",
}


@dataclass(frozen=True)
class ToolsProcess:
    process: subprocess.Popen
    address: str
    log_path: Path
    database_port: int

    def metadata(self, tenant: str) -> tuple[tuple[str, str], ...]:
        return ((TENANT_KEY, tenant),)


def start_tools_service(database_url: str, log_path: Path, **extra: str) -> ToolsProcess:
    port = free_port()
    env = {
        **os.environ,
        **LIMITS,
        "DATABASE_URL": database_url,
        "AGENTSUITE_HOST": "127.0.0.1",
        "AGENTSUITE_PORT": str(port),
        "AGENTSUITE_SECRETS_KEY": generate_key(),
        "AGENTSUITE_TRACING": "0",
        "AGENTSUITE_TEST_CANARY": CANARY,
        **extra,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.tools"], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tools service exited with {process.returncode}: {log_path.read_text()[-3000:]}"
                )
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"tools service did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.1)
    from urllib.parse import urlsplit

    return ToolsProcess(process, address, log_path, urlsplit(database_url).port or 5432)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def tools_process(database_url, tmp_path_factory) -> Iterator[ToolsProcess]:
    running = start_tools_service(database_url, tmp_path_factory.mktemp("tools") / "tools.log")
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture
async def channel(tools_process) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(tools_process.address) as channel:
        yield channel


@pytest.fixture
def tools(channel) -> tools_service_pb2_grpc.ToolServiceStub:
    return tools_service_pb2_grpc.ToolServiceStub(channel)


@pytest.fixture
def runtime(channel) -> tools_service_pb2_grpc.ToolRuntimeStub:
    return tools_service_pb2_grpc.ToolRuntimeStub(channel)


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test, so tests never see each other's tools."""
    return f"tenant-{uuid.uuid4()}"
