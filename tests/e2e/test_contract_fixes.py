"""The contract's rough edges of issue 16 (item 4), through the gateway with real processes: a
Converse send is told apart by its send_id, busy refusals name the running run everywhere, a
SendMessage past its deadline names its run, a Struct value with no kind is refused, the comments of
the contract hold, every bad request reads "field: what is wrong", and reflection (v1 and v1alpha)
describes the public services only."""

from __future__ import annotations

import re

import grpc
import pytest
from google.protobuf import descriptor_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.run_checks import (
    ASSISTANT,
    CALL_TIMEOUT_S,
    USER,
    conversation,
    create_run,
    error_info,
    finished,
    get_run,
    history,
    model_name,
    wait_for_llm_requests,
    wait_for_run,
)
from tests.e2e.test_gateway_runs import read_until, refused

SLOW = {"content": "too slow to finish", "latency_ms": 4000}


def unpacked(details, kind):
    """The first detail of type ``kind`` among packed ``google.rpc`` details, or None."""
    for detail in details:
        message = kind()
        if detail.Unpack(message):
            return message
    return None


def bad_request(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest:
    status = rpc_status.from_call(error)
    found = unpacked(status.details if status else (), error_details_pb2.BadRequest)
    assert found is not None, f"no BadRequest in {error.code()} {error.details()!r}"
    return found


def open_request(agent_id: str) -> gateway_service_pb2.ConverseRequest:
    return gateway_service_pb2.ConverseRequest(open=gateway_service_pb2.ConverseOpen(agent_id=agent_id))


def send_request(send_id: str, text: str, **fields) -> gateway_service_pb2.ConverseRequest:
    send = gateway_service_pb2.ConverseSend(send_id=send_id, messages=[user(text)] if text else [], **fields)
    return gateway_service_pb2.ConverseRequest(send=send)


# -- Converse: send ids and error details ------------------------------------------------------------


async def test_converse_echoes_each_sends_id_on_every_event_and_error_it_causes(
    running_suite, gateway, tenant
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "first", "latency_ms": 600}, {"content": "second"}])
    stream = conversation(gateway).Converse(metadata=tenant, timeout=CALL_TIMEOUT_S)
    await stream.write(open_request(agent.id))
    await stream.write(send_request("send-a", "one"))
    await stream.write(send_request("send-b", "two"))  # queued behind send-a's run
    await stream.write(send_request("send-c", "", max_steps=-1))  # refused: no messages, bad steps
    await stream.write(send_request("send-d", "three", busy_policy=gateway_pb2.BUSY_POLICY_REJECT))
    responses = await read_until(
        stream,
        lambda r: r.send_id == "send-b" and r.HasField("event") and r.event.HasField("finished"),
        within=CALL_TIMEOUT_S,
    )
    await stream.done_writing()

    by_send: dict[str, list[gateway_pb2.RunEvent]] = {}
    for response in responses:
        assert response.HasField("event") and response.send_id, response
        by_send.setdefault(response.send_id, []).append(response.event)
    assert set(by_send) == {"send-a", "send-b", "send-c", "send-d"}
    for send_id in ("send-a", "send-b"):
        events = by_send[send_id]
        assert len({event.run_id for event in events}) == 1
        assert events[0].HasField("queued") and events[-1].HasField("finished")
    run_a, run_b = by_send["send-a"][0].run_id, by_send["send-b"][0].run_id
    assert run_a != run_b
    assert [m.content for m in await history(gateway, tenant, agent.id)] == ["one", "first", "two", "second"]

    (invalid,) = by_send["send-c"]
    assert invalid.run_id == "" and invalid.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    violations = unpacked(invalid.error.details, error_details_pb2.BadRequest).field_violations
    assert [v.field for v in violations] == ["messages"]

    (busy,) = by_send["send-d"]
    assert busy.error.code == grpc.StatusCode.ABORTED.value[0]
    info = unpacked(busy.error.details, error_details_pb2.ErrorInfo)
    assert info.reason == "AGENT_BUSY" and info.metadata["run_id"] in (run_a, run_b)


# -- busy refusals and deadlines name their run ------------------------------------------------------


