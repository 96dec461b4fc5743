"""The agent service's gRPC API: the public AgentService and the internal AgentRuntime."""

from __future__ import annotations

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from services.agent.api.agents import AgentApi
from services.agent.api.runtime import AgentRuntimeApi
from services.agent.clients.memory import MemoryClient
from services.agent.clients.tools import ToolsClient
from services.agent.core.loop import AgentLoop
from services.agent.llm import ProviderRegistry
from services.agent.store.agents import AgentStore
from services.common.server import Registration


def registrations(
    store: AgentStore,
    providers: ProviderRegistry,
    loop: AgentLoop,
    default_model: str,
    memory: MemoryClient,
    tools: ToolsClient,
):
    file = agent_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file,
            "AgentService",
            agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
            AgentApi(store, providers, default_model, memory, tools),
        ),
        Registration.of(
            file,
            "AgentRuntime",
            agent_service_pb2_grpc.add_AgentRuntimeServicer_to_server,
            AgentRuntimeApi(loop),
        ),
    ]
