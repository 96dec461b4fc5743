"""The gateway's edge in one process: the generic walk over a request, the deserializer that never
raises, page tokens, a key lookup whose database is down, and statuses that always fit in trailers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import grpc
import pytest
from google.protobuf import struct_pb2
from sqlalchemy.exc import InterfaceError

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2
from services.agent.clients.tools import _content
from services.common import errors
from services.common.paging import decode_time_id_token, decode_token, encode_token
from services.common.protobuf import from_struct
from services.common.request_values import NO_KIND, message_violations
from services.common.status import from_rpc_error, to_status
from services.gateway.api.auth import EdgeAuthentication
from services.gateway.api.edge import INTERNAL_FIELDS, EdgeValidation, Refusal, RequestCheck
from services.gateway.core.keys import ApiKeys
from services.tools.core.execution import Limits
from services.tools.sandbox.process import _sigkill_meaning

SQL_ERROR = InterfaceError(
    "SELECT gateway.api_keys.tenant FROM gateway.api_keys WHERE key_hash = $1",
    ("0f3a",),
    asyncpg.ConnectionDoesNotExistError("connection is closed"),
)


def fields_of(message) -> list[str]:
    return [violation.field for violation in message_violations(message)]


# --- the generic walk ---------------------------------------------------------------------------


def test_a_well_formed_request_has_no_violations():
    metadata = struct_pb2.Struct()
    metadata.update({"a": [1, "two", {"three": True}], "b": None})
    request = gateway_service_pb2.SendMessageRequest(
        agent_id="a", messages=[common_pb2.InputMessage(content="hi", name="ada", metadata=metadata)]
    )
    assert message_violations(request) == []


def test_nul_in_strings_at_any_depth_in_repeated_fields_map_keys_and_struct_values_is_named():
    metadata = struct_pb2.Struct()
    metadata.update({"ok": "fine", "nested": {"list": ["x", "y\x00"]}, "k\x00": 1})
    request = memory_service_pb2.InsertPassagesRequest(
        archive_id="a\x00",
        passages=[memory_pb2.PassageInput(text="t", tags=["ok", "b\x00d"], metadata=metadata)],
    )
    assert sorted(fields_of(request)) == sorted(
        [
            "archive_id",
            "passages[0].tags[1]",
            "passages[0].metadata['nested']['list'][1]",
            "passages[0].metadata",
        ]
    )


def test_enum_numbers_the_contract_does_not_define_are_refused():
    request = gateway_service_pb2.SendMessageRequest(busy_policy=77)
    request.messages.add(role=99, content="x")
    assert sorted(fields_of(request)) == ["busy_policy", "messages[0].role"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_that_are_not_finite_are_refused_in_fields_and_in_structs(value):
    agent = agent_pb2.Agent(model=agent_pb2.ModelConfig(temperature=value))
    agent.metadata.update({"x": value})
    assert sorted(fields_of(agent)) == ["metadata['x']", "model.temperature"]


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (0, 0, True),
        (253_402_300_799, 999_999_999, True),  # 9999-12-31T23:59:59.999999999Z
        (-62_135_596_800, 0, True),  # 0001-01-01T00:00:00Z
        (253_402_300_800, 0, False),
        (-62_135_596_801, 0, False),
        (0, -1, False),
        (0, 1_000_000_000, False),
        (2**62, 0, False),
    ],
)
def test_timestamps_outside_protobufs_range_are_refused(seconds, nanos, valid):
    request = memory_service_pb2.SearchMessagesRequest()
    request.start_time.seconds, request.start_time.nanos = seconds, nanos
    assert fields_of(request) == ([] if valid else ["start_time"])


@pytest.mark.parametrize(
    ("seconds", "nanos", "valid"),
    [
        (30, 0, True),
        (315_576_000_000, 999_999_999, True),
        (-1, -5, True),
        (315_576_000_001, 0, False),
        (2**62, 0, False),
        (1, -1, False),  # signs differ
        (0, 1_000_000_000, False),
    ],
)
def test_durations_outside_protobufs_range_are_refused(seconds, nanos, valid):
    tool = tools_pb2.Tool()
    tool.timeout.seconds, tool.timeout.nanos = seconds, nanos
    assert fields_of(tool) == ([] if valid else ["timeout"])


def test_a_value_with_no_kind_set_is_refused_with_its_path_wherever_it_is():
    """What a JSON mapping that does not know the field names makes of {"string_value": "x"} is
    refused, never stored as null (issue 16)."""
    request = gateway_service_pb2.SendMessageRequest(agent_id="a")
    metadata = request.messages.add(content="hi").metadata
    metadata.update({"set": None, "list": [1]})
    metadata.fields["unset"].SetInParent()
    metadata.fields["list"].list_value.values.add()
    metadata.fields["nested"].struct_value.fields["deep"].SetInParent()
    assert sorted(fields_of(request)) == [
        "messages[0].metadata['list'][1]",
        "messages[0].metadata['nested']['deep']",
        "messages[0].metadata['unset']",
    ]
    assert {v.description for v in message_violations(request)} == {NO_KIND}


def test_a_backend_refuses_a_value_with_no_kind_set_too():
    metadata = struct_pb2.Struct()
    metadata.update({"null": None})
    metadata.fields["unset"].SetInParent()
    with pytest.raises(errors.InvalidArgument) as caught:
        from_struct(metadata, "block.metadata")
    assert caught.value.message == f"block.metadata['unset']: {NO_KIND}"
    assert from_struct(struct_pb2.Struct(fields={"null": metadata.fields["null"]})) == {"null": None}


def test_a_long_map_key_is_cut_in_the_path_and_violations_are_bounded():
    metadata = struct_pb2.Struct()
    metadata.update({"k" * 10_000: "\x00"} | {f"n{i}": "\x00" for i in range(50)})
    found = message_violations(memory_pb2.Block(metadata=metadata))
    assert len(found) == 10
    assert max(len(v.field) for v in found) < 70


# --- the deserializer ---------------------------------------------------------------------------


def check_for(message_type, *, keep_bytes: bool = False) -> RequestCheck:
    return RequestCheck(message_type.DESCRIPTOR, keep_bytes=keep_bytes)


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0a\x05ab", b"\x0a\x03\xc3\x28\xff"],
    ids=["garbage", "truncated", "bad UTF-8"],
)
def test_bytes_that_do_not_decode_are_refused_not_raised(data):
    refusal = check_for(memory_service_pb2.GetBlockRequest)(data)
    assert isinstance(refusal, Refusal) and isinstance(refusal.error, errors.InvalidArgument)
    assert "agentsuite.memory.v1.GetBlockRequest" in refusal.error.message
    assert "DecodeError" not in refusal.error.message and "Error parsing" not in refusal.error.message


def test_a_good_request_comes_out_as_a_message_or_as_the_same_bytes_for_the_forwarder():
    request = memory_service_pb2.GetBlockRequest(block_id="b")
    data = request.SerializeToString()
    assert check_for(memory_service_pb2.GetBlockRequest)(data) == request
    assert check_for(memory_service_pb2.GetBlockRequest, keep_bytes=True)(data) is data


def test_internal_fields_are_refused_from_clients():
    check = check_for(memory_service_pb2.EditBlockRequest)
    refusal = check(
        memory_service_pb2.EditBlockRequest(block_id="b", epoch=2**62, run_id="r").SerializeToString()
    )
    assert isinstance(refusal, Refusal)
    assert [v.field for v in refusal.error.violations] == ["epoch", "run_id"]
    assert not isinstance(
        check(memory_service_pb2.EditBlockRequest(block_id="b").SerializeToString()), Refusal
    )


def walk(descriptor, seen=None):
    seen = set() if seen is None else seen
    if descriptor.full_name in seen:
        return
    seen.add(descriptor.full_name)
    yield descriptor
    for candidate in descriptor.fields:
        if candidate.message_type is not None:
            yield from walk(candidate.message_type, seen)


def test_every_epoch_a_public_request_carries_is_an_internal_field():
    """A new fenced write in a public request must be listed, or a client could brick an agent."""
    public = [
        (agent_service_pb2, "AgentService"),
        (memory_service_pb2, "MemoryService"),
        (tools_service_pb2, "ToolService"),
        (gateway_service_pb2, "ConversationService"),
    ]
    for module, name in public:
        for method in module.DESCRIPTOR.services_by_name[name].methods:
            for message in walk(method.input_type):
                for candidate in message.fields:
                    if "epoch" in candidate.name:
                        assert candidate.name in INTERNAL_FIELDS.get(message.full_name, ()), (
                            candidate.full_name
                        )


# --- page tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "position",
    [{"seq": 2**63}, {"seq": -(2**63) - 1}, {"s": [1, 2**70]}, {"seq": float("nan")}, {"name": "a\x00"}],
)
def test_a_page_token_holding_what_no_statement_can_take_is_refused(position):
    with pytest.raises(errors.InvalidArgument) as refused:
        decode_token(encode_token(position))
    assert refused.value.violations[0].field == "page_token"


def test_a_page_token_of_64_bit_numbers_is_accepted():
    assert decode_token(encode_token({"seq": 2**63 - 1, "low": -(2**63)})) == {
        "seq": 2**63 - 1,
        "low": -(2**63),
    }


@pytest.mark.parametrize(
    "position",
    [
        {"t": "2024-01-01T00:00:00", "id": "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b"},  # no zone
        {
            "t": "0001-01-01T00:00:00+14:00",
            "id": "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b",
        },  # before year 1 in UTC
        {"t": "2024-01-01T00:00:00+00:00", "id": "not-a-uuid"},
        {"t": 5, "id": "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b"},
        {"id": "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b"},
    ],
)
def test_a_time_and_id_token_needs_a_zoned_time_and_a_uuid(position):
    with pytest.raises(errors.InvalidArgument):
        decode_time_id_token(encode_token(position))


# --- tool results ---------------------------------------------------------------------------------


def test_a_tool_result_with_nul_characters_becomes_text_memory_can_store():
    ok = tools_pb2.ExecutionResult(status=tools_pb2.EXECUTION_STATUS_OK, result_json='"a\\u0000b"')
    failed = tools_pb2.ExecutionResult(
        status=tools_pb2.EXECUTION_STATUS_ERROR,
        error_type="ValueError",
        error_message="bad \x00",
        stderr="\x00",
    )
    assert _content(ok) == "a\ufffdb"
    assert "\x00" not in _content(failed) and "bad \ufffd" in _content(failed)


# --- statuses -------------------------------------------------------------------------------------


def test_a_status_echoing_a_huge_input_is_cut_to_fit_in_trailers():
    label = "é" * 1_000_000
    error = errors.InvalidArgument([errors.FieldViolation(label, label)] * 50)
    status = to_status(error)
    assert sum(len(key) + len(value) for key, value in status.trailing_metadata) < 6000
    assert status.details.startswith("éé") and status.details.endswith("…")


# --- authentication with the database down -------------------------------------------------------


class DownLookup:
    def __init__(self, error: BaseException):
        self.error = error

    async def tenant_for_hash(self, key_hash: str) -> str | None:
        raise self.error


@asynccontextmanager
async def gateway_with(lookup) -> AsyncIterator[grpc.aio.Channel]:
    async def echo(request: bytes, context) -> bytes:
        return request

    server = grpc.aio.server(interceptors=[EdgeAuthentication(ApiKeys(lookup), "internal")])
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def call_with_a_key(channel) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.Echo/Call")(
            b"", metadata=(("authorization", "Bearer ags_x"),), timeout=5
        )
    return caught.value


async def test_a_key_lookup_with_the_database_down_is_unavailable_with_a_plain_message():
    async with gateway_with(DownLookup(SQL_ERROR)) as channel:
        error = await call_with_a_key(channel)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    text = error.details() + repr(error.trailing_metadata())
    for leak in ("SELECT", "key_hash", "0f3a", "class", "InterfaceError", "Traceback"):
        assert leak not in text


async def test_a_key_lookup_failing_for_no_known_reason_is_internal_with_a_generic_message():
    async with gateway_with(DownLookup(KeyError("api_keys.secret_column"))) as channel:
        error = await call_with_a_key(channel)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"


# --- the interceptor ------------------------------------------------------------------------------


@asynccontextmanager
async def checked_server() -> AsyncIterator[tuple[grpc.aio.Channel, list]]:
    """MemoryService.GetBlock relayed as bytes (as the forwarder does) and Converse taking messages,
    behind EdgeValidation; yields a channel and what the handlers received."""
    received: list = []

    async def relay(request: bytes, context) -> bytes:
        received.append(request)
        return b""

    async def converse(requests, context):
        async for request in requests:
            received.append(request)
            yield gateway_service_pb2.ConverseResponse(pong=gateway_service_pb2.ConversePong(nonce=1))

    memory = memory_service_pb2.DESCRIPTOR.services_by_name["MemoryService"]
    conversation = gateway_service_pb2.DESCRIPTOR.services_by_name["ConversationService"]
    server = grpc.aio.server(interceptors=[EdgeValidation([memory, conversation])])
    relayed = grpc.unary_unary_rpc_method_handler(relay)
    talk = grpc.stream_stream_rpc_method_handler(
        converse,
        request_deserializer=gateway_service_pb2.ConverseRequest.FromString,
        response_serializer=gateway_service_pb2.ConverseResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(memory.full_name, {"GetBlock": relayed}),
            grpc.method_handlers_generic_handler(conversation.full_name, {"Converse": talk}),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, received
    finally:
        await server.stop(None)


async def test_a_relayed_request_passes_as_the_same_bytes_and_a_bad_one_never_reaches_the_handler():
    good = memory_service_pb2.GetBlockRequest(block_id="b").SerializeToString()
    async with checked_server() as (channel, received):
        get_block = channel.unary_unary("/agentsuite.memory.v1.MemoryService/GetBlock")
        await get_block(good, timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await get_block(
                memory_service_pb2.GetBlockRequest(block_id="b\x00").SerializeToString(), timeout=5
            )
    assert received == [good]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert errors_of(refused.value) == ["block_id"]


async def test_a_refused_message_in_a_client_stream_ends_the_call_with_invalid_argument():
    ping = gateway_service_pb2.ConverseRequest(ping=gateway_service_pb2.ConversePing(nonce=1))
    async with checked_server() as (channel, received):
        call = channel.stream_stream("/agentsuite.gateway.v1.ConversationService/Converse")
        responses = call(iter([ping.SerializeToString(), b"\xff\xff\xff"]), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in responses:
                pass
    assert received == [ping]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Error parsing" not in refused.value.details()


def errors_of(error: grpc.aio.AioRpcError) -> list[str]:
    return [violation.field for violation in from_rpc_error(error).violations]


# --- how a sandbox's SIGKILL is told ---------------------------------------------------------------


def test_a_sigkill_is_blamed_on_the_cpu_limit_only_when_the_tool_could_have_used_its_cpu_seconds():
    limits = Limits(
        timeout_seconds=30,
        cpu_seconds=4,
        memory_bytes=1 << 28,
        max_processes=8,
        file_size_bytes=1 << 20,
        output_bytes=4096,
        result_chars=100,
    )
    assert "CPU time limit of 5s" in _sigkill_meaning(limits, seconds=60)
    quick = _sigkill_meaning(limits, seconds=0.05)
    assert "SIGKILL" in quick and "no limit of the sandbox" in quick
