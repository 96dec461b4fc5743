"""One check at the edge for every public RPC, before its handler runs.

grpc.aio decodes a request before any handler (or interceptor wrapper) sees it, and answers a
request that does not decode with ``UNKNOWN`` naming the parser's exception. So this interceptor
gives every public method (the conversation API and the three forwarded ones alike) a request
deserializer of its own that never raises: it decodes the bytes as the method's request type
(also for the forwarder, which then relays the same bytes), walks the message with
``services.common.request_values``, refuses the internal fields a client may not set, and hands the
handler either the request or a :class:`Refusal`. The wrappers below answer a refusal with
``INVALID_ARGUMENT`` (with ``BadRequest`` field violations) before the handler runs; for a client
stream (``Converse``), reading a refused message raises the same error in the handler.

Bytes that do not decode include a string that is not UTF-8 and nesting deeper than protobuf's
limit of 100: the parser says no more than that, and neither do we.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from google.protobuf.message import DecodeError

from services.common.errors import FieldViolation, InvalidArgument
from services.common.request_values import message_violations
from services.common.status import internal_status, to_status

log = logging.getLogger(__name__)

INTERNAL_FIELDS: dict[str, tuple[str, ...]] = {
    "agentsuite.memory.v1.EditBlockRequest": ("epoch", "run_id"),
    "agentsuite.memory.v1.InsertPassagesRequest": ("epoch",),
}
"""Request fields only the suite's own services set (on their direct calls to memory, never through
the gateway): the fencing epoch of an agent's lease, and the run an edit belongs to. From a client,
an epoch past the lease's would fence the agent's own runs out for good."""


@dataclass(frozen=True)
class Refusal:
    """What the deserializer hands the handler instead of a request it refused."""

    error: InvalidArgument | None
    """Why; None when checking itself failed (a bug, answered INTERNAL)."""


class RequestCheck:
    """The request deserializer of one public method."""

    def __init__(self, descriptor: Descriptor, *, keep_bytes: bool):
        self._type = message_factory.GetMessageClass(descriptor)
        self._name = descriptor.full_name
        self._internal = INTERNAL_FIELDS.get(descriptor.full_name, ())
        self._keep_bytes = keep_bytes

    def __call__(self, data: bytes):
        try:
            try:
                message = self._type.FromString(data)
            except DecodeError:
                return Refusal(
                    InvalidArgument.field(
                        "request",
                        f"is not a valid {self._name}: its bytes do not decode (malformed, "
                        "a string that is not UTF-8, or nested deeper than 100 levels)",
                    )
                )
            violations = message_violations(message)
            violations += [
                FieldViolation(name, "set only by the suite's own services, never through the gateway")
                for name in self._internal
                if getattr(message, name)
            ]
            if violations:
                return Refusal(InvalidArgument(violations))
        except Exception:  # a deserializer that raises would answer UNKNOWN with the exception's name
            log.exception("checking a request failed", extra={"request_type": self._name})
            return Refusal(None)
        return data if self._keep_bytes else message


class EdgeValidation(grpc.aio.ServerInterceptor):
    """Checks the request of every method of ``services`` before its handler runs."""

    def __init__(self, services: Iterable[ServiceDescriptor]):
        self._methods = {
            f"/{service.full_name}/{method.name}": method.input_type
            for service in services
            for method in service.methods
        }
        self._checks: dict[str, RequestCheck] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        descriptor = self._methods.get(details.method)
        if handler is None or descriptor is None:
            return handler
        check = self._checks.get(details.method)
        if check is None:  # the forwarder's handlers relay bytes, the conversation API's take messages
            keep_bytes = handler.request_deserializer is None
            check = self._checks[details.method] = RequestCheck(descriptor, keep_bytes=keep_bytes)
        if handler.unary_unary:
            inner_unary = handler.unary_unary

            async def unary_unary(request, context):
                if isinstance(request, Refusal):
                    await _refuse(context, request)
                return await inner_unary(request, context)

            return handler._replace(request_deserializer=check, unary_unary=unary_unary)
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def unary_stream(request, context):
                if isinstance(request, Refusal):
                    await _refuse(context, request)
                async for response in inner_stream(request, context):
                    yield response

            return handler._replace(request_deserializer=check, unary_stream=unary_stream)
        if handler.stream_unary:
            inner_client_stream = handler.stream_unary

            async def stream_unary(requests, context):
                try:
                    return await inner_client_stream(_checked(requests), context)
                except InvalidArgument as exc:  # a handler that let the refusal through
                    await _refuse(context, Refusal(exc))

            return handler._replace(request_deserializer=check, stream_unary=stream_unary)
        inner_bidi = handler.stream_stream

        async def stream_stream(requests, context):
            try:
                async for response in inner_bidi(_checked(requests), context):
                    yield response
            except InvalidArgument as exc:  # a handler that let the refusal through
                await _refuse(context, Refusal(exc))

        return handler._replace(request_deserializer=check, stream_stream=stream_stream)


async def _refuse(context: grpc.aio.ServicerContext, refusal: Refusal) -> None:
    if refusal.error is None:
        await context.abort_with_status(internal_status())
    log.info("request refused at the edge", extra={"error": refusal.error.message[:500]})
    await context.abort_with_status(to_status(refusal.error))


async def _checked(requests: AsyncIterator) -> AsyncIterator:
    """A client stream whose refused messages raise their error where the handler reads them (our
    handlers answer it as any domain error; the wrappers above answer it for any other)."""
    async for request in requests:
        if isinstance(request, Refusal):
            if request.error is None:
                raise RuntimeError("checking a request failed (logged)")
            raise request.error
        yield request
