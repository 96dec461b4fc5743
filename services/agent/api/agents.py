"""AgentService: create, read and list agents."""

from __future__ import annotations

from datetime import datetime

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from services.agent.api.convert import agent_to_proto
from services.agent.clients.memory import MemoryClient
from services.agent.clients.tools import ToolsClient
from services.agent.core.agents import DEFAULT_CONTEXT_WINDOW, AgentSpec, InitialBlock, ModelChoice
from services.agent.llm import ProviderRegistry
from services.agent.store.agents import AgentStore
from services.common.call import require_tenant
from services.common.errors import InvalidArgument, Unimplemented
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import from_struct, require_id
from services.common.server import servicer


@servicer
class AgentApi(agent_service_pb2_grpc.AgentServiceServicer):
    """Agents: create, read, list."""

    def __init__(
        self,
        store: AgentStore,
        providers: ProviderRegistry,
        default_model: str,
        memory: MemoryClient,
        tools: ToolsClient,
    ):
        self._store = store
        self._memory = memory
        self._tools = tools
        self._providers = providers
        self._default_model = default_model

    async def CreateAgent(self, request: agent_service_pb2.CreateAgentRequest, context):
        tenant = require_tenant()
        if request.agent.tool_ids or request.agent.tool_rules:
            raise Unimplemented("agent.tool_ids / agent.tool_rules: tools are not implemented yet")
        spec = self._spec(request.agent)
        agent = await self._store.create(tenant, spec, request_id=request.request_id)
        # After the agent row: a failure here leaves an agent whose retry (same request_id) finds
        # it and sets its memory up then; memory keeps the first set-up of an agent.
        await self._memory.initialize(agent.id, [_initial_block(b) for b in request.memory_blocks])
        return agent_service_pb2.CreateAgentResponse(agent=agent_to_proto(agent))

    async def GetAgent(self, request: agent_service_pb2.GetAgentRequest, context):
        agent = await self._store.get(require_tenant(), require_id(request.agent_id, "agent_id"))
        return agent_service_pb2.GetAgentResponse(agent=agent_to_proto(agent))

    async def ListAgents(self, request: agent_service_pb2.ListAgentsRequest, context):
        tenant = require_tenant()
        limit = page_size(request.page_size)
        position = decode_token(request.page_token)
        after = None
        if position is not None:
            try:
                after = (datetime.fromisoformat(position["t"]), require_id(position["id"], "page_token"))
            except (KeyError, TypeError, ValueError):
                raise InvalidArgument.field("page_token", "not a token this service issued") from None
        page = await self._store.list(
            tenant,
            limit=limit + 1,
            after=after,
            tags=tuple(request.tags),
            match_all_tags=request.tag_match != common_pb2.TAG_MATCH_ANY,
            name=request.name,
        )
        token = ""
        if len(page) > limit:
            page = page[:limit]
            token = encode_token({"t": page[-1].created_at.isoformat(), "id": page[-1].id})
        return agent_service_pb2.ListAgentsResponse(
            agents=[agent_to_proto(a) for a in page], next_page_token=token
        )

    def _spec(self, agent: agent_pb2.Agent) -> AgentSpec:
        provider = agent.model.provider or self._providers.default_provider
        if provider not in self._providers.names:
            known = ", ".join(self._providers.names)
            raise InvalidArgument.field(
                "agent.model.provider", f"unknown provider {provider!r}; known: {known}"
            )
        spec = AgentSpec(
            name=agent.name,
            description=agent.description,
            system_prompt=agent.system_prompt,
            model=ModelChoice(
                provider=provider,
                model=agent.model.model or self._default_model,
                context_window=agent.model.context_window or DEFAULT_CONTEXT_WINDOW,
                temperature=agent.model.temperature if agent.model.HasField("temperature") else None,
                max_output_tokens=agent.model.max_output_tokens,
            ),
            tags=tuple(agent.tags),
            metadata=from_struct(agent.metadata),
            max_steps=agent.max_steps,
        )
        spec.validate()
        return spec


def _initial_block(block: agent_pb2.BlockSpec) -> InitialBlock:
    return InitialBlock(
        label=block.label,
        value=block.value,
        limit=block.limit,
        read_only=block.read_only,
        description=block.description,
        block_id=block.block_id,
    )
