"""One message end to end: client → gateway → agent → memory and the LLM → back, through real
processes, a real PostgreSQL and the fake OpenAI-compatible server over HTTP."""

from __future__ import annotations

import uuid

import grpc
import pytest
from e2e_client import create_agent, user
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc


async def test_a_message_gets_the_models_reply_and_history_lists_both_in_order(
    gateway, tenant, running_suite
):
    model = f"m-{uuid.uuid4().hex}"
    running_suite.llm.script(
        model, [{"content": "Hello from the fake model."}, {"content": "Second answer."}]
    )
    agent = await create_agent(gateway, tenant, model)
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    first = await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("hi there")]),
        metadata=tenant,
    )
    second = await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("and again")]),
        metadata=tenant,
    )

    assert first.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    assert [m.content for m in first.messages] == ["hi there", "Hello from the fake model."]
    assert [m.content for m in second.messages] == ["and again", "Second answer."]
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    history = await memory.ListMessages(
        memory_service_pb2.ListMessagesRequest(agent_id=agent.id), metadata=tenant
    )
    assert [(m.seq, m.role, m.content) for m in history.messages] == [
        (1, common_pb2.MESSAGE_ROLE_USER, "hi there"),
        (2, common_pb2.MESSAGE_ROLE_ASSISTANT, "Hello from the fake model."),
        (3, common_pb2.MESSAGE_ROLE_USER, "and again"),
        (4, common_pb2.MESSAGE_ROLE_ASSISTANT, "Second answer."),
    ]
    # The second call carried the first exchange as context, after the system prompt.
    sent = running_suite.llm.requests(model)[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"].startswith("You are terse.")


async def test_stream_message_streams_deltas_then_numbered_events_ending_with_the_finished_run(
    gateway, tenant, running_suite
):
    model = f"m-{uuid.uuid4().hex}"
    running_suite.llm.script(
        model, [{"content": "one two three four five six", "chunk_size": 4, "chunk_delay_ms": 5}]
    )
    agent = await create_agent(gateway, tenant, model)
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    events = [
        response.event
        async for response in conversation.StreamMessage(
            gateway_service_pb2.StreamMessageRequest(agent_id=agent.id, messages=[user("count")]),
            metadata=tenant,
        )
    ]

    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[:2] == ["queued", "started"]
    assert kinds[-1] == "finished"
    deltas = [event.assistant_delta.text for event in events if event.HasField("assistant_delta")]
    assert len(deltas) > 1
    assert "".join(deltas) == "one two three four five six"
    assert kinds.index("assistant_message") > max(
        i for i, kind in enumerate(kinds) if kind == "assistant_delta"
    )
    step_level = [event.seq for event in events if event.WhichOneof("event") != "assistant_delta"]
    assert step_level == list(range(1, len(step_level) + 1))
    assert len({event.run_id for event in events}) == 1
    finished = events[-1].finished.run
    assert finished.usage.total_tokens > 0
    assert finished.stop_reason == common_pb2.STOP_REASON_END_TURN


async def test_the_provider_is_retried_after_a_429_and_the_message_still_gets_its_reply(
    gateway, tenant, running_suite
):
    model = f"m-{uuid.uuid4().hex}"
    running_suite.llm.script(model, [{"error": {"status": 429, "times": 1}}, {"content": "after the retry"}])
    agent = await create_agent(gateway, tenant, model)
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    reply = await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("hello")]), metadata=tenant
    )

    assert reply.messages[-1].content == "after the retry"


async def test_a_failing_provider_stops_the_run_with_llm_error_and_keeps_the_users_message(
    gateway, tenant, running_suite
):
    model = f"m-{uuid.uuid4().hex}"
    running_suite.llm.script(model, [{"error": {"status": 400, "times": 1, "message": "bad model"}}])
    agent = await create_agent(gateway, tenant, model)
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    reply = await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("are you there?")]),
        metadata=tenant,
    )

    assert reply.run.stop_reason == common_pb2.STOP_REASON_LLM_ERROR
    assert [m.content for m in reply.messages] == ["are you there?"]


