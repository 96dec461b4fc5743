"""AgentService: create, read, list, update, delete, export and import agents."""

from __future__ import annotations

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from services.agent.api.convert import agent_spec, agent_to_proto, initial_block
from services.agent.core.lifecycle import AgentLifecycle
from services.agent.core.transfer import AgentTransfer
from services.agent.store.agents import AgentStore
from services.common.call import require_tenant
from services.common.errors import Validation
from services.common.paging import decode_time_id_token, page_size, time_id_token
from services.common.protobuf import require_id
from services.common.server import servicer
from services.common.values import has_nul

MAX_LISTED_IDS = 1000
"""Most ids one ListAgents may filter by."""


@servicer
class AgentApi(agent_service_pb2_grpc.AgentServiceServicer):
    """Agents: create, read, list, update, delete, export, import."""

    def __init__(self, *, store: AgentStore, lifecycle: AgentLifecycle, transfer: AgentTransfer):
        self._store = store
        self._lifecycle = lifecycle
        self._transfer = transfer

    async def CreateAgent(self, request: agent_service_pb2.CreateAgentRequest, context):
        agent = await self._lifecycle.create(
            require_tenant(),
            agent_spec(request.agent),
            [initial_block(b) for b in request.memory_blocks],
            request_id=request.request_id,
        )
        agent = await self._lifecycle.with_blocks(agent)
        return agent_service_pb2.CreateAgentResponse(agent=agent_to_proto(agent))

    async def GetAgent(self, request: agent_service_pb2.GetAgentRequest, context):
        agent = await self._store.get(require_tenant(), require_id(request.agent_id, "agent_id"))
        agent = await self._lifecycle.with_blocks(agent)
        return agent_service_pb2.GetAgentResponse(agent=agent_to_proto(agent))

    async def ListAgents(self, request: agent_service_pb2.ListAgentsRequest, context):
        tenant = require_tenant()
        limit = page_size(request.page_size)
        check = Validation()
        check.check(not has_nul(request.name), "name", "must not contain NUL characters")
        check.check(not any(has_nul(tag) for tag in request.tags), "tags", "must not contain NUL characters")
        check.check(
            len(request.agent_ids) <= MAX_LISTED_IDS, "agent_ids", f"must hold at most {MAX_LISTED_IDS} ids"
        )
        check.raise_if_any()
        ids = tuple(require_id(agent_id, f"agent_ids[{i}]") for i, agent_id in enumerate(request.agent_ids))
        after = decode_time_id_token(request.page_token)
        page = await self._store.list(
            tenant,
            limit=limit + 1,
            after=after,
            tags=tuple(request.tags),
            match_all_tags=request.tag_match != common_pb2.TAG_MATCH_ANY,
            name=request.name,
            ids=ids,
        )
        token = ""
        if len(page) > limit:
            page = page[:limit]
            token = time_id_token(page[-1].created_at, page[-1].id)
        return agent_service_pb2.ListAgentsResponse(
            agents=[agent_to_proto(a) for a in page], next_page_token=token
        )

    async def UpdateAgent(self, request: agent_service_pb2.UpdateAgentRequest, context):
        agent = await self._lifecycle.update(
            require_tenant(),
            require_id(request.agent.id, "agent.id"),
            agent_spec(request.agent),
            tuple(request.update_mask.paths),
        )
        agent = await self._lifecycle.with_blocks(agent)
        return agent_service_pb2.UpdateAgentResponse(agent=agent_to_proto(agent))

    async def DeleteAgent(self, request: agent_service_pb2.DeleteAgentRequest, context):
        await self._lifecycle.delete(require_tenant(), require_id(request.agent_id, "agent_id"))
        return agent_service_pb2.DeleteAgentResponse()

    async def ExportAgent(self, request: agent_service_pb2.ExportAgentRequest, context):
        document = await self._transfer.export_agent(
            require_tenant(),
            require_id(request.agent_id, "agent_id"),
            messages=request.include_messages,
            passages=request.include_passages,
        )
        return agent_service_pb2.ExportAgentResponse(document_json=document)

    async def ImportAgent(self, request: agent_service_pb2.ImportAgentRequest, context):
        agent = await self._transfer.import_agent(
            require_tenant(), request.document_json, name_override=request.name_override
        )
        return agent_service_pb2.ImportAgentResponse(agent=agent_to_proto(agent))
