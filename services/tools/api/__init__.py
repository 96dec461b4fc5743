"""The tools service's gRPC API: requests in, core calls, responses out.

The public ``ToolService`` has three areas (registry, secrets, test-runs), each a mixin;
:class:`ToolApi` puts them together. ``ToolRuntime`` is the internal execution API.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentsuite.tools.v1 import tools_service_pb2, tools_service_pb2_grpc
from services.common.server import Registration, servicer
from services.tools.api.execution import RunToolRpc, ToolRuntimeApi
from services.tools.api.registry import RegistryRpcs
from services.tools.api.secrets import SecretRpcs
from services.tools.core.executor import ToolExecutor
from services.tools.store.secrets import SecretStore
from services.tools.store.tools import ToolStore


@dataclass(frozen=True)
class ToolsBackend:
    """Everything the tools API works through."""

    tools: ToolStore
    secrets: SecretStore
    executor: ToolExecutor
    max_timeout_seconds: float


@servicer
class ToolApi(RegistryRpcs, SecretRpcs, RunToolRpc, tools_service_pb2_grpc.ToolServiceServicer):
    """Public tool registry: create, read, update, delete, test-run, secrets."""

    def __init__(self, backend: ToolsBackend):
        self._tools = backend.tools
        self._secrets = backend.secrets
        self._executor = backend.executor
        self._max_timeout_seconds = backend.max_timeout_seconds


def registrations(backend: ToolsBackend) -> list[Registration]:
    file = tools_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file, "ToolService", tools_service_pb2_grpc.add_ToolServiceServicer_to_server, ToolApi(backend)
        ),
        Registration.of(
            file,
            "ToolRuntime",
            tools_service_pb2_grpc.add_ToolRuntimeServicer_to_server,
            ToolRuntimeApi(backend.executor),
        ),
    ]
