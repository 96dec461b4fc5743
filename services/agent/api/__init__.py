"""The agent service's gRPC API: the public AgentService and the internal AgentRuntime."""

from __future__ import annotations

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from services.agent.api.agents import AgentApi
from services.agent.api.runtime import AgentRuntimeApi
from services.agent.core.lifecycle import AgentLifecycle
from services.agent.core.loop import AgentLoop
from services.agent.core.transfer import AgentTransfer
from services.agent.store.agents import AgentStore
from services.common.server import Registration


def registrations(
    *,
    store: AgentStore,
    loop: AgentLoop,
    lifecycle: AgentLifecycle,
    transfer: AgentTransfer,
):
    file = agent_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file,
            "AgentService",
            agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
            AgentApi(store=store, lifecycle=lifecycle, transfer=transfer),
        ),
        Registration.of(
            file,
            "AgentRuntime",
            agent_service_pb2_grpc.add_AgentRuntimeServicer_to_server,
            AgentRuntimeApi(loop),
        ),
    ]
