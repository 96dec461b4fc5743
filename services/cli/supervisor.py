"""Starts the four services as separate processes and watches them.

Used by ``agentsuite up``, by the end-to-end tests and by the benchmarks, so all three run the
suite the same way: one process per service, real gRPC between them, one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.settings import DEFAULT_PORTS

SERVICES = ("memory", "tools", "agent", "gateway")
"""Start order: the backends first, the public gateway last."""
BACKEND_HOST = "127.0.0.1"
LLM_SECRETS = ("OPENAI_API_KEY",)
TOOLS_SECRETS = ("AGENTSUITE_SECRETS_KEY",)
"""Only the tools service may read the key that opens tool secrets."""
INTERNAL_TOKEN = "AGENTSUITE_INTERNAL_TOKEN"
"""Only the agent service (which messages agents through the gateway) and the gateway know it."""


def _connectable(host: str) -> str:
    """An address to dial for a listen address (a wildcard listens everywhere, so dial loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


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
    services: tuple[str, ...] = SERVICES
    """Which services to run, in start order (a benchmark of one service runs only that one)."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    """Shared by the agent service and the gateway for this suite (unless ``env`` sets one)."""

    @property
    def gateway_address(self) -> str:
        return f"{self.host}:{self.ports.gateway}"

    def environment(self, service: str) -> dict[str, str]:
        """The process environment of one service.

        Only the gateway listens on ``host``: the backends trust the tenant in their metadata, so
        they stay on loopback. Only the agent service gets the LLM provider's key, and only the tools
        service the key of tool secrets.
        """
        env = {**os.environ, **self.env}
        if service != "agent":
            for secret in LLM_SECRETS:
                env.pop(secret, None)
        if service != "tools":
            for secret in TOOLS_SECRETS:
                env.pop(secret, None)
        if service in ("agent", "gateway"):
            env.setdefault(INTERNAL_TOKEN, self.internal_token)
        else:
            env.pop(INTERNAL_TOKEN, None)
        env.update(
            DATABASE_URL=self.database_url,
            AGENTSUITE_HOST=self.host if service == "gateway" else BACKEND_HOST,
            AGENTSUITE_PORT=str(self.ports.of(service)),
        )
        for name in SERVICES:
            host = self.host if name == "gateway" else BACKEND_HOST
            env[f"AGENTSUITE_{name.upper()}_ADDR"] = f"{_connectable(host)}:{self.ports.of(name)}"
        return env

    def start_processes(self) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for service in self.services:
            log = None
            if self.log_dir is not None:
                log = os.open(self.log_dir / f"{service}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                self.processes[service] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{service}"],
                    env=self.environment(service),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
                )
            finally:
                if log is not None:
                    os.close(log)  # the child has its own copy

    async def wait_serving(self, timeout: float = 90.0) -> None:
        """Poll each service's health until SERVING; fail fast when one exits."""
        deadline = time.monotonic() + timeout
        for service in self.services:
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
        """Stop in reverse start order, each after the one before has exited: the gateway drains
        its runs while the backends still answer them."""
        for service in reversed(self.services):
            process = self.processes.pop(service, None)
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
