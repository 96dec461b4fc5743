"""The agent service as the gateway calls it: its internal runtime, and whether an agent exists."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator

import grpc

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from services.common.channels import ServiceClient
from services.common.settings import Settings

KNOWN_AGENTS = 100_000
"""Agents remembered as existing, per gateway process."""
KNOWN_FOR_SECONDS = 60.0


class AgentRuntimeClient(ServiceClient):
    """Step is not idempotent by transport (it calls the model), so the channel does not retry it;
    the gateway repeats it deliberately, with the same run id, which continues the run."""

    def __init__(self, channel: grpc.aio.Channel, settings: Settings):
        super().__init__(channel, settings)
        self._runtime = agent_service_pb2_grpc.AgentRuntimeStub(channel)
        self._agents = agent_service_pb2_grpc.AgentServiceStub(channel)
        self._known: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def step(self, request: agent_service_pb2.StepRequest) -> AsyncIterator[common_pb2.AgentEvent]:
        async for response in self._stream(self._runtime.Step, request):
            yield response.event

    async def require_agent(self, tenant: str, agent_id: str) -> None:
        """NotFound unless the tenant has this agent; a positive answer is remembered a minute
        (an agent deleted meanwhile gets runs that fail with NOT_FOUND)."""
        key = (tenant, agent_id)
        seen = self._known.get(key)
        if seen is not None and time.monotonic() - seen < KNOWN_FOR_SECONDS:
            return
        await self._unary(self._agents.GetAgent, agent_service_pb2.GetAgentRequest(agent_id=agent_id))
        self.remember(tenant, [agent_id])

    def remember(self, tenant: str, agent_ids) -> None:
        """These agents exist (a listing just returned them)."""
        now = time.monotonic()
        for agent_id in agent_ids:
            self._known[(tenant, agent_id)] = now
            self._known.move_to_end((tenant, agent_id))
        while len(self._known) > KNOWN_AGENTS:
            self._known.popitem(last=False)

    async def list_agents(
        self, request: agent_service_pb2.ListAgentsRequest
    ) -> agent_service_pb2.ListAgentsResponse:
        return await self._unary(self._agents.ListAgents, request)
