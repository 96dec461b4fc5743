"""The client's error mapping: every status becomes one class of one hierarchy, carrying the
``google.rpc`` details the server sent — from a failed call's trailers and from an error event
inside a stream alike."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from agentsuite.client import errors, events
from agentsuite.gateway.v1 import gateway_pb2


def packed(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def failed_call(code: grpc.StatusCode, message: str, *details) -> grpc.aio.AioRpcError:
    """A failed call as grpcio hands it over: the rich status in its trailers."""
    status = status_pb2.Status(code=code.value[0], message=message, details=[packed(d) for d in details])
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details=message)


def test_a_busy_refusal_is_busy_with_the_running_runs_id():
    info = error_details_pb2.ErrorInfo(
        reason="AGENT_BUSY", domain="agentsuite", metadata={"run_id": "r-1", "agent_id": "a-1"}
    )

    error = errors.error_from_rpc(failed_call(grpc.StatusCode.ABORTED, "agent a-1 is busy", info))

    assert isinstance(error, errors.Busy) and isinstance(error, errors.Aborted)
    assert isinstance(error, errors.AgentSuiteError)
    assert (error.run_id, error.reason, error.domain) == ("r-1", "AGENT_BUSY", "agentsuite")
    assert error.metadata["agent_id"] == "a-1"
    assert str(error) == "ABORTED: agent a-1 is busy"


def test_another_aborted_is_aborted_but_not_busy():
    info = error_details_pb2.ErrorInfo(reason="DB_CONFLICT")

    error = errors.error_from_rpc(failed_call(grpc.StatusCode.ABORTED, "retry", info))

    assert type(error) is errors.Aborted and error.reason == "DB_CONFLICT"


def test_invalid_argument_carries_every_field_violation():
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="agent.name", description="required"),
            error_details_pb2.BadRequest.FieldViolation(field="max_steps", description="must be >= 0"),
        ]
    )

    error = errors.error_from_rpc(failed_call(grpc.StatusCode.INVALID_ARGUMENT, "bad", bad_request))

    assert type(error) is errors.InvalidArgument
    assert error.field_violations == [
        errors.FieldViolation("agent.name", "required"),
        errors.FieldViolation("max_steps", "must be >= 0"),
    ]
    assert error.reason == "INVALID_ARGUMENT"  # the code's name when no ErrorInfo came


def test_not_found_names_the_resource():
    resource = error_details_pb2.ResourceInfo(resource_type="agent", resource_name="a-9")

    error = errors.error_from_rpc(failed_call(grpc.StatusCode.NOT_FOUND, "agent 'a-9' not found", resource))

    assert type(error) is errors.NotFound
    assert (error.resource_type, error.resource_name) == ("agent", "a-9")


def test_a_deadline_names_the_run_that_keeps_going():
    info = error_details_pb2.ErrorInfo(reason="RUN_NOT_FINISHED", metadata={"run_id": "r-7"})

    error = errors.error_from_rpc(failed_call(grpc.StatusCode.DEADLINE_EXCEEDED, "still running", info))

    assert type(error) is errors.DeadlineExceeded and error.run_id == "r-7"


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "AGENT_QUEUE_FULL", errors.QueueFull),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_TARGETS", errors.ResourceExhausted),
        (grpc.StatusCode.FAILED_PRECONDITION, "CALL_CYCLE", errors.CallCycle),
        (grpc.StatusCode.FAILED_PRECONDITION, "CALL_DEPTH", errors.CallCycle),
        (grpc.StatusCode.FAILED_PRECONDITION, "STALE_EPOCH", errors.FailedPrecondition),
        (grpc.StatusCode.UNAVAILABLE, "DB_UNAVAILABLE", errors.Unavailable),
        (grpc.StatusCode.UNAUTHENTICATED, "INVALID_API_KEY", errors.Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, "", errors.PermissionDenied),
        (grpc.StatusCode.ALREADY_EXISTS, "TOOL_NAME_TAKEN", errors.AlreadyExists),
        (grpc.StatusCode.OUT_OF_RANGE, "", errors.OutOfRange),
        (grpc.StatusCode.UNIMPLEMENTED, "", errors.Unimplemented),
        (grpc.StatusCode.INTERNAL, "", errors.Internal),
        (grpc.StatusCode.CANCELLED, "", errors.Cancelled),
        (grpc.StatusCode.UNKNOWN, "", errors.Unknown),
        (grpc.StatusCode.DATA_LOSS, "", errors.DataLoss),
    ],
)
def test_each_code_and_named_reason_has_its_class(code, reason, cls):
    details = [error_details_pb2.ErrorInfo(reason=reason)] if reason else []

    error = errors.error_from_rpc(failed_call(code, "message", *details))

    assert type(error) is cls and error.code == code
    assert error.reason == (reason or code.name)


def test_a_failure_without_rich_details_keeps_code_and_message():
    plain = grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), details="connection refused"
    )

    error = errors.error_from_rpc(plain)

    assert type(error) is errors.Unavailable and error.message == "connection refused"
    assert error.details == [] and error.field_violations == []


def test_an_error_event_in_a_stream_becomes_the_same_exception_a_call_would_raise():
    info = error_details_pb2.ErrorInfo(reason="AGENT_BUSY", metadata={"run_id": "r-2"})
    event = gateway_pb2.RunEvent(
        seq=0,
        error=gateway_pb2.ErrorEvent(
            code=grpc.StatusCode.ABORTED.value[0], message="busy", details=[packed(info)]
        ),
    )

    typed = events.event_from_proto(event, send_id="s-1")

    assert isinstance(typed, events.RunError) and typed.send_id == "s-1"
    assert isinstance(typed.error, errors.Busy) and typed.error.run_id == "r-2"


def test_an_unknown_code_number_in_an_event_is_unknown():
    error = errors.error_from_status(99, "from the future")

    assert type(error) is errors.Unknown and error.message == "from the future"


def test_every_kind_of_run_event_has_its_own_typed_event():
    oneof = gateway_pb2.RunEvent.DESCRIPTOR.oneofs_by_name["event"]
    typed = {}
    for field in oneof.fields:
        event = gateway_pb2.RunEvent(run_id="r", seq=3, step=1)
        getattr(event, field.name).SetInParent()
        typed[field.name] = events.event_from_proto(event, send_id="s")
        assert (typed[field.name].run_id, typed[field.name].seq, typed[field.name].send_id) == ("r", 3, "s")
        assert typed[field.name].raw is event

    classes = [type(event) for event in typed.values()]
    assert events.Event not in classes, typed  # a kind new in the contract needs its class here
    assert len(set(classes)) == len(classes)
    live_only = {name for name, event in typed.items() if not event.step_level}
    assert live_only == {"reasoning_delta", "assistant_delta", "heartbeat"}
