"""The agent service's internal runtime, as the gateway calls it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from services.common.channels import ServiceClient, create_channel
from services.common.settings import Settings


class AgentRuntimeClient(ServiceClient):
    @classmethod
    def connect(cls, settings: Settings) -> AgentRuntimeClient:
        # Step is not idempotent (it calls the model): no transport retries.
        return cls(create_channel(settings.agent_addr, settings), settings)

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._stub = agent_service_pb2_grpc.AgentRuntimeStub(channel)

    async def step(self, request: agent_service_pb2.StepRequest) -> AsyncIterator[common_pb2.AgentEvent]:
        async for response in self._stream(self._stub.Step, request):
            yield response.event
