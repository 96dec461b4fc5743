"""The tools service as the agent service sees it: tool definitions in, sandboxed executions out."""

from __future__ import annotations

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.agent.core.tools import DEFAULT_RESULT_CHAR_LIMIT, ToolDefinition
from services.common.channels import ServiceClient, create_channel
from services.common.protobuf import from_struct
from services.common.settings import Settings


class ToolsClient(ServiceClient):
    """Reads tool definitions (public ToolService) and executes calls (internal ToolRuntime)."""

    @classmethod
    def connect(cls, settings: Settings) -> ToolsClient:
        # Execute is not retried: a tool may have side effects, and a lost answer is reported to the
        # model as an error instead of running the tool twice.
        channel = create_channel(
            settings.tools_addr,
            settings,
            idempotent={"agentsuite.tools.v1.ToolService": ["GetTool", "ListTools"]},
        )
        return cls(channel, settings)

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._tools = tools_service_pb2_grpc.ToolServiceStub(channel)
        self._runtime = tools_service_pb2_grpc.ToolRuntimeStub(channel)

    async def get(self, tool_id: str) -> ToolDefinition:
        """One tool of the current tenant; NotFound when it does not exist."""
        response = await self._unary(self._tools.GetTool, tools_service_pb2.GetToolRequest(tool_id=tool_id))
        return tool_definition(response.tool)

    async def execute(
        self, tool_id: str, *, arguments_json: str, agent_id: str, run_id: str, timeout: float | None
    ) -> tools_pb2.ExecutionResult:
        """Run one call in the sandbox; the RPC deadline is the caller's remaining time."""
        request = tools_service_pb2.ExecuteRequest(
            tool_id=tool_id, arguments_json=arguments_json, agent_id=agent_id, run_id=run_id
        )
        if timeout is not None:
            request.timeout.FromNanoseconds(int(timeout * 1e9))
        response = await self._unary(self._runtime.Execute, request)
        return response.result


def tool_definition(tool: tools_pb2.Tool) -> ToolDefinition:
    schema = from_struct(tool.json_schema)
    return ToolDefinition(
        id=tool.id,
        name=tool.name,
        description=tool.description or str(schema.get("description") or ""),
        parameters=schema.get("parameters") or {"type": "object", "properties": {}},
        parallel_safe=tool.parallel_safe,
        requires_approval=tool.requires_approval,
        result_char_limit=tool.result_char_limit or DEFAULT_RESULT_CHAR_LIMIT,
        timeout=tool.timeout.ToNanoseconds() / 1e9 if tool.HasField("timeout") else None,
    )
