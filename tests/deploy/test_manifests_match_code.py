"""The deployment files and the code agree: ports, setting names, health service names, commands."""

from __future__ import annotations

import importlib
import importlib.util
import re

import pytest

from services.common.settings import DEFAULT_PORTS
from tests.deploy.manifests import (
    OVERLAYS,
    PROBES,
    ROOT,
    all_containers,
    compose,
    kubernetes_containers,
    objects_of,
    probe_question,
)

SETTINGS_SOURCE = (ROOT / "services" / "common" / "settings.py").read_text()
STANDARD_VARIABLES = re.compile(r"^(OTEL_[A-Z_]+|PATH|HOME|TZ)$")
"""Variables the suite reads through libraries (OpenTelemetry's own) or the platform."""


def test_every_variable_given_to_our_containers_is_a_setting():
    unknown = {
        (container.where, name)
        for container in all_containers()
        for name in container.env_names
        if not STANDARD_VARIABLES.match(name) and f'"{name}"' not in SETTINGS_SOURCE
    }
    assert unknown == set()


def test_every_command_runs_a_module_that_exists():
    for container in all_containers():
        assert container.command[:2] == ["python", "-m"], container.where
        assert importlib.util.find_spec(container.command[2]) is not None, container.where


def test_ports_are_the_services_well_known_ports():
    for container in all_containers():
        if container.service is None:
            continue
        assert container.env["AGENTSUITE_PORT"] == str(DEFAULT_PORTS[container.service]), container.where
        if container.where.startswith("compose:"):
            continue
        spec = container.spec
        assert [p["containerPort"] for p in spec["ports"]] == [DEFAULT_PORTS[container.service]]
        for probe in PROBES:
            assert probe_question(container, probe)[0] == DEFAULT_PORTS[container.service], container.where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_addresses_point_at_the_well_known_ports(overlay):
    for name, service in objects_of(overlay, "Service").items():
        if name in DEFAULT_PORTS:
            assert [p["port"] for p in service["spec"]["ports"]] == [DEFAULT_PORTS[name]]
    for container in kubernetes_containers(overlay):
        for service, port in DEFAULT_PORTS.items():
            address = container.env[f"AGENTSUITE_{service.upper()}_ADDR"]
            assert re.fullmatch(rf"(dns:///)?{service}:{port}", address), (container.where, address)


def test_compose_addresses_point_at_the_well_known_ports():
    for name in ("gateway", "agent", "memory", "tools"):
        env = compose()["services"][name]["environment"]
        for service, port in DEFAULT_PORTS.items():
            assert env[f"AGENTSUITE_{service.upper()}_ADDR"] == f"{service}:{port}"


def registered_health_names(service: str) -> set[str]:
    """What ``ServiceHost`` registers in the health service of ``service``: "" (the server) and the
    full name of each proto service it serves; the gateway also serves the backends' public APIs."""
    served = {
        "gateway": [
            ("gateway", "ConversationService"),
            ("agent", "AgentService"),
            ("memory", "MemoryService"),
            ("tools", "ToolService"),
        ],
        "agent": [("agent", "AgentService"), ("agent", "AgentRuntime")],
        "memory": [("memory", "MemoryService"), ("memory", "MemoryRuntime")],
        "tools": [("tools", "ToolService"), ("tools", "ToolRuntime")],
    }[service]
    names = {""}
    for package, name in served:
        module = importlib.import_module(f"agentsuite.{package}.v1.{package}_service_pb2")
        names.add(module.DESCRIPTOR.services_by_name[name].full_name)
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_about_names_the_health_service_knows(overlay):
    """tests/e2e/test_healthcheck.py asks the running services the same questions."""
    for container in kubernetes_containers(overlay):
        if container.service is None:
            continue
        for probe in PROBES:
            _, name = probe_question(container, probe)
            assert name in registered_health_names(container.service), (container.where, probe, name)
