"""Small helpers the end-to-end tests share for talking to the suite through the gateway."""

from __future__ import annotations

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2


async def create_agent(
    channel,
    auth,
    model: str,
    *,
    blocks: tuple[agent_pb2.BlockSpec, ...] = (),
    context_window: int = 0,
    **fields,
) -> agent_pb2.Agent:
    """Create an agent on the OpenAI-compatible (fake) provider with ``model``."""
    agents = agent_service_pb2_grpc.AgentServiceStub(channel)
    request = agent_service_pb2.CreateAgentRequest(
        memory_blocks=blocks,
        agent=agent_pb2.Agent(
            name=fields.pop("name", "e2e"),
            system_prompt="You are terse.",
            model=agent_pb2.ModelConfig(provider="openai", model=model, context_window=context_window),
            **fields,
        ),
    )
    return (await agents.CreateAgent(request, metadata=auth)).agent


def user(text: str) -> common_pb2.InputMessage:
    """A user message to send."""
    return common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_USER, content=text)