async def test_busy_refusals_name_the_running_run_in_create_run_broadcast_and_a_full_queue(
    running_suite, gateway, tenant, replicas
):
    small_queue = await replicas.start(env={"AGENTSUITE_MAX_QUEUED_RUNS": "1"})
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [SLOW])
    running = await create_run(gateway, tenant, agent.id, "slow")
    await wait_for_llm_requests(running_suite.llm, model, 1)

    rejected = await refused(
        create_run(gateway, tenant, agent.id, "no", busy_policy=gateway_pb2.BUSY_POLICY_REJECT)
    )
    broadcast = conversation(gateway).Broadcast(
        gateway_service_pb2.BroadcastRequest(
            selector=gateway_pb2.AgentSelector(agent_ids=[agent.id]),
            messages=[user("all")],
            busy_policy=gateway_pb2.BUSY_POLICY_REJECT,
        ),
        metadata=tenant,
        timeout=CALL_TIMEOUT_S,
    )
    (result,) = [r.result async for r in broadcast if r.HasField("result")]
    async with grpc.aio.insecure_channel(small_queue.address) as channel:
        await create_run(channel, tenant, agent.id, "fills the queue")
        full = await refused(create_run(channel, tenant, agent.id, "one too many"))

    assert rejected.code() == grpc.StatusCode.ABORTED
    assert error_info(rejected).metadata["run_id"] == running.id
    assert result.error_code == grpc.StatusCode.ABORTED.value[0]
    info = unpacked(result.error_details, error_details_pb2.ErrorInfo)
    assert info.reason == "AGENT_BUSY" and info.metadata["run_id"] == running.id
    assert full.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(full).reason == "AGENT_QUEUE_FULL"
    assert error_info(full).metadata["run_id"] == running.id


async def test_send_message_past_its_deadline_names_the_run_that_goes_on(running_suite, gateway, tenant):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "late but done", "latency_ms": 5000}])

    late = await refused(
        conversation(gateway).SendMessage(
            gateway_service_pb2.SendMessageRequest(agent_id=agent.id, messages=[user("take your time")]),
            metadata=tenant,
            timeout=3,  # the gateway answers 0.3 s before it
        )
    )

    assert late.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    info = error_info(late)
    assert info.reason == "RUN_NOT_FINISHED", "the gateway's own answer, not the client's timer"
    run = await get_run(gateway, tenant, info.metadata["run_id"])
    assert run.agent_id == agent.id and run.input[0].content == "take your time"
    done = await wait_for_run(gateway, tenant, run.id, finished)
    assert done.status == gateway_pb2.RUN_STATUS_COMPLETED


# -- Struct values with no kind --------------------------------------------------------------------


def no_kind_metadata() -> struct_pb2.Struct:
    """{"ok": "x", "lost": <Value with no kind>}: what a JSON mapping unaware of the field names
    makes of {"lost": {"string_value": "y"}}."""
    metadata = struct_pb2.Struct()
    metadata.update({"ok": "x"})
    metadata.fields["lost"].SetInParent()
    return metadata


async def test_a_struct_value_with_no_kind_is_refused_naming_its_path_in_every_service(gateway, tenant):
    agent = await create_agent(gateway, tenant, model_name())
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    calls = {
        "messages[0].metadata['lost']": conversation(gateway).SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id,
                messages=[common_pb2.InputMessage(content="hi", metadata=no_kind_metadata())],
            ),
            metadata=tenant,
        ),
        "agent.metadata['lost']": agent_service_pb2_grpc.AgentServiceStub(gateway).CreateAgent(
            agent_service_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(name="n", metadata=no_kind_metadata())
            ),
            metadata=tenant,
        ),
        "block.metadata['lost']": memory.CreateBlock(
            memory_service_pb2.CreateBlockRequest(
                block=memory_pb2.Block(label="l", value="v", metadata=no_kind_metadata())
            ),
            metadata=tenant,
        ),
        "passages[0].metadata['lost']": memory.InsertPassages(
            memory_service_pb2.InsertPassagesRequest(
                archive_id=agent.archive_id,
                passages=[memory_pb2.PassageInput(text="t", metadata=no_kind_metadata())],
            ),
            metadata=tenant,
        ),
        "tool.json_schema['lost']": tools_service_pb2_grpc.ToolServiceStub(gateway).CreateTool(
            tools_service_pb2.CreateToolRequest(
                tool=tools_pb2.Tool(source_code="def f():\n    'F.'\n", json_schema=no_kind_metadata())
            ),
            metadata=tenant,
        ),
    }
    for path, call in calls.items():
        error = await refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, path
        assert [v.field for v in bad_request(error).field_violations] == [path]
    assert await history(gateway, tenant, agent.id) == [], "nothing was stored"


# -- what the comments say -------------------------------------------------------------------------


async def test_the_contract_comments_hold_for_roles_status_filters_and_persisted_messages(
    running_suite, gateway, tenant
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    unspecified = common_pb2.InputMessage(content="no role given")  # InputMessage.role: USER
    stream = conversation(gateway).StreamMessage(
        gateway_service_pb2.StreamMessageRequest(agent_id=agent.id, messages=[unspecified]),
        metadata=tenant,
        timeout=CALL_TIMEOUT_S,
    )
    events = [response.event async for response in stream]
    assistant_role = await refused(
        conversation(gateway).SendMessage(
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id,
                messages=[common_pb2.InputMessage(role=ASSISTANT, content="as if I were you")],
            ),
            metadata=tenant,
        )
    )
    unspecified_filter = await refused(
        conversation(gateway).ListRuns(
            gateway_service_pb2.ListRunsRequest(statuses=[gateway_pb2.RUN_STATUS_UNSPECIFIED]),
            metadata=tenant,
        )
    )
    unspecified_role_filter = await refused(
        memory_service_pb2_grpc.MemoryServiceStub(gateway).ListMessages(
            memory_service_pb2.ListMessagesRequest(
                agent_id=agent.id, roles=[USER, common_pb2.MESSAGE_ROLE_UNSPECIFIED]
            ),
            metadata=tenant,
        )
    )

    stored = await history(gateway, tenant, agent.id)
    assert [(m.role, m.content) for m in stored] == [
        (USER, "no role given"),
        (ASSISTANT, "echo: no role given"),
    ]
    # message_persisted and assistant_message together tell each stored message exactly once.
    told = [
        getattr(event, kind)
        for event in events
        if (kind := event.WhichOneof("event")) in ("message_persisted", "assistant_message")
    ]
    assert [(m.seq, m.role) for m in told] == [(m.seq, m.role) for m in stored]
    assert all(e.message_persisted.role != ASSISTANT for e in events if e.HasField("message_persisted"))
    assert assistant_role.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert unspecified_filter.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in bad_request(unspecified_filter).field_violations] == ["statuses[0]"]
    assert [v.field for v in bad_request(unspecified_role_filter).field_violations] == ["roles[1]"]


# -- one phrasing for every error message ----------------------------------------------------------

FIELD_PATH = r"[a-z_][a-z0-9_]*(?:\[[^\]]+\]|\.[a-z_][a-z0-9_]*)*"
ONE_VIOLATION = re.compile(rf"({FIELD_PATH}): ([a-z0-9'(\"].*)")


