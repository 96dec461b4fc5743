"""The deployment files as data: the compose file, the kustomize builds, and what they say about our
own containers (those running the agentsuite image), for the tests in this folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
OVERLAYS = {
    "dev": DOCKER / "k8s" / "overlays" / "dev",
    "prod": DOCKER / "k8s" / "overlays" / "prod",
    "prod-tls": DOCKER / "k8s" / "overlays" / "prod-tls",
    "mesh": DOCKER / "k8s" / "mesh",
}
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
"""The oldest Kubernetes the manifests support (native gRPC probes are GA since 1.27; 1.29 is the
oldest kubernetes-validate release line we test) and the newest schemas installed."""


def dev_tool(name: str) -> str:
    """A command installed by the dev extras into the virtual environment (make setup)."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run make setup (pyproject's dev extras)")
    return found


@cache
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@cache
def kustomize_build(overlay: str) -> tuple[dict, ...]:
    """The objects ``kubectl kustomize`` (kustomize v5, built into kubectl) makes of an overlay."""
    built = subprocess.run(
        [dev_tool("kubectl"), "kustomize", str(OVERLAYS[overlay])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, f"kustomize build of {overlay} failed:\n{built.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(built.stdout) if doc)


@dataclass(frozen=True)
class OurContainer:
    """A container that runs the agentsuite image, wherever it is declared."""

    where: str
    """``compose:<service>`` or ``<overlay>:<Kind>/<name>``."""
    command: list[str]
    env_names: set[str]
    env: dict[str, str]
    """Literal values (compose environment, Kubernetes ``value:`` and the ConfigMaps it reads)."""
    spec: dict

    @property
    def service(self) -> str | None:
        """gateway, agent, memory or tools when the command runs one of them."""
        module = self.command[-1] if self.command else ""
        name = module.removeprefix("services.")
        return name if name in ("gateway", "agent", "memory", "tools") else None


def compose_containers() -> Iterator[OurContainer]:
    for name, service in compose()["services"].items():
        if "agentsuite" not in service.get("image", ""):
            continue
        env = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        yield OurContainer(f"compose:{name}", list(service.get("command", [])), set(env), env, service)


def kubernetes_containers(overlay: str) -> Iterator[OurContainer]:
    objects = kustomize_build(overlay)
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            if not re.search(r"(^|/)agentsuite(:|$)", container["image"]):
                continue
            env: dict[str, str] = {}
            names: set[str] = set()
            for source in container.get("envFrom", []):
                data = config_maps[source["configMapRef"]["name"]]
                env.update(data)
                names.update(data)
            for variable in container.get("env", []):
                names.add(variable["name"])
                if "value" in variable:
                    env[variable["name"]] = variable["value"]
            yield OurContainer(
                f"{overlay}:{obj['kind']}/{obj['metadata']['name']}",
                list(container.get("command", [])),
                names,
                env,
                container,
            )


PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def probe_question(container: OurContainer, probe: str) -> tuple[int, str]:
    """The port a probe asks and the health service name it asks about: a native gRPC probe, or an
    exec probe of ``python -m services.healthcheck [ADDRESS] [SERVICE]`` (the container's own port
    when ADDRESS is empty, as the TLS component uses it)."""
    spec = container.spec[probe]
    if "grpc" in spec:
        return spec["grpc"]["port"], spec["grpc"].get("service", "")
    command = spec["exec"]["command"]
    assert command[:3] == ["python", "-m", "services.healthcheck"], (container.where, command)
    address, service = [*command[3:], "", ""][:2]
    assert address == "", (container.where, "an exec probe checks its own container's port")
    return int(container.env["AGENTSUITE_PORT"]), service


def all_containers() -> list[OurContainer]:
    found = list(compose_containers())
    for overlay in OVERLAYS:
        found.extend(kubernetes_containers(overlay))
    return found


def objects_of(overlay: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in kustomize_build(overlay) if o["kind"] == kind}