async def test_agents_are_persisted_and_listed(gateway, tenant):
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
    created = [await create_agent(gateway, tenant, "m", name=f"lister-{i}") for i in range(3)]

    fetched = await agents.GetAgent(
        agent_service_pb2.GetAgentRequest(agent_id=created[1].id), metadata=tenant
    )
    first_page = await agents.ListAgents(agent_service_pb2.ListAgentsRequest(page_size=2), metadata=tenant)
    second_page = await agents.ListAgents(
        agent_service_pb2.ListAgentsRequest(page_size=2, page_token=first_page.next_page_token),
        metadata=tenant,
    )

    assert fetched.agent.name == "lister-1"
    assert [a.id for a in (*first_page.agents, *second_page.agents)] == [a.id for a in created]
    assert second_page.next_page_token == ""


async def test_an_unknown_agent_answers_not_found_with_resource_info(gateway, tenant):
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)
    missing = str(uuid.uuid4())

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await conversation.SendMessage(
            gateway_service_pb2.SendMessageRequest(agent_id=missing, messages=[user("hello?")]),
            metadata=tenant,
        )

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = _detail(raised.value, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("agent", missing)


async def test_another_tenants_agent_is_not_found(gateway, tenant, running_suite):
    agent = await create_agent(gateway, tenant, "m")
    other_key = await running_suite.new_key(f"t-{uuid.uuid4().hex[:12]}")
    other = (("authorization", f"Bearer {other_key}"),)
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=agent.id), metadata=other)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_client_cannot_choose_its_tenant_with_the_internal_header(gateway, tenant, running_suite):
    agent = await create_agent(gateway, tenant, "m")
    other_key = await running_suite.new_key(f"t-{uuid.uuid4().hex[:12]}")
    sneaky = (("authorization", f"Bearer {other_key}"), ("x-agentsuite-tenant", "anything"))
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id=agent.id), metadata=sneaky)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer ags_not-a-key"),), (("authorization", "Basic abc"),)],
    ids=["no key", "unknown key", "wrong scheme"],
)
async def test_calls_without_a_valid_key_are_unauthenticated(gateway, metadata):
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    for call, request in (
        (agents.ListAgents, agent_service_pb2.ListAgentsRequest()),
        (conversation.SendMessage, gateway_service_pb2.SendMessageRequest(agent_id=str(uuid.uuid4()))),
        (conversation.GetRun, gateway_service_pb2.GetRunRequest(run_id=str(uuid.uuid4()))),  # not built yet
        (memory.GetBlock, memory_service_pb2.GetBlockRequest(block_id=str(uuid.uuid4()))),  # not built yet
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_malformed_request_is_invalid_argument_naming_each_bad_field(gateway, tenant):
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await conversation.SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=str(uuid.uuid4()),
                messages=[user(""), common_pb2.InputMessage(role=common_pb2.MESSAGE_ROLE_TOOL, content="x")],
            ),
            metadata=tenant,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in _detail(raised.value, error_details_pb2.BadRequest).field_violations}
    assert fields == {"messages[0].content", "messages[1].role"}


async def test_an_invalid_agent_definition_is_invalid_argument(gateway, tenant):
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await agents.CreateAgent(
            agent_service_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(name="", model=agent_pb2.ModelConfig(provider="nope"))
            ),
            metadata=tenant,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "agent.model.provider" in raised.value.details()


async def test_an_unknown_run_is_not_found_through_the_gateway(gateway, tenant):
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await conversation.GetRun(
            gateway_service_pb2.GetRunRequest(run_id=str(uuid.uuid4())), metadata=tenant
        )

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_internal_runtimes_are_not_reachable_through_the_gateway(gateway, tenant):
    runtime = agent_service_pb2_grpc.AgentRuntimeStub(gateway)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in runtime.Step(
            agent_service_pb2.StepRequest(agent_id=str(uuid.uuid4())), metadata=tenant
        ):
            pass

    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("service", ["gateway", "agent", "memory", "tools"])
async def test_every_service_reports_serving_on_the_health_protocol(running_suite, service):
    async with grpc.aio.insecure_channel(running_suite.backend_address(service)) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _detail(error: grpc.aio.AioRpcError, kind):
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            found = kind()
            detail.Unpack(found)
            return found
    raise AssertionError(f"no {kind.DESCRIPTOR.name} in the status details")