async def test_every_bad_request_reads_field_colon_what_is_wrong_in_every_service(gateway, tenant):
    """The message is the field violations themselves, "field: what is wrong" joined by "; ", for
    the gateway's own checks, the edge's, and each backend's."""
    agents = agent_service_pb2_grpc.AgentServiceStub(gateway)
    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    tools = tools_service_pb2_grpc.ToolServiceStub(gateway)
    runs = conversation(gateway)
    calls = [
        runs.SendMessage(gateway_service_pb2.SendMessageRequest(agent_id="nope"), metadata=tenant),
        runs.SendMessage(
            gateway_service_pb2.SendMessageRequest(agent_id="x\x00", busy_policy=9), metadata=tenant
        ),
        runs.ListRuns(gateway_service_pb2.ListRunsRequest(page_token="forged"), metadata=tenant),
        runs.GetRun(gateway_service_pb2.GetRunRequest(), metadata=tenant),
        agents.CreateAgent(agent_service_pb2.CreateAgentRequest(agent=agent_pb2.Agent()), metadata=tenant),
        agents.ListAgents(agent_service_pb2.ListAgentsRequest(page_size=-1), metadata=tenant),
        memory.CreateBlock(memory_service_pb2.CreateBlockRequest(block=memory_pb2.Block()), metadata=tenant),
        memory.SearchMessages(memory_service_pb2.SearchMessagesRequest(agent_id="a"), metadata=tenant),
        tools.CreateTool(
            tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(source_code="x = 1")), metadata=tenant
        ),
        tools.SetSecret(tools_service_pb2.SetSecretRequest(name="1 bad"), metadata=tenant),
    ]
    for call in calls:
        error = await refused(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        violations = bad_request(error).field_violations
        assert error.details() == "; ".join(f"{v.field}: {v.description}" for v in violations)
        for violation in violations:
            assert ONE_VIOLATION.fullmatch(f"{violation.field}: {violation.description}"), violation
            assert not violation.description.endswith("."), violation


async def test_every_other_error_message_is_one_lowercase_statement_naming_its_subject(
    running_suite, gateway, tenant
):
    """The same phrasing for the other codes: the subject first, what is wrong after, in one
    lowercase statement without a final period or a prefix such as "refused:"."""
    agent = await create_agent(gateway, tenant, model_name())
    runs = conversation(gateway)
    missing = "00000000-0000-4000-8000-000000000000"
    calls = [
        runs.GetRun(gateway_service_pb2.GetRunRequest(run_id=missing), metadata=tenant),  # NOT_FOUND
        runs.SendMessage(  # FAILED_PRECONDITION: nothing awaits approval
            gateway_service_pb2.SendMessageRequest(
                agent_id=agent.id, approvals=[common_pb2.ToolApproval(tool_call_id="c", approve=True)]
            ),
            metadata=tenant,
        ),
        runs.GetRun(gateway_service_pb2.GetRunRequest(run_id=missing)),  # UNAUTHENTICATED
        memory_service_pb2_grpc.MemoryServiceStub(gateway).GetBlock(
            memory_service_pb2.GetBlockRequest(block_id=missing), metadata=tenant
        ),
    ]
    codes = []
    for call in calls:
        error = await refused(call)
        codes.append(error.code())
        message = error.details()
        assert re.fullmatch(r"[a-z][^\n]*[^.]", message), message
        assert not message.startswith(("refused", "invalid request", "error")), message
    assert codes == [
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.NOT_FOUND,
    ]


# -- reflection --------------------------------------------------------------------------------------


async def reflect(channel, request: reflection_pb2.ServerReflectionRequest, *, v1: bool):
    """One reflection answer, asked over grpc.reflection.v1 (same messages) or v1alpha."""
    service = "grpc.reflection.v1.ServerReflection" if v1 else "grpc.reflection.v1alpha.ServerReflection"
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(iter([request]), timeout=CALL_TIMEOUT_S)
    (response,) = [response async for response in call]
    return response


@pytest.mark.parametrize("v1", [True, False], ids=["v1", "v1alpha"])
async def test_reflection_describes_the_public_services_and_nothing_internal(running_suite, v1):
    async with grpc.aio.insecure_channel(running_suite.address) as channel:
        listed = await reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""), v1=v1)
        agent_file = await reflect(
            channel,
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="agentsuite.agent.v1.AgentService"),
            v1=v1,
        )
        runtime = await reflect(
            channel,
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="agentsuite.agent.v1.AgentRuntime"),
            v1=v1,
        )
    async with grpc.aio.insecure_channel(running_suite.backend_address("agent")) as channel:
        backend = await reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""), v1=v1)

    names = {service.name for service in listed.list_services_response.service}
    assert names == {
        "agentsuite.gateway.v1.ConversationService",
        "agentsuite.agent.v1.AgentService",
        "agentsuite.memory.v1.MemoryService",
        "agentsuite.tools.v1.ToolService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    files = {
        (proto := descriptor_pb2.FileDescriptorProto.FromString(data)).name: proto
        for data in agent_file.file_descriptor_response.file_descriptor_proto
    }
    described = {
        f"{proto.package}.{item.name}"
        for proto in files.values()
        for item in [*proto.service, *proto.message_type]
    }
    assert "agentsuite.agent.v1.CreateAgentRequest" in described
    internal = {"AgentRuntime", "StepRequest", "StepResponse", "AgentEvent", "StopInfo"}
    assert not {name.rsplit(".", 1)[1] for name in described} & internal
    assert runtime.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "agentsuite.agent.v1.AgentRuntime" in {s.name for s in backend.list_services_response.service}
