"""Starts the four services as separate processes and watches them.

Used by ``agentsuite up``, by the end-to-end tests and by the benchmarks, so all three run the
suite the same way: one process per service, real gRPC between them, one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.ports import free_port
from services.common.settings import DEFAULT_PORTS

__all__ = ["SERVICES", "Suite", "SuitePorts", "free_port"]

SERVICES = ("memory", "tools", "agent", "gateway")
"""Start order: the backends first, the public gateway last."""


@dataclass(frozen=True)
class SuitePorts:
    gateway: int = DEFAULT_PORTS["gateway"]
    agent: int = DEFAULT_PORTS["agent"]
    memory: int = DEFAULT_PORTS["memory"]
    tools: int = DEFAULT_PORTS["tools"]

    def of(self, service: str) -> int:
        return getattr(self, service)


@dataclass
class Suite:
    """The four services of one suite; ``start`` returns once all report SERVING."""

    database_url: str
    ports: SuitePorts = field(default_factory=SuitePorts)
    host: str = "127.0.0.1"
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for every service (provider settings, log level, ...)."""
    log_dir: Path | None = None
    """Where each service's stderr goes (``<service>.log``); inherited when None."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def gateway_address(self) -> str:
        return f"{self.host}:{self.ports.gateway}"

    def environment(self, service: str) -> dict[str, str]:
        env = {
            **os.environ,
            **self.env,
            "DATABASE_URL": self.database_url,
            "AGENTSUITE_HOST": self.host,
            "AGENTSUITE_PORT": str(self.ports.of(service)),
        }
        for name in SERVICES:
            env[f"AGENTSUITE_{name.upper()}_ADDR"] = f"{self.host}:{self.ports.of(name)}"
        return env

    def start_processes(self) -> None:
        for service in SERVICES:
            stderr = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                stderr = open(self.log_dir / f"{service}.log", "ab")  # the child process owns it
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                env=self.environment(service),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )

    async def wait_serving(self, timeout: float = 90.0) -> None:
        """Poll each service's health until SERVING; fail fast when one exits."""
        deadline = time.monotonic() + timeout
        for service in SERVICES:
            address = f"{self.host}:{self.ports.of(service)}"
            async with grpc.aio.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                while True:
                    self._check_alive(service)
                    try:
                        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    except grpc.aio.AioRpcError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{service} did not report SERVING on {address} within {timeout:.0f}s"
                        )
                    await asyncio.sleep(0.1)

    async def start(self, timeout: float = 90.0) -> None:
        self.start_processes()
        try:
            await self.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise

    def _check_alive(self, service: str) -> None:
        code = self.processes[service].poll()
        if code is not None:
            hint = f" (see {self.log_dir / (service + '.log')})" if self.log_dir else ""
            raise RuntimeError(f"{service} exited with code {code} during start-up{hint}")

    def exited(self) -> dict[str, int]:
        """Services whose process has ended, with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM in reverse start order (gateway first, so no new work arrives), then wait."""
        for service in reversed(SERVICES):
            process = self.processes.get(service)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
