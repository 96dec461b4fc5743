"""``python -m services.healthcheck``, the container image's health check, against real servers: the
suite's four services (asked exactly what the Kubernetes probes ask), a draining server, and a
server that requires mutual TLS with a certificate that names only a cluster DNS name."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from services.common.dev_certs import DevCA
from services.common.ports import free_port
from services.common.server import ServiceHost
from services.common.settings import Settings
from services.healthcheck import NOT_SERVING, SERVING, USAGE
from tests.deploy.manifests import PROBES, kubernetes_containers, probe_question

PLAIN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSUITE_")}


async def healthcheck(*arguments: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.healthcheck",
        *arguments,
        env=PLAIN_ENV if env is None else {**PLAIN_ENV, **env},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    return process.returncode, stderr.decode()


async def test_every_probe_of_the_kubernetes_manifests_is_answered_serving(running_suite):
    asked = 0
    for container in kubernetes_containers("prod"):
        if container.service is None:
            continue
        address = running_suite.backend_address(container.service)
        for probe in PROBES:
            _, name = probe_question(container, probe)
            code, stderr = await healthcheck(address, name)
            assert code == SERVING, (container.where, probe, name, stderr)
            asked += 1
    assert asked == 12


async def test_an_unknown_health_name_or_a_closed_port_is_unhealthy(running_suite):
    code, stderr = await healthcheck(running_suite.backend_address("memory"), "agentsuite.nope.v1.Nothing")
    assert code == NOT_SERVING and "NOT_FOUND" in stderr
    code, stderr = await healthcheck(f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert code == NOT_SERVING and "UNAVAILABLE" in stderr


async def test_bad_usage_exits_64_not_docker_reserved_2():
    assert (await healthcheck("no-port-here"))[0] == USAGE
    assert (await healthcheck("--no-such-flag"))[0] == USAGE
    assert (await healthcheck("gateway", env={"AGENTSUITE_TLS_CERT_FILE": "/nonexistent"}))[0] == USAGE


async def test_without_an_address_it_checks_the_port_the_service_was_given():
    host = ServiceHost(Settings(service="memory", port=free_port()), [])
    port = await host.start()
    try:
        assert (await healthcheck(env={"AGENTSUITE_PORT": str(port)}))[0] == SERVING
        await host.health.enter_graceful_shutdown()  # what SIGTERM starts: the drain
        code, stderr = await healthcheck(env={"AGENTSUITE_PORT": str(port)})
        assert code == NOT_SERVING and "NOT_SERVING" in stderr
    finally:
        await host.server.stop(None)


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


async def test_a_service_that_requires_mutual_tls_is_checked_with_its_own_certificate(tmp_path):
    ca = DevCA()
    issued = ca.issue("agentsuite-memory", ["memory.agentsuite.svc.cluster.local", "memory"])
    tls = {
        "AGENTSUITE_TLS_CERT_FILE": write(tmp_path, "memory.pem", issued.cert),
        "AGENTSUITE_TLS_KEY_FILE": write(tmp_path, "memory-key.pem", issued.key),
        "AGENTSUITE_TLS_CA_FILE": write(tmp_path, "ca.pem", ca.pem),
        "AGENTSUITE_TLS_REQUIRE_CLIENT_CERT": "true",
    }
    settings = Settings.from_env("memory", {**tls, "AGENTSUITE_PORT": str(free_port())})
    host = ServiceHost(settings, [])
    port = await host.start()
    try:
        # The certificate names no loopback address: the check expects its DNS name instead.
        code, stderr = await healthcheck(env={**tls, "AGENTSUITE_PORT": str(port)})
        assert code == SERVING, stderr
        assert (await healthcheck(f"127.0.0.1:{port}", "--timeout", "1"))[0] == NOT_SERVING  # plaintext
        other_ca = DevCA("another CA")
        stranger = other_ca.issue("stranger", ["memory"])
        strange_tls = {
            **tls,
            "AGENTSUITE_TLS_CERT_FILE": write(tmp_path, "stranger.pem", stranger.cert),
            "AGENTSUITE_TLS_KEY_FILE": write(tmp_path, "stranger-key.pem", stranger.key),
        }
        code, _ = await healthcheck(f"127.0.0.1:{port}", "--timeout", "1", env=strange_tls)
        assert code == NOT_SERVING
    finally:
        await host.server.stop(None)
