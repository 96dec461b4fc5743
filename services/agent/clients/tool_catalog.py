"""The tools service's registry as AgentService sees it: which tools exist and what they are called
(to attach them), their full definitions (to export them) and new ones (to import them). The agent
loop's view (definitions to offer, executions) is :mod:`services.agent.clients.tools`.
"""

from __future__ import annotations

from google.protobuf import duration_pb2

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.agent.core.agent_file import FileTool
from services.common.channels import ServiceClient
from services.common.protobuf import from_struct, to_struct
from services.common.settings import Settings


class ToolCatalogClient(ServiceClient):
    """Reads and creates the current tenant's tools (public ToolService)."""

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._tools = tools_service_pb2_grpc.ToolServiceStub(channel)

    async def name_of(self, tool_id: str) -> str:
        return (await self._get(tool_id)).name

    async def definition(self, tool_id: str) -> FileTool:
        return file_tool(await self._get(tool_id))

    async def find(self, name: str) -> tuple[str, FileTool] | None:
        response = await self._unary(
            self._tools.ListTools, tools_service_pb2.ListToolsRequest(name=name, page_size=1)
        )
        if not response.tools:
            return None
        return response.tools[0].id, file_tool(response.tools[0])

    async def forget_secrets(self, agent_id: str) -> None:
        listed = await self._unary(
            self._tools.ListSecrets, tools_service_pb2.ListSecretsRequest(agent_id=agent_id)
        )
        for secret in listed.secrets:
            await self._unary(
                self._tools.DeleteSecret,
                tools_service_pb2.DeleteSecretRequest(name=secret.name, agent_id=agent_id),
            )

    async def create(self, tool: FileTool) -> str:
        message = tools_pb2.Tool(
            name=tool.name,
            description=tool.description,
            source_code=tool.source_code,
            parallel_safe=tool.parallel_safe,
            requires_approval=tool.requires_approval,
            result_char_limit=tool.result_char_limit,
            tags=tool.tags,
        )
        if tool.json_schema is not None:
            message.json_schema.CopyFrom(to_struct(tool.json_schema))
        if tool.timeout_seconds is not None:
            message.timeout.CopyFrom(_duration(tool.timeout_seconds))
        response = await self._unary(
            self._tools.CreateTool, tools_service_pb2.CreateToolRequest(tool=message)
        )
        return response.tool.id

    async def _get(self, tool_id: str) -> tools_pb2.Tool:
        response = await self._unary(self._tools.GetTool, tools_service_pb2.GetToolRequest(tool_id=tool_id))
        return response.tool


def file_tool(tool: tools_pb2.Tool) -> FileTool:
    """A stored tool as the agent document carries it: everything but its id, times and secrets."""
    return FileTool(
        name=tool.name,
        description=tool.description,
        source_code=tool.source_code,
        json_schema=from_struct(tool.json_schema) if tool.HasField("json_schema") else None,
        parallel_safe=tool.parallel_safe,
        requires_approval=tool.requires_approval,
        result_char_limit=tool.result_char_limit,
        timeout_seconds=tool.timeout.ToNanoseconds() / 1e9 if tool.HasField("timeout") else None,
        tags=tuple(tool.tags),
    )


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration
