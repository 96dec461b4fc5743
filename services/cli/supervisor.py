"""Starts the four services as separate processes and watches them.

Used by ``agentsuite up``, by the end-to-end tests and by the benchmarks, so all three run the
suite the same way: one process per service, real gRPC between them, one PostgreSQL. Tests of the
gateway's leases add extra gateway replicas (``Suite.start_replica``) on the same database and
backends, each a process they can pause, kill and restart; crash tests add a backend the same way.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.channels import dial
from services.common.ports import free_port, listens_on
from services.common.settings import DEFAULT_PORTS, Settings, SettingsError

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
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra environment of one service, over ``env`` (``{"memory": {...}}``: its own certificate)."""
    log_dir: Path | None = None
    """Where each service's stderr goes (``<service>.log``); inherited when None."""
    services: tuple[str, ...] = SERVICES
    """Which services to run, in start order (a benchmark of one service runs only that one)."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    replicas: list[ServiceReplica] = field(default_factory=list)
    """Extra service processes started by ``start_replica``, in start order."""
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
        env = {**os.environ, **self.env, **self.service_env.get(service, {})}
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
        for service in self.services:
            self.processes[service] = self._spawn(service, self.environment(service), service)

    def _spawn(self, service: str, env: Mapping[str, str], log_name: str) -> subprocess.Popen:
        """Start ``python -m services.<service>``, its stderr appended to ``<log_name>.log``."""
        log = None
        if self.log_dir is not None:
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            log = os.open(self.log_dir / f"{log_name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            return subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                env=env,
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
            await _wait_serving(
                service,
                address,
                self.processes[service].pid,
                lambda s=service: self._check_alive(s),
                deadline,
                self.environment(service),
            )

    async def start(self, timeout: float = 90.0) -> None:
        self.start_processes()
        try:
            await self.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise

    async def start_replica(
        self,
        service: str = "gateway",
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        timeout: float = 90.0,
    ) -> ServiceReplica:
        """Start one more process of ``service`` on the suite's database and backends; returns once
        it is SERVING.

        ``env`` adds to (and overrides) the service's environment for this replica only, e.g. a
        short ``AGENTSUITE_LEASE_TTL_SECONDS``, or the address of another replica to use. The replica
        listens on ``port`` (a free one when None) and logs to ``<service>-<port>.log``. ``stop``
        stops it with the suite; ``remove_replica`` before that.
        """
        port = port or free_port()
        replica = ServiceReplica(self, service, name=f"{service}-{port}", port=port, env=dict(env or {}))
        await replica.start(timeout)
        self.replicas.append(replica)
        return replica

    def remove_replica(self, replica: ServiceReplica, timeout: float = 15.0) -> None:
        """Stop a replica (whatever its state: running, paused or killed) and forget it."""
        replica.stop(timeout)
        self.replicas.remove(replica)

    def _check_alive(self, service: str) -> None:
        code = self.processes[service].poll()
        if code is not None:
            hint = f" (see {self.log_dir / (service + '.log')})" if self.log_dir else ""
            raise RuntimeError(f"{service} exited with code {code} during start-up{hint}")

    def exited(self) -> dict[str, int]:
        """Services whose process has ended, with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout: float = 15.0) -> None:
        """Stop in reverse start order, each after the one before has exited: the gateways (extra
        replicas first) drain their runs while the backends still answer them."""
        while self.replicas:
            self.remove_replica(self.replicas[-1], timeout)
        for service in reversed(self.services):
            process = self.processes.pop(service, None)
            if process is None:
                continue
            _terminate(process, timeout)


