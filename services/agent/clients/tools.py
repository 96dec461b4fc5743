"""The tools service as the agent service sees it: tool definitions in, sandboxed executions out."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence

import grpc

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from services.agent.core.tools import DEFAULT_RESULT_CHAR_LIMIT, ToolDefinition, ToolOutcome, ToolStatus
from services.common.call import require_tenant
from services.common.channels import ServiceClient, create_channel
from services.common.errors import NotFound
from services.common.protobuf import from_struct
from services.common.settings import Settings

log = logging.getLogger(__name__)

DEFINITION_TTL = 5.0
"""Seconds a tool definition is reused before it is read again: a changed tool (say, now requiring
approval) applies to runs starting a few seconds later, and a busy agent does not read its tools
on every run."""

_STATUS = {
    tools_pb2.EXECUTION_STATUS_OK: ToolStatus.OK,
    tools_pb2.EXECUTION_STATUS_TIMEOUT: ToolStatus.TIMEOUT,
}


def tools_channel(settings: Settings) -> grpc.aio.Channel:
    """The agent service's one channel to the tools service, shared by its clients. Only reads are
    retried: Execute may have side effects (a lost answer is reported to the model as an error
    instead of running the tool twice), and a lost CreateTool answer could hide a tool it made."""
    return create_channel(
        settings.tools_addr,
        settings,
        idempotent={"agentsuite.tools.v1.ToolService": ["GetTool", "ListTools", "ListSecrets"]},
    )


class ToolsClient(ServiceClient):
    """Reads tool definitions (public ToolService) and executes calls (internal ToolRuntime)."""

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._tools = tools_service_pb2_grpc.ToolServiceStub(channel)
        self._runtime = tools_service_pb2_grpc.ToolRuntimeStub(channel)
        self._definitions: dict[tuple[str, str], tuple[ToolDefinition | None, float]] = {}

    async def get(self, tool_id: str) -> ToolDefinition:
        """One tool of the current tenant; NotFound when it does not exist."""
        response = await self._unary(self._tools.GetTool, tools_service_pb2.GetToolRequest(tool_id=tool_id))
        return tool_definition(response.tool)

    async def definitions(self, tool_ids: Sequence[str]) -> list[ToolDefinition]:
        """The definitions of the current tenant's tools, read concurrently, reused for a few seconds.

        A tool deleted since it was attached is left out (and logged): the agent runs without it
        rather than every run failing.
        """
        tenant, now = require_tenant(), time.monotonic()
        missing = [i for i in tool_ids if self._definitions.get((tenant, i), (None, 0.0))[1] <= now]
        if missing:
            found = await asyncio.gather(*map(self._get_or_none, missing))
            for tool_id, tool in zip(missing, found, strict=True):
                if len(self._definitions) >= 10_000:
                    self._definitions.clear()
                self._definitions[tenant, tool_id] = (tool, now + DEFINITION_TTL)
        tools = (self._definitions[tenant, i][0] for i in tool_ids)
        return [tool for tool in tools if tool is not None]

    async def _get_or_none(self, tool_id: str) -> ToolDefinition | None:
        try:
            return await self.get(tool_id)
        except NotFound:
            log.warning(
                "an attached tool no longer exists; runs go on without it", extra={"tool_id": tool_id}
            )
            return None

    async def execute(
        self, tool: ToolDefinition, arguments_json: str, *, agent_id: str, run_id: str, key: str
    ) -> ToolOutcome:
        """Run one call in the sandbox (once per ``key``), within the caller's remaining deadline."""
        request = tools_service_pb2.ExecuteRequest(
            tool_id=tool.id,
            arguments_json=arguments_json,
            agent_id=agent_id,
            run_id=run_id,
            idempotency_key=key,
        )
        if tool.timeout is not None:
            request.timeout.FromNanoseconds(int(tool.timeout * 1e9))
        result = (await self._unary(self._runtime.Execute, request)).result
        return ToolOutcome(
            status=_STATUS.get(result.status, ToolStatus.ERROR),
            content=_content(result),
            seconds=result.duration.ToNanoseconds() / 1e9,
        )


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


def _content(result: tools_pb2.ExecutionResult) -> str:
    """What the model reads and memory stores: the return value, or the error with the end of
    stderr; a NUL character (which PostgreSQL text cannot hold) becomes U+FFFD, so a tool's result is
    stored whatever it holds."""
    return _readable(result).replace("\x00", "\ufffd")


def _readable(result: tools_pb2.ExecutionResult) -> str:
    if result.status == tools_pb2.EXECUTION_STATUS_OK:
        try:
            value = json.loads(result.result_json) if result.result_json else None
        except ValueError:
            return result.result_json
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    kind = tools_pb2.ExecutionStatus.Name(result.status).removeprefix("EXECUTION_STATUS_").lower()
    parts = [f"{result.error_type}: {result.error_message}" if result.error_type else result.error_message]
    if result.stderr.strip():
        parts.append("stderr (end):\n" + result.stderr.strip()[-1000:])
    return f"tool {kind}: " + "\n".join(p for p in parts if p)
