"""The architecture, checked: the import layers of every service, and the type checker.

Inside a service, imports point down only: ``api`` → ``core`` ← ``store``/``clients``/adapters.
``core`` is the service's logic on plain Python objects: it imports no ``grpc``, no generated
``*_pb2`` module, no database driver, and nothing of its own service's other layers. No service
imports another (they talk only through ``protos/``). Start-up wiring (``__main__``) may import
anything of its own service.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("agent", "gateway", "memory", "tools")
TRANSPORT_AND_DRIVERS = ("grpc", "google.protobuf", "agentsuite", "sqlalchemy", "asyncpg")
CORE_PORTS = {"services.agent.llm"}
"""Packages whose ``__init__`` is an interface the core uses (the agent's chat model and its types);
their implementations stay out of the core."""

KNOWN_VIOLATIONS: dict[str, set[str]] = {
    # The gateway's core still speaks protobuf: its runs and events are gateway_pb2 messages
    # (issue 19, step 2, not done yet).
    "services/gateway/core/events.py": {
        "agentsuite.agent.v1",
        "agentsuite.common.v1",
        "agentsuite.gateway.v1",
        "google.protobuf",
    },
    "services/gateway/core/executor.py": {
        "agentsuite.agent.v1",
        "agentsuite.common.v1",
        "agentsuite.gateway.v1",
    },
    "services/gateway/core/hub.py": {"agentsuite.gateway.v1"},
    "services/gateway/core/runs.py": {"agentsuite.agent.v1", "agentsuite.common.v1", "agentsuite.gateway.v1"},
}
"""Imports that break the rules today, each to be removed; a new one fails the test."""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(path: Path) -> set[str]:
    """The imports of ``path`` (a module of a service) that break the layer rules."""
    parts = path.relative_to(ROOT / "services").parts
    service, layer = parts[0], parts[1] if len(parts) > 2 else ""
    own = f"services.{service}"
    bad = set()
    for module in _imports(path):
        other_service = next(
            (s for s in SERVICES if s != service and _is_under(module, f"services.{s}")), None
        )
        if other_service is not None:
            bad.add(module)
        if layer == "core":
            if any(_is_under(module, banned) for banned in TRANSPORT_AND_DRIVERS):
                bad.add(module)
            if _is_under(module, own) and not _is_under(module, f"{own}.core") and module not in CORE_PORTS:
                bad.add(module)
        elif layer in ("store", "clients") and _is_under(module, f"{own}.api"):
            bad.add(module)
    return bad


def _service_modules() -> list[Path]:
    return [
        path
        for service in SERVICES
        for path in sorted((ROOT / "services" / service).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_imports_point_down_the_layers_and_never_into_another_service():
    found = {}
    for path in _service_modules():
        bad = _violations(path) - KNOWN_VIOLATIONS.get(str(path.relative_to(ROOT)), set())
        if bad:
            found[str(path.relative_to(ROOT))] = sorted(bad)
    assert not found, f"imports against the layers (api -> core <- store/clients): {found}"


def test_every_known_violation_still_exists():
    """A violation that was fixed leaves the list, so it cannot come back unnoticed."""
    stale = {
        name: sorted(modules - _violations(ROOT / name))
        for name, modules in KNOWN_VIOLATIONS.items()
        if not (ROOT / name).exists() or modules - _violations(ROOT / name)
    }
    assert not any(stale.values()), f"fixed, so drop them from KNOWN_VIOLATIONS: {stale}"


def test_the_layer_check_catches_a_core_that_imports_grpc(tmp_path, monkeypatch):
    core = tmp_path / "services" / "memory" / "core"
    core.mkdir(parents=True)
    module = core / "leaky.py"
    module.write_text("import grpc\nfrom services.memory.store.tables import SCHEMA\nimport services.agent\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _violations(module) == {"grpc", "services.memory.store.tables", "services.agent"}


@pytest.mark.timeout(300)
def test_services_type_check():
    """mypy over services/ (configured in pyproject.toml); about 20 s cold, a few with its cache."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
