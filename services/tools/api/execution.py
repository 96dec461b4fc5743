"""Execution RPCs: ToolService.RunTool (test-run) and the internal ToolRuntime.Execute."""

from __future__ import annotations

from agentsuite.tools.v1 import tools_service_pb2, tools_service_pb2_grpc
from services.common.call import current_call, require_tenant
from services.common.errors import InvalidArgument
from services.common.protobuf import idempotency_key, require_id
from services.common.server import servicer
from services.tools.api.convert import result_to_proto, seconds
from services.tools.core.executor import Call, ToolExecutor
from services.tools.core.tools import MAX_SOURCE_CHARS


class RunToolRpc:
    """Mixin of :class:`services.tools.api.ToolApi`."""

    _executor: ToolExecutor

    async def RunTool(self, request: tools_service_pb2.RunToolRequest, context):
        tenant = require_tenant()
        if bool(request.tool_id) == bool(request.source_code):
            raise InvalidArgument.field("tool_id", "set exactly one of tool_id and source_code")
        if len(request.source_code) > MAX_SOURCE_CHARS:
            raise InvalidArgument.field("source_code", f"must be at most {MAX_SOURCE_CHARS} characters")
        call = Call(
            tenant=tenant,
            arguments_json=request.arguments_json,
            agent_id=require_id(request.agent_id, "agent_id") if request.agent_id else "",
            tool_id=require_id(request.tool_id, "tool_id") if request.tool_id else "",
            source_code=request.source_code,
            deadline=current_call().deadline,
        )
        result = await self._executor.run(call)
        return tools_service_pb2.RunToolResponse(result=result_to_proto(result))


@servicer
class ToolRuntimeApi(tools_service_pb2_grpc.ToolRuntimeServicer):
    """Internal sandboxed execution for the agent service."""

    def __init__(self, executor: ToolExecutor):
        self._executor = executor

    async def Execute(self, request: tools_service_pb2.ExecuteRequest, context):
        call = Call(
            tenant=require_tenant(),
            arguments_json=request.arguments_json,
            agent_id=require_id(request.agent_id, "agent_id") if request.agent_id else "",
            tool_id=require_id(request.tool_id, "tool_id"),
            timeout_seconds=seconds(request.timeout) if request.HasField("timeout") else None,
            deadline=current_call().deadline,
        )
        if not request.idempotency_key:
            return tools_service_pb2.ExecuteResponse(result=result_to_proto(await self._executor.run(call)))
        key = idempotency_key(request.idempotency_key)
        result, replayed = await self._executor.run_once(call, key)
        return tools_service_pb2.ExecuteResponse(result=result_to_proto(result), replayed=replayed)
