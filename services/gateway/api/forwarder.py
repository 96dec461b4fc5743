"""Transparent forwarding of the backends' public APIs through the gateway.

Requests and responses pass as bytes (no decode, no re-encode). The caller's API key becomes the
tenant metadata, the remaining deadline goes along as the downstream timeout, the call chain and
request id travel on, and a downstream failure comes back with its code, message and
``google.rpc`` details untouched. Only the services listed here are reachable: the internal
runtimes are never exposed.
"""

from __future__ import annotations

import functools

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from services.common.call import current_call
from services.common.channels import measured_call, outgoing_metadata
from services.common.server import rpc_handler


class Forwarder:
    """Serves every method of some public services by relaying it to one backend channel."""

    def __init__(self, default_timeout: float):
        self._default_timeout = default_timeout

    def handler(self, service: ServiceDescriptor, channel: grpc.aio.Channel) -> grpc.GenericRpcHandler:
        handlers = {}
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            if method.client_streaming:
                continue  # no public backend API takes a client stream
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(self._stream(path, channel))
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(self._unary(path, channel))
        return grpc.method_handlers_generic_handler(service.full_name, handlers)

    def _unary(self, path: str, channel: grpc.aio.Channel):
        call = channel.unary_unary(path)  # no serializers: bytes in, bytes out

        async def forward(_, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            scope = current_call()
            try:
                with measured_call(path) as traced:
                    return await call(
                        request,
                        timeout=scope.remaining(self._default_timeout),
                        metadata=outgoing_metadata(scope) + traced,
                    )
            except grpc.aio.AioRpcError as exc:
                await _relay_error(context, exc, path)

        # A partial of a coroutine function is still recognised as async by grpc.aio.
        return functools.partial(rpc_handler(forward, path), None)

    def _stream(self, path: str, channel: grpc.aio.Channel):
        call = channel.unary_stream(path)

        async def forward(_, request: bytes, context: grpc.aio.ServicerContext):
            scope = current_call()
            try:
                with measured_call(path) as traced:
                    responses = call(
                        request,
                        timeout=scope.remaining(self._default_timeout),
                        metadata=outgoing_metadata(scope) + traced,
                    )
                    try:
                        async for response in responses:
                            yield response
                    finally:
                        responses.cancel()
            except grpc.aio.AioRpcError as exc:
                await _relay_error(context, exc, path)

        return functools.partial(rpc_handler(forward, path), None)


async def _relay_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError, path: str) -> None:
    details = tuple((k, v) for k, v in exc.trailing_metadata() or () if k == "grpc-status-details-bin")
    message = exc.details() or ""
    if not details and exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        # A transport failure, not the backend's own answer: its text names internal addresses.
        backend = path.split(".")[1]  # /agentsuite.<backend>.v1.XxxService/Method
        message = f"the {backend} service is unavailable; retry later"
        if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
            message = "the deadline passed before the backend answered"
    kept = tuple(context.trailing_metadata() or ())  # the trace id (see rpc_handler)
    await context.abort(exc.code(), message, trailing_metadata=details + kept)
