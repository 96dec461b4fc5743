"""The one table between domain errors and gRPC status codes, both ways.

Outgoing: a domain error becomes a ``google.rpc.Status`` with ``ErrorInfo`` (reason, metadata),
``BadRequest`` (field violations) or ``ResourceInfo`` details. Incoming: a downstream status becomes
the same domain error again, so a memory ``NOT_FOUND`` reaches the gateway's client as ``NOT_FOUND``.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import errors

ERROR_DOMAIN = "agentsuite"
MAX_MESSAGE_BYTES = 500
MAX_VIOLATIONS = 10
MAX_FIELD_BYTES = 100
MAX_DESCRIPTION_BYTES = 200
"""A status travels in trailers, which a gRPC client accepts only up to 8 KiB: messages that echo a
client's input (a 1 MB label) are cut so the answer always arrives, and the code with it."""

CODES: dict[type[errors.AgentSuiteError], grpc.StatusCode] = {
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
"""Domain error class → status code. Anything else is INTERNAL with a generic message."""

_ERRORS_BY_CODE = {code: cls for cls, code in CODES.items()}


def code_of(error: errors.AgentSuiteError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in CODES:
            return CODES[cls]
    return grpc.StatusCode.INTERNAL


def to_status(error: errors.AgentSuiteError) -> grpc.Status:
    """The rich status (with ``google.rpc`` details) that answers an RPC failing with ``error``."""
    code = code_of(error)
    details: list[any_pb2.Any] = []
    metadata = {key: _bounded(value, MAX_FIELD_BYTES) for key, value in error.metadata.items()}
    info = error_details_pb2.ErrorInfo(
        reason=error.reason or code.name, domain=ERROR_DOMAIN, metadata=metadata
    )
    details.append(_pack(info))
    if isinstance(error, errors.InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_bounded(v.field, MAX_FIELD_BYTES),
                    description=_bounded(v.description, MAX_DESCRIPTION_BYTES),
                )
                for v in error.violations[:MAX_VIOLATIONS]
            ]
        )
        details.append(_pack(bad_request))
    if isinstance(error, errors.NotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type,
                    resource_name=_bounded(error.resource_id, MAX_FIELD_BYTES),
                )
            )
        )
    message = _bounded(error.message, MAX_MESSAGE_BYTES)
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return rpc_status.to_status(status)


def _bounded(text: str, max_bytes: int) -> str:
    """``text``, cut to at most ``max_bytes`` of UTF-8 (marked with an ellipsis when cut)."""
    if len(text) * 4 <= max_bytes or len(encoded := text.encode()) <= max_bytes:
        return text
    return encoded[: max_bytes - 3].decode(errors="ignore") + "…"


def details_of(status: grpc.Status) -> list[any_pb2.Any]:
    """The ``google.rpc`` details a status carries (ErrorInfo, BadRequest, ResourceInfo), for an
    error told inside a stream rather than as the call's status."""
    for key, value in status.trailing_metadata:
        if key == rpc_status.GRPC_DETAILS_METADATA_KEY:
            return list(status_pb2.Status.FromString(value).details)
    return []


def internal_status(message: str = "internal error") -> grpc.Status:
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INTERNAL, message=message))


def from_rpc_error(error: grpc.aio.AioRpcError) -> errors.AgentSuiteError:
    """Translate a downstream failure back into the domain error it stands for."""
    code = error.code()
    message = error.details() or code.name
    status = rpc_status.from_call(error) if error.trailing_metadata() else None
    reason, metadata, violations = "", {}, []
    resource_type, resource_id = "resource", ""
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations = [errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            info = error_details_pb2.ResourceInfo()
            detail.Unpack(info)
            resource_type, resource_id = info.resource_type, info.resource_name
    cls = _ERRORS_BY_CODE.get(code)
    if cls is errors.NotFound:
        return errors.NotFound(resource_type, resource_id, message)
    if cls is errors.InvalidArgument:
        return errors.InvalidArgument(violations or [errors.FieldViolation("request", message)])
    if cls is None:
        return errors.AgentSuiteError(message, reason=reason or code.name, metadata=metadata)
    return cls(message, reason=reason, metadata=metadata)


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed
