"""Tool registry RPCs of the public ToolService: create, get, list, update, delete."""

from __future__ import annotations

from agentsuite.tools.v1 import tools_service_pb2
from services.common.call import require_tenant
from services.common.errors import InvalidArgument
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import require_id
from services.tools.api.convert import draft_from_proto, tool_to_proto
from services.tools.core.tools import UPDATABLE, apply_update, build_spec
from services.tools.store.tools import ToolStore


class RegistryRpcs:
    """Mixin of :class:`services.tools.api.ToolApi`."""

    _tools: ToolStore
    _max_timeout_seconds: float

    async def CreateTool(self, request: tools_service_pb2.CreateToolRequest, context):
        tenant = require_tenant()
        spec = build_spec(draft_from_proto(request.tool), max_timeout_seconds=self._max_timeout_seconds)
        tool = await self._tools.create(tenant, spec)
        return tools_service_pb2.CreateToolResponse(tool=tool_to_proto(tool))

    async def GetTool(self, request: tools_service_pb2.GetToolRequest, context):
        tool = await self._tools.get(require_tenant(), require_id(request.tool_id, "tool_id"))
        return tools_service_pb2.GetToolResponse(tool=tool_to_proto(tool))

    async def ListTools(self, request: tools_service_pb2.ListToolsRequest, context):
        tenant = require_tenant()
        limit = page_size(request.page_size)
        position = decode_token(request.page_token)
        after = None
        if position is not None:
            after = position.get("name")
            if not isinstance(after, str):
                raise InvalidArgument.field("page_token", "is not a token this service issued")
        page = await self._tools.list(
            tenant, limit=limit + 1, after_name=after, tags=tuple(request.tags), name=request.name
        )
        token = ""
        if len(page) > limit:
            page = page[:limit]
            token = encode_token({"name": page[-1].name})
        return tools_service_pb2.ListToolsResponse(
            tools=[tool_to_proto(t) for t in page], next_page_token=token
        )

    async def UpdateTool(self, request: tools_service_pb2.UpdateToolRequest, context):
        tenant = require_tenant()
        tool_id = require_id(request.tool.id, "tool.id")
        current = await self._tools.get(tenant, tool_id)
        paths = list(request.update_mask.paths) or list(UPDATABLE)
        spec = apply_update(
            current, draft_from_proto(request.tool), paths, max_timeout_seconds=self._max_timeout_seconds
        )
        tool = await self._tools.replace(tenant, tool_id, spec)
        return tools_service_pb2.UpdateToolResponse(tool=tool_to_proto(tool))

    async def DeleteTool(self, request: tools_service_pb2.DeleteToolRequest, context):
        await self._tools.delete(require_tenant(), require_id(request.tool_id, "tool_id"))
        return tools_service_pb2.DeleteToolResponse()
