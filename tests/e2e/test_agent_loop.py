"""The agent loop across real processes: the fake OpenAI server scripts the model, and every tool goes
through the real service behind it (memory edits, archival and recall in memory, custom tools in the
sandbox, agent messaging back through the gateway's lanes)."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.e2e_client import create_agent, user

ADD_SOURCE = '''
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b
'''


def model_name() -> str:
    return f"loop-{uuid.uuid4().hex[:10]}"


def call(name: str, arguments: dict, call_id: str = "call_1") -> dict:
    return {"id": call_id, "name": name, "arguments": arguments}


async def send(gateway, auth, agent_id: str, text: str) -> gateway_service_pb2.SendMessageResponse:
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)
    request = gateway_service_pb2.SendMessageRequest(agent_id=agent_id, messages=[user(text)])
    return await conversation.SendMessage(request, metadata=auth, timeout=60)


def tool_results(response) -> list[common_pb2.Message]:
    return [m for m in response.messages if m.role == common_pb2.MESSAGE_ROLE_TOOL]


async def test_a_core_memory_edit_lands_in_memory_and_in_the_next_steps_prompt(
    gateway, tenant, running_suite
):
    model = model_name()
    blocks = (agent_pb2.BlockSpec(label="human", value="Nothing known yet."),)
    agent = await create_agent(gateway, tenant, model, blocks=blocks)
    running_suite.llm.script(
        model,
        [
            {"tool_calls": [call("core_memory_append", {"label": "human", "content": "Name: Ada."})]},
            {"content": "Hello Ada."},
        ],
    )

    response = await send(gateway, tenant, agent.id, "I am Ada.")

    assert response.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    (result,) = tool_results(response)
    assert "Name: Ada." in result.content
    first, second = running_suite.llm.requests(model)
    assert "Name: Ada." not in first["messages"][0]["content"]
    assert "Name: Ada." in second["messages"][0]["content"]
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    listed = await memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent.id), metadata=tenant)
    assert listed.blocks[0].value == "Nothing known yet.\nName: Ada."


async def test_recall_and_archival_searches_find_what_was_said_and_stored(gateway, tenant, running_suite):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(
        model,
        [
            {"content": "Noted."},
            {
                "tool_calls": [
                    call(
                        "archival_memory_insert", {"content": "The boat is named Nautilus.", "tags": ["boat"]}
                    )
                ]
            },
            {"content": "Stored."},
            {
                "tool_calls": [
                    call("conversation_search", {"query": "teal"}, "c1"),
                    call("archival_memory_search", {"query": "boat name", "tags": ["boat"]}, "c2"),
                ]
            },
            {"content": "Teal, and the Nautilus."},
        ],
    )

    await send(gateway, tenant, agent.id, "My favourite colour is teal.")
    stored = await send(gateway, tenant, agent.id, "Remember my boat.")
    found = await send(gateway, tenant, agent.id, "What do you know?")

    assert tool_results(stored)[0].content.startswith("Stored in archival memory")
    recall, archival = tool_results(found)
    assert "My favourite colour is teal." in recall.content
    assert "The boat is named Nautilus." in archival.content and "tags: boat" in archival.content


async def test_a_custom_tool_runs_in_the_sandbox_and_its_result_feeds_the_next_step(
    gateway, tenant, running_suite
):
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code=ADD_SOURCE)), metadata=tenant
        )
    ).tool
    model = model_name()
    agent = await create_agent(gateway, tenant, model, tool_ids=[tool.id])
    running_suite.llm.script(model, [{"tool_calls": [call("add", {"a": 2, "b": 3})]}, {"content": "Five."}])

    response = await send(gateway, tenant, agent.id, "2+3?")

    (result,) = tool_results(response)
    assert (result.name, result.content) == ("add", "5")
    offered = running_suite.llm.requests(model)[0]["tools"]
    assert "add" in [t["function"]["name"] for t in offered]
    assert running_suite.llm.requests(model)[1]["messages"][-1]["content"] == "5"


async def test_an_agent_asks_another_through_the_gateway_and_gets_its_reply(gateway, tenant, running_suite):
    asker_model, answerer_model = model_name(), model_name()
    asker = await create_agent(gateway, tenant, asker_model, name="asker")
    answerer = await create_agent(gateway, tenant, answerer_model, name="answerer")
    running_suite.llm.script(
        asker_model,
        [
            {
                "tool_calls": [
                    call(
                        "send_message_to_agent_and_wait_for_reply",
                        {"agent_id": answerer.id, "message": "ping?"},
                    )
                ]
            },
            {"content": "They said pong."},
        ],
    )
    running_suite.llm.script(answerer_model, [{"content": "pong"}])

    response = await send(gateway, tenant, asker.id, "Ask the other agent.")

    (result,) = tool_results(response)
    assert result.content == "pong"
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    history = await memory.ListMessages(
        memory_service_pb2.ListMessagesRequest(agent_id=answerer.id), metadata=tenant
    )
    heard = history.messages[0]
    assert (heard.content, heard.name) == ("ping?", f"agent-{asker.id}")


async def test_a_cycle_a_to_b_to_a_is_refused_instead_of_deadlocking(gateway, tenant, running_suite):
    a_model, b_model = model_name(), model_name()
    a = await create_agent(gateway, tenant, a_model, name="a")
    b = await create_agent(gateway, tenant, b_model, name="b")
    running_suite.llm.script(
        a_model,
        [
            {
                "tool_calls": [
                    call("send_message_to_agent_and_wait_for_reply", {"agent_id": b.id, "message": "hi b"})
                ]
            },
            {"content": "done"},
        ],
    )
    running_suite.llm.script(
        b_model,
        [
            {
                "tool_calls": [
                    call("send_message_to_agent_and_wait_for_reply", {"agent_id": a.id, "message": "hi a"})
                ]
            },
            {"content": "could not ask a"},
        ],
    )

    response = await send(gateway, tenant, a.id, "start")

    assert response.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    assert tool_results(response)[0].content == "could not ask a"
    b_request = running_suite.llm.requests(b_model)[1]["messages"][-1]
    assert b_request["role"] == "tool" and "deadlock" in b_request["content"]


async def test_broadcast_to_tagged_agents_collects_every_reply(gateway, tenant, running_suite):
    lead_model = model_name()
    lead = await create_agent(gateway, tenant, lead_model, name="lead")
    tag = f"team-{uuid.uuid4().hex[:6]}"
    members = []
    for index in range(3):
        member_model = model_name()
        members.append(await create_agent(gateway, tenant, member_model, name=f"m{index}", tags=[tag]))
        running_suite.llm.script(member_model, [{"content": f"member {index} here"}])
    running_suite.llm.script(
        lead_model,
        [
            {
                "tool_calls": [
                    call("send_message_to_agents_matching_tags", {"tags": [tag], "message": "roll call"})
                ]
            },
            {"content": "All here."},
        ],
    )

    response = await send(gateway, tenant, lead.id, "Roll call.")

    replies = json.loads(tool_results(response)[0].content)
    assert sorted(r["reply"] for r in replies) == ["member 0 here", "member 1 here", "member 2 here"]
    assert {r["agent_id"] for r in replies} == {m.id for m in members}


@pytest.fixture
async def tenant_id(running_suite):
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    return tenant, (("authorization", f"Bearer {await running_suite.new_key(tenant)}"),)


async def test_approval_round_trip_on_the_runtime(gateway, tenant_id, running_suite):
    tenant, auth = tenant_id
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    tool = (
        await tools.CreateTool(
            tools_service_pb2.CreateToolRequest(
                tool=tools_pb2.Tool(source_code=ADD_SOURCE, requires_approval=True)
            ),
            metadata=auth,
        )
    ).tool
    model = model_name()
    agent = await create_agent(gateway, auth, model, tool_ids=[tool.id])
    running_suite.llm.script(model, [{"tool_calls": [call("add", {"a": 1, "b": 1})]}, {"content": "Two."}])
    run_id = str(uuid.uuid4())
    internal = (("x-agentsuite-tenant", tenant),)

    async with grpc.aio.insecure_channel(running_suite.backend_address("agent")) as channel:
        runtime = agent_service_pb2_grpc.AgentRuntimeStub(channel)
        first = [
            r.event
            async for r in runtime.Step(
                agent_service_pb2.StepRequest(agent_id=agent.id, run_id=run_id, input=[user("1+1?")]),
                metadata=internal,
            )
        ]
        (asked,) = [e.approval_request for e in first if e.HasField("approval_request")]
        assert first[-1].stop.reason == common_pb2.STOP_REASON_APPROVAL_REQUIRED

        second = [
            r.event
            async for r in runtime.Step(
                agent_service_pb2.StepRequest(
                    agent_id=agent.id,
                    run_id=run_id,
                    approvals=[common_pb2.ToolApproval(tool_call_id=asked.tool_call.id, approve=True)],
                ),
                metadata=internal,
            )
        ]

    (returned,) = [e.tool_return for e in second if e.HasField("tool_return")]
    assert (returned.content, returned.status) == ("2", common_pb2.TOOL_RETURN_STATUS_OK)
    assert second[-1].stop.reason == common_pb2.STOP_REASON_END_TURN


async def test_a_long_conversation_is_summarised_and_stays_coherent(gateway, tenant, running_suite):
    model = model_name()
    agent = await create_agent(gateway, tenant, model, context_window=3000)
    for index in range(12):
        running_suite.llm.script(model, [{"content": f"Noted fact {index}."}])
        await send(
            gateway, tenant, agent.id, f"Fact {index}: the code word is word{index}. " + "filler " * 80
        )
    summarised = [r for r in running_suite.llm.requests(model) if not r.get("stream")]
    assert summarised, "the context passed the threshold and was summarised"
    assert "word0" in json.dumps(summarised[0]["messages"])

    running_suite.llm.script(model, [{"content": "The first code word was word0."}])
    response = await send(gateway, tenant, agent.id, "What was the first code word?")

    last = running_suite.llm.requests(model)[-1]["messages"]
    assert "<summary_of_earlier_conversation>" in last[0]["content"]
    assert "Fact 0:" not in json.dumps(last[1:]), "the oldest messages left the context"
    assert last[-1]["content"] == "What was the first code word?"
    assert response.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    count = await memory.CountMessages(
        memory_service_pb2.CountMessagesRequest(agent_id=agent.id), metadata=tenant
    )
    assert count.count == 26, "evicted messages stay in recall"


async def test_a_message_sent_without_waiting_is_accepted_and_answered_later(gateway, tenant, running_suite):
    sender_model, target_model = model_name(), model_name()
    sender = await create_agent(gateway, tenant, sender_model, name="sender")
    target = await create_agent(gateway, tenant, target_model, name="target")
    running_suite.llm.script(
        sender_model,
        [
            {"tool_calls": [call("send_message_to_agent_async", {"agent_id": target.id, "message": "FYI"})]},
            {"content": "Told them."},
        ],
    )
    running_suite.llm.script(target_model, [{"content": "thanks", "latency_ms": 300}])

    response = await send(gateway, tenant, sender.id, "Tell the other agent.")

    (result,) = tool_results(response)
    assert result.content.startswith("Message accepted (run ")
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    request = memory_service_pb2.ListMessagesRequest(agent_id=target.id)
    for _ in range(50):  # the target answers on its own time, after the sender's run ended
        history = await memory.ListMessages(request, metadata=tenant)
        if len(history.messages) == 2:
            break
        await asyncio.sleep(0.1)
    assert [m.content for m in history.messages] == ["FYI", "thanks"]


async def test_what_a_capped_context_read_leaves_out_is_summarised_through_real_memory(
    gateway, tenant, running_suite
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    for index in range(52):  # 104 messages: past the suite's cap of 100 per context read
        await send(gateway, tenant, agent.id, f"Fact {index}.")

    summary_calls = [r for r in running_suite.llm.requests(model) if not r.get("stream")]
    assert len(summary_calls) == 1
    assert "Fact 0." in json.dumps(summary_calls[0]["messages"])
    last = running_suite.llm.requests(model)[-1]["messages"]
    assert "<summary_of_earlier_conversation>" in last[0]["content"]
    assert "Fact 0." not in json.dumps(last[1:])