def _terminate(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM (after SIGCONT, in case it was paused), then SIGKILL past ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _wait_serving(
    name: str,
    address: str,
    pid: int,
    check_alive: Callable[[], None],
    deadline: float,
    env: Mapping[str, str],
) -> None:
    """Poll the gRPC health of ``address`` until SERVING; ``check_alive`` raises when the process ended.

    The answer must come from process ``pid``: when another process holds the port, ours cannot
    bind and exits, and the one that answered is someone else's (another suite's, say). The check
    dials as the service itself would (its TLS settings from ``env``).
    """
    async with dial(address, _dialling_settings(env)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            check_alive()
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not report SERVING on {address} in time")
            await asyncio.sleep(0.1)
    if not listens_on(pid, int(address.rsplit(":", 1)[1])):
        check_alive()
        raise RuntimeError(
            f"{address} answers, but not from our {name} (pid {pid}): another process holds it"
        )


def _dialling_settings(env: Mapping[str, str]) -> Settings:
    """A service's settings for dialling it; plain ones when they are malformed (the service then
    exits at start-up and says why, which ``check_alive`` reports)."""
    try:
        return Settings.from_env("supervisor", env)
    except SettingsError:
        return Settings(service="supervisor")


@dataclass(eq=False)
class ServiceReplica:
    """One extra process of a suite's service: gateways for tests of leases and takeover across
    replicas, a backend for tests of its crash and restart.

    Same database, same backends and same internal token as the suite's own process of that service;
    its own port and log. The handle outlives its process: ``kill`` it, then ``start`` it again on
    the same port.
    """

    suite: Suite
    service: str
    name: str
    """``<service>-<port>``; also the name of its log file."""
    port: int
    env: dict[str, str]
    """Extra environment of this replica, over the suite's gateway environment."""
    process: subprocess.Popen | None = None
    """The current process; None before the first ``start``."""

    @property
    def address(self) -> str:
        host = self.suite.host if self.service == "gateway" else BACKEND_HOST
        return f"{_connectable(host)}:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process.pid

    @property
    def running(self) -> bool:
        """The process exists and has not exited (it may be paused)."""
        return self.process is not None and self.process.poll() is None

    def environment(self) -> dict[str, str]:
        return {**self.suite.environment(self.service), **self.env, "AGENTSUITE_PORT": str(self.port)}

    async def start(self, timeout: float = 90.0) -> None:
        """Start a process (again, after ``kill`` or ``stop``) and wait until it is SERVING."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.process = self.suite._spawn(self.service, self.environment(), self.name)
        try:
            await _wait_serving(
                self.name,
                self.address,
                self.pid,
                self._check_alive,
                time.monotonic() + timeout,
                self.environment(),
            )
        except BaseException:
            self.kill()
            raise

    async def restart(self, timeout: float = 90.0) -> None:
        """Stop gracefully (if running), then start a new process on the same port."""
        self.stop()
        await self.start(timeout)

    def pause(self) -> None:
        """SIGSTOP, returning once the process is stopped: it keeps its sockets, connections and
        leases but does nothing."""
        self._signal(signal.SIGSTOP)
        self._wait_until(stopped=True)

    def resume(self) -> None:
        """SIGCONT after ``pause``, returning once the process runs again."""
        self._signal(signal.SIGCONT)
        self._wait_until(stopped=False)

    @property
    def paused(self) -> bool:
        try:
            return self.running and psutil.Process(self.pid).status() == psutil.STATUS_STOPPED
        except psutil.NoSuchProcess:
            return False

    def kill(self) -> None:
        """SIGKILL and reap: no drain, nothing released (as a crash or an OOM kill)."""
        if self.running:
            self.process.kill()
        if self.process is not None:
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGCONT, SIGTERM; SIGKILL past ``timeout``); nothing when not running."""
        if self.process is not None:
            _terminate(self.process, timeout)

    def _signal(self, signum: int) -> None:
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        self.process.send_signal(signum)

    def _wait_until(self, *, stopped: bool, timeout: float = 5.0) -> None:
        # Signals are delivered asynchronously: a test must not act before the state changed.
        deadline = time.monotonic() + timeout
        while self.paused != stopped:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} did not {'stop' if stopped else 'continue'} in time")
            time.sleep(0.002)

    def _check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            hint = f" (see {self.suite.log_dir / (self.name + '.log')})" if self.suite.log_dir else ""
            raise RuntimeError(f"{self.name} exited with code {code} during start-up{hint}")
