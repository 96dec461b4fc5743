"""Domain errors ↔ gRPC statuses: the one mapping table, its rich details, and the trip through a real
server and channel and back into the same domain error."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import errors
from services.common.server import rpc_handler
from services.common.status import CODES, ERROR_DOMAIN, code_of, from_rpc_error, to_status

DOCUMENTED_CODES = {
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.Unimplemented: grpc.StatusCode.UNIMPLEMENTED,
}
"""DESIGN §11 and §13, written out independently of ``services.common.status.CODES``."""


def example_of(cls: type[errors.AgentSuiteError]) -> errors.AgentSuiteError:
    if cls is errors.NotFound:
        return errors.NotFound("agent", "a-1")
    if cls is errors.InvalidArgument:
        return errors.InvalidArgument.field("agent.name", "must not be empty")
    return cls("something happened", reason="SOMETHING", metadata={"k": "v"})


def unpack(status: grpc.Status, message_type):
    """The first detail of ``message_type`` in a status built by ``to_status``, or None."""
    metadata = dict(status.trailing_metadata)
    parsed = status_pb2.Status.FromString(metadata[rpc_status.GRPC_DETAILS_METADATA_KEY])
    for detail in parsed.details:
        if detail.Is(message_type.DESCRIPTOR):
            found = message_type()
            detail.Unpack(found)
            return found
    return None


def test_every_domain_error_class_has_a_documented_code():
    defined = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AgentSuiteError) and cls is not errors.AgentSuiteError
    }

    assert defined == set(DOCUMENTED_CODES), "a domain error was added without a documented status code"
    assert CODES == DOCUMENTED_CODES


@pytest.mark.parametrize("cls", list(DOCUMENTED_CODES), ids=lambda cls: cls.__name__)
def test_domain_error_answers_its_documented_code(cls):
    error = example_of(cls)

    assert code_of(error) == DOCUMENTED_CODES[cls]
    assert to_status(error).code == DOCUMENTED_CODES[cls]
    assert to_status(error).details == error.message


def test_subclass_of_a_domain_error_keeps_its_parents_code():
    class StaleEpoch(errors.FailedPrecondition):
        pass

    assert code_of(StaleEpoch("old epoch")) == grpc.StatusCode.FAILED_PRECONDITION


def test_error_outside_the_table_answers_internal():
    assert code_of(errors.AgentSuiteError("unclassified")) == grpc.StatusCode.INTERNAL


def test_status_carries_error_info_with_reason_domain_and_metadata():
    error = errors.Conflict("agent is busy", reason="AGENT_BUSY", metadata={"run_id": "r-7"})

    info = unpack(to_status(error), error_details_pb2.ErrorInfo)

    assert info.reason == "AGENT_BUSY"
    assert info.domain == ERROR_DOMAIN
    assert dict(info.metadata) == {"run_id": "r-7"}


def test_error_info_reason_defaults_to_the_code_name():
    info = unpack(to_status(errors.Unavailable("db down")), error_details_pb2.ErrorInfo)

    assert info.reason == "UNAVAILABLE"


def test_invalid_argument_status_lists_every_field_violation():
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("agent.name", "must not be empty"),
            errors.FieldViolation("agent.tags", "must hold at most 64 tags"),
        ]
    )

    bad_request = unpack(to_status(error), error_details_pb2.BadRequest)

    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("agent.name", "must not be empty"),
        ("agent.tags", "must hold at most 64 tags"),
    ]


def test_not_found_status_names_the_resource():
    resource = unpack(to_status(errors.NotFound("agent", "a-42")), error_details_pb2.ResourceInfo)

    assert (resource.resource_type, resource.resource_name) == ("agent", "a-42")


def test_only_not_found_carries_resource_info_and_only_invalid_argument_carries_bad_request():
    conflict = to_status(errors.Conflict("busy"))

    assert unpack(conflict, error_details_pb2.ResourceInfo) is None
    assert unpack(conflict, error_details_pb2.BadRequest) is None


# --- the round trip through a real server -------------------------------------------------------


class Raiser:
    """A one-method servicer whose handler raises whatever the test put in ``error``."""

    def __init__(self) -> None:
        self.error: BaseException = RuntimeError("not set")

    @rpc_handler
    async def Fail(self, request: bytes, context) -> bytes:
        raise self.error

    @rpc_handler
    async def FailStreaming(self, request: bytes, context) -> AsyncIterator[bytes]:
        yield b"first"
        raise self.error


@asynccontextmanager
async def serving(raiser: Raiser) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    handlers = {
        "Fail": grpc.unary_unary_rpc_method_handler(raiser.Fail),
        "FailStreaming": grpc.unary_stream_rpc_method_handler(raiser.FailStreaming),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Raiser", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


@pytest.fixture
async def raiser_channel() -> AsyncIterator[tuple[Raiser, grpc.aio.Channel]]:
    raiser = Raiser()
    async with serving(raiser) as channel:
        yield raiser, channel


async def call_failing(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel.unary_unary("/test.Raiser/Fail")(b"", timeout=5)
    return caught.value


@pytest.mark.parametrize("cls", list(DOCUMENTED_CODES), ids=lambda cls: cls.__name__)
async def test_domain_error_crosses_the_wire_as_the_same_class_and_message(raiser_channel, cls):
    raiser, channel = raiser_channel
    raiser.error = example_of(cls)

    rpc_error = await call_failing(channel)
    rebuilt = from_rpc_error(rpc_error)

    assert rpc_error.code() == DOCUMENTED_CODES[cls]
    assert type(rebuilt) is cls
    assert rebuilt.message == raiser.error.message


async def test_reason_and_metadata_survive_the_round_trip(raiser_channel):
    raiser, channel = raiser_channel
    raiser.error = errors.Conflict(
        "agent a-1 is running run r-9", reason="AGENT_BUSY", metadata={"run_id": "r-9", "agent_id": "a-1"}
    )

    rebuilt = from_rpc_error(await call_failing(channel))

    assert isinstance(rebuilt, errors.Conflict)
    assert rebuilt.reason == "AGENT_BUSY"
    assert rebuilt.metadata == {"run_id": "r-9", "agent_id": "a-1"}


async def test_field_violations_survive_the_round_trip(raiser_channel):
    raiser, channel = raiser_channel
    violations = [
        errors.FieldViolation("agent.name", "must not be empty"),
        errors.FieldViolation("agent.max_steps", "must be between 0 (default) and 1000"),
    ]
    raiser.error = errors.InvalidArgument(violations)

    rebuilt = from_rpc_error(await call_failing(channel))

    assert isinstance(rebuilt, errors.InvalidArgument)
    assert (
        rebuilt.message
        == "agent.name: must not be empty; agent.max_steps: must be between 0 (default) and 1000"
    )
    assert rebuilt.violations == violations


async def test_not_found_resource_survives_the_round_trip(raiser_channel):
    raiser, channel = raiser_channel
    raiser.error = errors.NotFound("agent", "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b")

    rebuilt = from_rpc_error(await call_failing(channel))

    assert isinstance(rebuilt, errors.NotFound)
    assert rebuilt.resource_type == "agent"
    assert rebuilt.resource_id == "0b7c5c0e-1d1e-4a43-9d1b-0b0b0b0b0b0b"
    assert rebuilt.message == raiser.error.message


async def test_unexpected_exception_answers_internal_with_a_generic_message_and_no_trace(raiser_channel):
    raiser, channel = raiser_channel
    raiser.error = KeyError("secret-column-name")

    rpc_error = await call_failing(channel)

    assert rpc_error.code() == grpc.StatusCode.INTERNAL
    assert rpc_error.details() == "internal error"
    wire = repr(rpc_error.trailing_metadata()) + rpc_error.debug_error_string()
    assert "secret-column-name" not in wire
    assert "KeyError" not in wire
    assert "Traceback" not in wire
    assert type(from_rpc_error(rpc_error)) is errors.AgentSuiteError


async def test_streaming_handler_failing_midway_sends_its_items_then_the_rich_status(raiser_channel):
    raiser, channel = raiser_channel
    raiser.error = errors.FailedPrecondition("stale epoch 3", reason="STALE_EPOCH", metadata={"epoch": "3"})
    call = channel.unary_stream("/test.Raiser/FailStreaming")(b"", timeout=5)
    received = []

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for item in call:
            received.append(item)
    rebuilt = from_rpc_error(caught.value)

    assert received == [b"first"]
    assert isinstance(rebuilt, errors.FailedPrecondition)
    assert (rebuilt.reason, rebuilt.metadata) == ("STALE_EPOCH", {"epoch": "3"})
