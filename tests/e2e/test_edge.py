"""The edge through the real gateway: requests no handler should ever see are refused with
INVALID_ARGUMENT (and a BadRequest naming the field) before they reach a handler or the database,
whichever public method they are sent to and however they are broken; internal fields are not the
clients' to set; a tool's result is stored whatever bytes it holds."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from google.protobuf import descriptor_pool, struct_pb2
from google.protobuf.descriptor import Descriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2
from services.common.paging import encode_token
from tests.e2e.e2e_client import create_agent
from tests.e2e.edge_fuzz import delimited as field
from tests.e2e.run_checks import CALL_TIMEOUT_S, conversation, model_name, send

INVALID = grpc.StatusCode.INVALID_ARGUMENT
GATEWAY = "/agentsuite.gateway.v1.ConversationService/"
AGENTS = "/agentsuite.agent.v1.AgentService/"
MEMORY = "/agentsuite.memory.v1.MemoryService/"
TOOLS = "/agentsuite.tools.v1.ToolService/"
LEAKS = ("Traceback", "<class", "Error parsing", "[SQL", "sqlalchemy", "asyncpg", "DecodeError")


def nested_struct(depth: int) -> bytes:
    """A google.protobuf.Struct nested ``depth`` levels deep: {"k": {"k": ... {}}}."""
    struct = b""
    for _ in range(depth):
        value = field(5, struct)  # Value.struct_value
        struct = field(1, field(1, b"k") + field(2, value))  # Struct.fields entry
    return struct


def with_bad_utf8(message: Descriptor, depth: int = 0) -> bytes | None:
    """A ``message`` whose first string field (at any depth) holds bytes that are not UTF-8."""
    for candidate in message.fields:
        if candidate.type == candidate.TYPE_STRING:
            return field(candidate.number, b"\xc3\x28\xff")
        if candidate.type == candidate.TYPE_MESSAGE and depth < 3:
            inner = with_bad_utf8(candidate.message_type, depth + 1)
            if inner is not None:
                return field(candidate.number, inner)
    return None


def undecodable(path: str) -> dict[str, bytes]:
    method = descriptor_pool.Default().FindMethodByName(path.strip("/").replace("/", "."))
    return {
        "garbage": b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        "truncated": field(1, b"0123456789")[:-4],
        "bad UTF-8 in a string field": with_bad_utf8(method.input_type),
    }


BROKEN = list(undecodable(AGENTS + "ListAgents"))


async def raw_unary(channel, path: str, payload: bytes, auth) -> grpc.aio.AioRpcError | None:
    try:
        await channel.unary_unary(path)(payload, metadata=auth, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def raw_stream(channel, path: str, payload: bytes, auth) -> grpc.aio.AioRpcError | None:
    try:
        async for _ in channel.unary_stream(path)(payload, metadata=auth, timeout=CALL_TIMEOUT_S):
            pass
    except grpc.aio.AioRpcError as error:
        return error
    return None


async def raw_converse(
    channel, payloads: list[bytes], auth
) -> tuple[list[bytes], grpc.aio.AioRpcError | None]:
    call = channel.stream_stream(GATEWAY + "Converse")(iter(payloads), metadata=auth, timeout=CALL_TIMEOUT_S)
    responses = []
    try:
        async for response in call:
            responses.append(response)
    except grpc.aio.AioRpcError as error:
        return responses, error
    return responses, None


def assert_refused(error: grpc.aio.AioRpcError | None, *fields: str) -> None:
    """INVALID_ARGUMENT, nothing internal in the message, and (when named) a BadRequest listing each
    of ``fields``."""
    assert error is not None, "the call succeeded"
    assert error.code() == INVALID, f"{error.code()}: {error.details()}"
    assert not any(leak in (error.details() or "") for leak in LEAKS), error.details()
    if fields:
        assert set(fields) <= set(violations(error)), violations(error)


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [violation.field for violation in bad_request.field_violations]
    return found


# -- bytes that are not a request ---------------------------------------------------------------


@pytest.mark.parametrize("broken", BROKEN)
@pytest.mark.parametrize(
    "path", [AGENTS + "ListAgents", MEMORY + "ListBlocks", TOOLS + "ListTools", GATEWAY + "GetRun"]
)
async def test_bytes_that_do_not_decode_are_invalid_argument_on_unary_methods(gateway, tenant, path, broken):
    assert_refused(await raw_unary(gateway, path, undecodable(path)[broken], tenant))


@pytest.mark.parametrize("broken", BROKEN)
@pytest.mark.parametrize("method", ["StreamMessage", "WatchRun", "Broadcast"])
async def test_bytes_that_do_not_decode_are_invalid_argument_on_streaming_methods(
    gateway, tenant, method, broken
):
    path = GATEWAY + method
    assert_refused(await raw_stream(gateway, path, undecodable(path)[broken], tenant))


@pytest.mark.parametrize("broken", BROKEN)
async def test_bytes_that_do_not_decode_end_a_conversation_with_invalid_argument(gateway, tenant, broken):
    payload = undecodable(GATEWAY + "Converse")[broken]
    _, first = await raw_converse(gateway, [payload], tenant)
    assert_refused(first)

    agent = await create_agent(gateway, tenant, model_name())
    opening = gateway_service_pb2.ConverseRequest(open=gateway_service_pb2.ConverseOpen(agent_id=agent.id))
    ping = gateway_service_pb2.ConverseRequest(ping=gateway_service_pb2.ConversePing(nonce=7))
    responses, later = await raw_converse(
        gateway, [opening.SerializeToString(), ping.SerializeToString(), payload], tenant
    )
    assert_refused(later)
    pong = gateway_service_pb2.ConverseResponse.FromString(responses[0])
    assert pong.pong.nonce == 7, "what came before the bad message was answered"


async def test_nesting_deeper_than_protobufs_limit_is_invalid_argument(gateway, tenant):
    # InputMessage.metadata (4) in SendMessageRequest.messages (2): 150 levels of Struct.
    message = field(2, b"x") + field(4, nested_struct(150))
    request = field(1, str(uuid.uuid4()).encode()) + field(2, message)
    assert_refused(await raw_unary(gateway, GATEWAY + "SendMessage", request, tenant))
    assert_refused(await raw_stream(gateway, GATEWAY + "StreamMessage", request, tenant))
    # Block.metadata (7) in CreateBlockRequest.block (1), through the forwarder.
    block = field(2, b"label") + field(7, nested_struct(150))
    assert_refused(await raw_unary(gateway, MEMORY + "CreateBlock", field(1, block), tenant))


async def test_struct_metadata_nested_past_the_json_depth_limit_is_refused_naming_the_field(gateway, tenant):
    request = field(1, field(2, b"label") + field(7, nested_struct(40)))
    assert_refused(await raw_unary(gateway, MEMORY + "CreateBlock", request, tenant))


# -- values no service can store ------------------------------------------------------------------


@pytest.fixture
async def agent(gateway, tenant):
    """An agent with memory (blocks, an archive) and a message, so requests reach the database."""
    human = agent_pb2.BlockSpec(label="human", value="Ada")
    created = await create_agent(gateway, tenant, model_name(), blocks=(human,))
    await send(gateway, tenant, created.id, "hello")
    return created


async def archive_of(gateway, tenant, agent_id: str) -> str:
    request = memory_service_pb2.ListArchivesRequest(agent_id=agent_id)
    response = await raw_call(gateway, MEMORY + "ListArchives", request, tenant)
    return memory_service_pb2.ListArchivesResponse.FromString(response).archives[0].id


async def raw_call(channel, path: str, request, auth) -> bytes:
    return await channel.unary_unary(path)(request.SerializeToString(), metadata=auth, timeout=CALL_TIMEOUT_S)


async def block_of(gateway, tenant, agent_id: str) -> memory_pb2.Block:
    request = memory_service_pb2.ListBlocksRequest(agent_id=agent_id)
    response = await raw_call(gateway, MEMORY + "ListBlocks", request, tenant)
    return memory_service_pb2.ListBlocksResponse.FromString(response).blocks[0]


def nul_requests(agent_id: str, archive_id: str, block_id: str) -> list[tuple[str, object, str]]:
    """(path, request, the field named) of every kind of string the issue saw reach PostgreSQL."""
    passage = memory_pb2.PassageInput(text="text", tags=["a\x00b"])
    meta = struct_pb2.Struct()
    meta.update({"k": "v\x00"})
    return [
        (
            MEMORY + "ListBlocks",
            memory_service_pb2.ListBlocksRequest(agent_id=agent_id, label="l\x00"),
            "label",
        ),
        (MEMORY + "ListBlocks", memory_service_pb2.ListBlocksRequest(page_token="\x00"), "page_token"),
        (TOOLS + "ListTools", tools_service_pb2.ListToolsRequest(name="n\x00"), "name"),
        (TOOLS + "ListTools", tools_service_pb2.ListToolsRequest(tags=["t\x00"]), "tags[0]"),
        (TOOLS + "DeleteSecret", tools_service_pb2.DeleteSecretRequest(name="S\x00"), "name"),
        (
            MEMORY + "SearchPassages",
            memory_service_pb2.SearchPassagesRequest(archive_id=archive_id, query="q\x00"),
            "query",
        ),
        (
            MEMORY + "SearchMessages",
            memory_service_pb2.SearchMessagesRequest(agent_id=agent_id, query="hello\x00"),
            "query",
        ),
        (
            MEMORY + "EditBlock",
            memory_service_pb2.EditBlockRequest(agent_id=agent_id, label="h\x00uman"),
            "label",
        ),
        (
            MEMORY + "CreateBlock",
            memory_service_pb2.CreateBlockRequest(block=memory_pb2.Block(label="x\x00", value="v")),
            "block.label",
        ),
        (
            MEMORY + "UpdateBlock",
            memory_service_pb2.UpdateBlockRequest(block=memory_pb2.Block(id=block_id, metadata=meta)),
            "block.metadata['k']",
        ),
        (
            MEMORY + "InsertPassages",
            memory_service_pb2.InsertPassagesRequest(archive_id=archive_id, passages=[passage]),
            "passages[0].tags[0]",
        ),
        (
            AGENTS + "ListAgents",
            agent_service_pb2.ListAgentsRequest(tags=["t\x00"]),
            "tags[0]",
        ),
    ]


async def test_nul_characters_in_any_string_field_are_invalid_argument_naming_the_field(
    gateway, tenant, agent
):
    archive_id = await archive_of(gateway, tenant, agent.id)
    block = await block_of(gateway, tenant, agent.id)
    for path, request, field_name in nul_requests(agent.id, archive_id, block.id):
        error = await raw_unary(gateway, path, request.SerializeToString(), tenant)
        assert_refused(error, field_name)


async def test_times_and_durations_outside_protobufs_range_are_invalid_argument(gateway, tenant, agent):
    archive_id = await archive_of(gateway, tenant, agent.id)
    after_9999 = memory_service_pb2.SearchMessagesRequest(agent_id=agent.id, query="hello")
    after_9999.start_time.seconds = 253_402_300_800
    negative_nanos = memory_service_pb2.SearchMessagesRequest(agent_id=agent.id, query="hello")
    negative_nanos.end_time.nanos = -1
    far_end = memory_service_pb2.SearchPassagesRequest(archive_id=archive_id, query="hello")
    far_end.end_time.seconds = 2**62
    passage = memory_pb2.PassageInput(text="a passage")
    passage.create_time.seconds = 253_402_300_800
    insert = memory_service_pb2.InsertPassagesRequest(archive_id=archive_id, passages=[passage])
    tool = tools_pb2.Tool(source_code='def f() -> int:\n    """F."""\n    return 1\n')
    tool.timeout.seconds = 2**62
    cases = [
        (MEMORY + "SearchMessages", after_9999, "start_time"),
        (MEMORY + "SearchMessages", negative_nanos, "end_time"),
        (MEMORY + "SearchPassages", far_end, "end_time"),
        (MEMORY + "InsertPassages", insert, "passages[0].create_time"),
        (TOOLS + "CreateTool", tools_service_pb2.CreateToolRequest(tool=tool), "tool.timeout"),
    ]
    for path, request, field_name in cases:
        assert_refused(await raw_unary(gateway, path, request.SerializeToString(), tenant), field_name)


@pytest.mark.parametrize(
    "token",
    [
        encode_token({"seq": 2**70}),
        encode_token({"seq": -(2**70)}),
        encode_token({"seq": 1, "x": "\x00"}),
        "bm90IGpzb24",  # "not json"
        "!!!",
        encode_token({"seq": float("nan")}),
    ],
)
async def test_page_tokens_that_this_service_did_not_issue_are_invalid_argument(
    gateway, tenant, agent, token
):
    request = memory_service_pb2.ListMessagesRequest(agent_id=agent.id, page_token=token)
    assert_refused(
        await raw_unary(gateway, MEMORY + "ListMessages", request.SerializeToString(), tenant), "page_token"
    )
    request = gateway_service_pb2.ListRunsRequest(agent_id=agent.id, page_token=token)
    assert_refused(
        await raw_unary(gateway, GATEWAY + "ListRuns", request.SerializeToString(), tenant), "page_token"
    )


# -- internal fields -----------------------------------------------------------------------------------


async def test_a_client_cannot_set_the_fencing_epoch_and_so_cannot_brick_an_agent(
    gateway, tenant, running_suite
):
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "first"}, {"content": "second"}])
    await send(gateway, tenant, agent.id, "one")
    archive_id = await archive_of(gateway, tenant, agent.id)
    edit = memory_service_pb2.EditBlockRequest(
        agent_id=agent.id,
        label="human",
        edit=memory_pb2.BlockEdit(append=memory_pb2.AppendEdit(text="x")),
        epoch=2**62,
    )
    insert = memory_service_pb2.InsertPassagesRequest(
        archive_id=archive_id, agent_id=agent.id, passages=[memory_pb2.PassageInput(text="p")], epoch=2**62
    )
    forged_run = memory_service_pb2.EditBlockRequest(
        agent_id=agent.id,
        label="human",
        edit=memory_pb2.BlockEdit(append=memory_pb2.AppendEdit(text="x")),
        run_id=str(uuid.uuid4()),
    )

    assert_refused(await raw_unary(gateway, MEMORY + "EditBlock", edit.SerializeToString(), tenant), "epoch")
    assert_refused(
        await raw_unary(gateway, MEMORY + "InsertPassages", insert.SerializeToString(), tenant), "epoch"
    )
    assert_refused(
        await raw_unary(gateway, MEMORY + "EditBlock", forged_run.SerializeToString(), tenant), "run_id"
    )
    response = await send(gateway, tenant, agent.id, "two")
    assert response.run.status == gateway_pb2.RUN_STATUS_COMPLETED, response.run.error_message


# -- messages a run would refuse are refused when they are sent ---------------------------------------


def bad_inputs() -> list[tuple[common_pb2.InputMessage, str]]:
    nul_key = struct_pb2.Struct()
    nul_key.update({"a\x00": 1})
    not_finite = struct_pb2.Struct()
    not_finite.update({"x": float("inf")})
    return [
        (common_pb2.InputMessage(content="hi", name="n" * 201), "messages[0].name"),
        (common_pb2.InputMessage(content="hi", name="a\x00"), "messages[0].name"),
        (common_pb2.InputMessage(content="hi", metadata=nul_key), "messages[0].metadata"),
        (common_pb2.InputMessage(content="hi", metadata=not_finite), "messages[0].metadata['x']"),
    ]


@pytest.mark.parametrize("index", range(4))
async def test_a_message_the_run_would_refuse_is_refused_when_sent(gateway, tenant, index):
    message, field_name = bad_inputs()[index]
    agent = await create_agent(gateway, tenant, model_name())
    chat = conversation(gateway)
    fields = {"agent_id": agent.id, "messages": [message]}
    for call in (
        chat.SendMessage(
            gateway_service_pb2.SendMessageRequest(**fields), metadata=tenant, timeout=CALL_TIMEOUT_S
        ),
        chat.CreateRun(
            gateway_service_pb2.CreateRunRequest(**fields), metadata=tenant, timeout=CALL_TIMEOUT_S
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert_refused(refused.value, *([field_name] if field_name else []))
    stream = chat.StreamMessage(
        gateway_service_pb2.StreamMessageRequest(**fields), metadata=tenant, timeout=CALL_TIMEOUT_S
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in stream:
            pass
    assert_refused(refused.value)
    runs = await chat.ListRuns(gateway_service_pb2.ListRunsRequest(agent_id=agent.id), metadata=tenant)
    assert list(runs.runs) == [], "no run was accepted"


# -- tool results ------------------------------------------------------------------------------------

NUL_TOOL = '''
def nul() -> str:
    """Return text with a NUL character in it."""
    return "before\\x00after"
'''


async def test_a_tool_result_with_nul_characters_is_stored_and_the_run_completes(
    gateway, tenant, running_suite
):
    tools = gateway.unary_unary(TOOLS + "CreateTool")
    created = tools_service_pb2.CreateToolResponse.FromString(
        await tools(
            tools_service_pb2.CreateToolRequest(
                tool=tools_pb2.Tool(source_code=NUL_TOOL)
            ).SerializeToString(),
            metadata=tenant,
            timeout=CALL_TIMEOUT_S,
        )
    )
    model = model_name()
    agent = await create_agent(gateway, tenant, model, tool_ids=[created.tool.id])
    running_suite.llm.script(
        model, [{"tool_calls": [{"id": "call_1", "name": "nul", "arguments": {}}]}, {"content": "Done."}]
    )

    response = await send(gateway, tenant, agent.id, "call it")

    assert response.run.status == gateway_pb2.RUN_STATUS_COMPLETED, response.run.error_message
    (result,) = [m for m in response.messages if m.role == common_pb2.MESSAGE_ROLE_TOOL]
    assert result.content == "before\ufffdafter"
    prompt = running_suite.llm.requests(model)[1]["messages"][-1]
    assert json.dumps(prompt["content"]) == json.dumps("before\ufffdafter")


# -- found by the fuzz test ------------------------------------------------------------------------


async def test_list_blocks_pages_with_its_own_tokens_and_refuses_forged_ones(gateway, tenant):
    blocks = tuple(agent_pb2.BlockSpec(label=label, value="v") for label in ("alpha", "beta", "gamma"))
    agent = await create_agent(gateway, tenant, model_name(), blocks=blocks)
    labels, token = [], ""
    while True:
        request = memory_service_pb2.ListBlocksRequest(agent_id=agent.id, page_size=1, page_token=token)
        page = memory_service_pb2.ListBlocksResponse.FromString(
            await raw_call(gateway, MEMORY + "ListBlocks", request, tenant)
        )
        labels += [block.label for block in page.blocks]
        token = page.next_page_token
        if not token:
            break
    assert labels == ["alpha", "beta", "gamma"]

    for forged in ({"label": "alpha", "id": ""}, {"label": "alpha", "id": "x"}, {"label": 3, "id": agent.id}):
        request = memory_service_pb2.ListBlocksRequest(agent_id=agent.id, page_token=encode_token(forged))
        error = await raw_unary(gateway, MEMORY + "ListBlocks", request.SerializeToString(), tenant)
        assert_refused(error, "page_token")


async def test_passages_at_the_first_and_last_instants_a_timestamp_holds_read_back_as_stored(gateway, tenant):
    agent = await create_agent(gateway, tenant, model_name())
    archive_id = await archive_of(gateway, tenant, agent.id)
    first, last = (
        memory_pb2.PassageInput(text="the first instant"),
        memory_pb2.PassageInput(text="the last one"),
    )
    first.create_time.seconds = -62_135_596_800  # 0001-01-01T00:00:00Z, which asyncpg stores as -infinity
    last.create_time.seconds, last.create_time.nanos = 253_402_300_799, 999_999_000
    insert = memory_service_pb2.InsertPassagesRequest(archive_id=archive_id, passages=[first, last])
    await raw_call(gateway, MEMORY + "InsertPassages", insert, tenant)

    listed = memory_service_pb2.ListPassagesResponse.FromString(
        await raw_call(
            gateway,
            MEMORY + "ListPassages",
            memory_service_pb2.ListPassagesRequest(archive_id=archive_id),
            tenant,
        )
    )
    found = memory_service_pb2.SearchPassagesResponse.FromString(
        await raw_call(
            gateway,
            MEMORY + "SearchPassages",
            memory_service_pb2.SearchPassagesRequest(agent_id=agent.id, query="instant"),
            tenant,
        )
    )
    exported = agent_service_pb2.ExportAgentResponse.FromString(
        await raw_call(
            gateway,
            AGENTS + "ExportAgent",
            agent_service_pb2.ExportAgentRequest(agent_id=agent.id, include_passages=True),
            tenant,
        )
    )

    times = {p.text: (p.create_time.seconds, p.create_time.nanos) for p in listed.passages}
    assert times == {
        "the first instant": (-62_135_596_800, 0),
        "the last one": (253_402_300_799, 999_999_000),
    }
    assert {result.passage.text for result in found.results} >= {"the first instant"}
    document = json.loads(exported.document_json)
    assert sorted(p["create_time"][:4] for p in document["passages"]) == ["0001", "9999"]


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        (
            {"messages": [{"role": "user", "content": "hi", "create_time": "0001-01-01T00:00:00+14:00"}]},
            "messages[0].create_time",
        ),
        (
            {"passages": [{"text": "p", "create_time": "9999-12-31T23:59:59-12:00"}]},
            "passages[0].create_time",
        ),
        (
            {"tools": [{"name": "add", "source_code": "x", "timeout_seconds": 1e300}]},
            "tools[0].timeout_seconds",
        ),
    ],
)
async def test_an_agent_document_with_times_or_numbers_no_timestamp_holds_is_invalid_argument(
    gateway, tenant, change, field_name
):
    agent = await create_agent(gateway, tenant, model_name())
    exported = agent_service_pb2.ExportAgentResponse.FromString(
        await raw_call(
            gateway, AGENTS + "ExportAgent", agent_service_pb2.ExportAgentRequest(agent_id=agent.id), tenant
        )
    )
    document = json.loads(exported.document_json) | change
    request = agent_service_pb2.ImportAgentRequest(document_json=json.dumps(document))
    error = await raw_unary(gateway, AGENTS + "ImportAgent", request.SerializeToString(), tenant)
    assert_refused(error)
    assert any(field_name in violation for violation in violations(error)), violations(error)
