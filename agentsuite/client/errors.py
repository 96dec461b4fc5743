"""One exception hierarchy for every failure the gateway reports.

Each status code has its class (``NotFound``, ``InvalidArgument``, ``Unavailable``, ...), all under
``AgentSuiteError``; a few frequent refusals have a subclass of their code's class that names them
(``Busy`` is the ``ABORTED`` of an agent already running, with that run's id). Every error carries
what the ``google.rpc.Status`` said: the code, the message, the ``ErrorInfo`` reason and metadata,
the ``BadRequest`` field violations and the ``ResourceInfo``.

    try:
        await client.messages.send(agent_id, "hi", busy_policy="reject")
    except Busy as busy:
        await client.runs.cancel(busy.run_id)
    except InvalidArgument as bad:
        for violation in bad.field_violations:
            print(violation.field, violation.description)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "Aborted",
    "AgentSuiteError",
    "AlreadyExists",
    "Busy",
    "CallCycle",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "QueueFull",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_from_rpc",
    "error_from_status",
]

STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request (``google.rpc.BadRequest.FieldViolation``)."""

    field: str
    """Path of the field, e.g. ``agent.name`` or ``messages[0].content``."""
    description: str
    """What is wrong with it."""


class AgentSuiteError(Exception):
    """Root of every error the client raises for a failed call.

    ``code`` is the gRPC status code; ``reason`` the stable ``ErrorInfo`` reason (``AGENT_BUSY``,
    ``STALE_EPOCH``, ...; the code's name when the server sent none); ``metadata`` the ``ErrorInfo``
    facts (for example ``run_id``); ``field_violations`` the ``BadRequest`` entries;
    ``resource_type``/``resource_name`` the ``ResourceInfo``; ``details`` every detail as sent.
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
        field_violations: Iterable[FieldViolation] = (),
        resource_type: str = "",
        resource_name: str = "",
        details: Iterable[any_pb2.Any] = (),
    ):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.reason = reason or self.code.name
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: list[FieldViolation] = list(field_violations)
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.details: list[any_pb2.Any] = list(details)

    @property
    def run_id(self) -> str:
        """The run the error is about (``ErrorInfo`` metadata ``run_id``), or ``""``."""
        return self.metadata.get("run_id", "")

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, reason={self.reason!r})"


class Cancelled(AgentSuiteError):
    """The call was cancelled (``CANCELLED``)."""

    code = grpc.StatusCode.CANCELLED


class Unknown(AgentSuiteError):
    """``UNKNOWN``: the server or a proxy failed without saying why."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(AgentSuiteError):
    """The request is malformed (``INVALID_ARGUMENT``); ``field_violations`` name each bad field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(AgentSuiteError):
    """The deadline passed (``DEADLINE_EXCEEDED``). A run keeps going: ``run_id`` names it when the
    gateway said which (then follow it with ``client.runs.wait`` or ``watch``)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(AgentSuiteError):
    """The resource does not exist, or belongs to another tenant (``NOT_FOUND``)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AgentSuiteError):
    """A resource with the same identity exists (``ALREADY_EXISTS``)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(AgentSuiteError):
    """The caller may not do this (``PERMISSION_DENIED``)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(AgentSuiteError):
    """A quota, queue or size limit is reached (``RESOURCE_EXHAUSTED``)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class QueueFull(ResourceExhausted):
    """The agent's queue of runs is full (``AGENT_QUEUE_FULL``); retry later."""


class FailedPrecondition(AgentSuiteError):
    """The system is not in a state that allows the call (``FAILED_PRECONDITION``)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class CallCycle(FailedPrecondition):
    """An agent-to-agent call would wait on an agent already in its chain, or the chain is at
    its depth limit (``CALL_CYCLE``, ``CALL_DEPTH``)."""


class Aborted(AgentSuiteError):
    """A concurrent change won (``ABORTED``): a stale version, a busy agent; retrying may work."""

    code = grpc.StatusCode.ABORTED


class Busy(Aborted):
    """The agent is running another run and the send asked to be refused then
    (``BUSY_POLICY_REJECT``). ``run_id`` is the running run's id."""


class OutOfRange(AgentSuiteError):
    """A position past the end (``OUT_OF_RANGE``), e.g. a seq beyond a run's last event."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(AgentSuiteError):
    """The method is not served (``UNIMPLEMENTED``)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(AgentSuiteError):
    """A bug on the server (``INTERNAL``); its log has the details under the call's trace id."""

    code = grpc.StatusCode.INTERNAL


class Unavailable(AgentSuiteError):
    """The gateway or one of its dependencies cannot be reached right now (``UNAVAILABLE``).
    Calls the client knows are safe to repeat were already retried."""

    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(AgentSuiteError):
    """``DATA_LOSS``."""

    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(AgentSuiteError):
    """No valid API key came with the call (``UNAUTHENTICATED``)."""

    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[AgentSuiteError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}
_BY_REASON: dict[tuple[grpc.StatusCode, str], type[AgentSuiteError]] = {
    (grpc.StatusCode.ABORTED, "AGENT_BUSY"): Busy,
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "AGENT_QUEUE_FULL"): QueueFull,
    (grpc.StatusCode.FAILED_PRECONDITION, "CALL_CYCLE"): CallCycle,
    (grpc.StatusCode.FAILED_PRECONDITION, "CALL_DEPTH"): CallCycle,
}
_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def error_from_status(code: int | grpc.StatusCode, message: str, details: Iterable[any_pb2.Any] = ()):
    """The error for a status given as its parts (a code, a message and ``google.rpc`` details),
    as a ``google.rpc.Status`` or an error event inside a stream carries them."""
    if isinstance(code, int):
        code = _CODES_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN)
    details = list(details)
    reason, domain, metadata = "", "", {}
    violations: list[FieldViolation] = []
    resource_type = resource_name = ""
    for detail in details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            detail.Unpack(resource)
            resource_type, resource_name = resource.resource_type, resource.resource_name
    cls = _BY_REASON.get((code, reason)) or _BY_CODE.get(code, Unknown)
    return cls(
        message or code.name,
        code=code,
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=violations,
        resource_type=resource_type,
        resource_name=resource_name,
        details=details,
    )


def error_from_rpc(error: grpc.RpcError) -> AgentSuiteError:
    """The error for a failed call: its code, message and the details in its trailers."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else "") or ""
    details: list[any_pb2.Any] = []
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            details = list(status.details)
            message = status.message or message
    return error_from_status(code, message, details)
