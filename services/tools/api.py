"""The tools service's gRPC API. The registry and the sandbox are not built yet: every RPC of the
contract answers UNIMPLEMENTED (through the ``servicer`` decorator), and the service reports
SERVING so the suite's topology is complete."""

from __future__ import annotations

from agentsuite.tools.v1 import tools_service_pb2, tools_service_pb2_grpc
from services.common.server import Registration, servicer


@servicer
class ToolApi(tools_service_pb2_grpc.ToolServiceServicer):
    """Public tool registry: create, read, update, delete, test-run, secrets."""


@servicer
class ToolRuntimeApi(tools_service_pb2_grpc.ToolRuntimeServicer):
    """Internal sandboxed execution for the agent service."""


def registrations() -> list[Registration]:
    file = tools_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file, "ToolService", tools_service_pb2_grpc.add_ToolServiceServicer_to_server, ToolApi()
        ),
        Registration.of(
            file, "ToolRuntime", tools_service_pb2_grpc.add_ToolRuntimeServicer_to_server, ToolRuntimeApi()
        ),
    ]
