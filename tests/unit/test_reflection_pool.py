"""What a server's reflection describes: the services it serves and what they reach, nothing else
(the gateway's never the internal runtimes that share files with the public services)."""

from __future__ import annotations

import pytest
from grpc_health.v1 import health_pb2  # noqa: F401  (registers grpc.health.v1.Health)

from agentsuite.agent.v1 import agent_service_pb2  # noqa: F401
from agentsuite.gateway.v1 import gateway_service_pb2  # noqa: F401
from agentsuite.memory.v1 import memory_service_pb2  # noqa: F401
from agentsuite.tools.v1 import tools_service_pb2  # noqa: F401
from services.common.reflection import V1, V1ALPHA, served_pool

PUBLIC = [
    "agentsuite.gateway.v1.ConversationService",
    "agentsuite.agent.v1.AgentService",
    "agentsuite.memory.v1.MemoryService",
    "agentsuite.tools.v1.ToolService",
    "grpc.health.v1.Health",
    V1,
    V1ALPHA,
]


def test_the_gateways_pool_has_the_public_services_and_none_of_the_runtimes_schemas():
    pool = served_pool(PUBLIC)

    agent_file = pool.FindFileContainingSymbol("agentsuite.agent.v1.AgentService")
    assert list(agent_file.services_by_name) == ["AgentService"]
    assert pool.FindMessageTypeByName("agentsuite.gateway.v1.RunEvent").fields_by_name["error"]
    assert pool.FindMessageTypeByName("agentsuite.common.v1.Message").fields_by_name["metadata"]
    for internal in (
        "agentsuite.agent.v1.AgentRuntime",
        "agentsuite.agent.v1.StepRequest",
        "agentsuite.common.v1.AgentEvent",
        "agentsuite.memory.v1.MemoryRuntime",
        "agentsuite.memory.v1.AppendMessagesRequest",
        "agentsuite.memory.v1.MessageInput",
        "agentsuite.tools.v1.ToolRuntime",
        "agentsuite.tools.v1.ExecuteRequest",
    ):
        with pytest.raises(KeyError):
            pool.FindFileContainingSymbol(internal)


def test_reflection_v1_is_described_with_the_same_messages_as_v1alpha():
    pool = served_pool(PUBLIC)

    v1 = pool.FindServiceByName(V1).methods_by_name["ServerReflectionInfo"]
    v1alpha = pool.FindServiceByName(V1ALPHA).methods_by_name["ServerReflectionInfo"]
    assert v1.input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"
    assert [f.name for f in v1.input_type.fields] == [f.name for f in v1alpha.input_type.fields]
    assert [f.number for f in v1.output_type.fields] == [f.number for f in v1alpha.output_type.fields]


def test_a_backends_pool_describes_its_internal_runtime_too():
    pool = served_pool(["agentsuite.agent.v1.AgentService", "agentsuite.agent.v1.AgentRuntime"])

    assert pool.FindServiceByName("agentsuite.agent.v1.AgentRuntime")
    assert pool.FindMessageTypeByName("agentsuite.common.v1.AgentEvent")
