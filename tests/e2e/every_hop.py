"""One conversation that crosses every hop of the suite, for tests that change how the hops are
made (PgBouncer in front of PostgreSQL, mutual TLS on every channel): through the gateway to the
agent service, a custom tool in the tools service, a core-memory edit and an archival insert and
search in memory, and a message to another agent back through the gateway."""

from __future__ import annotations

import uuid

from agentsuite.agent.v1 import agent_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.test_agent_loop import ADD_SOURCE


def _call(name: str, arguments: dict, call_id: str) -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


async def converse_across_every_hop(channel, auth, llm) -> None:
    """Run the conversation and check what each hop did; ``llm`` scripts the fake model."""
    tools = tools_service_pb2_grpc.ToolServiceStub(channel)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=ADD_SOURCE)), metadata=auth
        )
    ).tool
    model, answerer_model = f"hop-{uuid.uuid4().hex[:8]}", f"hop-{uuid.uuid4().hex[:8]}"
    blocks = (agent_pb2.BlockSpec(label="human", value="Nothing known yet."),)
    agent = await create_agent(channel, auth, model, blocks=blocks, tool_ids=[tool.id], name="hopper")
    answerer = await create_agent(channel, auth, answerer_model, name="answerer")
    llm.script(
        model,
        [
            {
                "tool_calls": [
                    _call("add", {"a": 2, "b": 3}, "c1"),
                    _call("core_memory_append", {"label": "human", "content": "Name: Ada."}, "c2"),
                    _call(
                        "archival_memory_insert", {"content": "The boat is Nautilus.", "tags": ["boat"]}, "c3"
                    ),
                ]
            },
            {
                "tool_calls": [
                    _call("archival_memory_search", {"query": "boat", "tags": ["boat"]}, "c4"),
                    _call(
                        "send_message_to_agent_and_wait_for_reply",
                        {"agent_id": answerer.id, "message": "ping?"},
                        "c5",
                    ),
                ]
            },
            {"content": "All done."},
        ],
    )
    llm.script(answerer_model, [{"content": "pong"}])

    conversation = gateway_service_pb2_grpc.ConversationServiceStub(channel)
    reply = await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("Go.")]),
        metadata=auth,
        timeout=60,
    )

    assert reply.run.stop_reason == common_pb2.STOP_REASON_END_TURN, reply.run
    results = {m.tool_call_id: m.content for m in reply.messages if m.role == common_pb2.MESSAGE_ROLE_TOOL}
    assert results["c1"] == "5"
    assert "Name: Ada." in results["c2"]
    assert results["c3"].startswith("Stored in archival memory")
    assert "The boat is Nautilus." in results["c4"]
    assert results["c5"] == "pong"
    memory = memory_service_pb2_grpc.MemoryServiceStub(channel)
    blocks = await memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent.id), metadata=auth)
    assert blocks.blocks[0].value == "Nothing known yet.\nName: Ada."
