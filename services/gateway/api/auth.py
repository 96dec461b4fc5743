"""Authentication at the edge: every RPC but health and reflection needs a valid API key, and the
key alone decides the tenant.

One exception: a backend (the agent service, when an agent messages another agent) calls the
conversation API with ``authorization: Service <internal token>``, names the tenant it acts for in
``x-agentsuite-tenant``, the agents waiting on the call in ``x-agentsuite-call-chain`` and the
sending run in ``x-agentsuite-parent-run``. Only
holders of the internal token can do that, and only for conversations: a client's call starts a
chain of its own, whatever metadata it sends.

An interceptor rather than a call in each handler, so no handler (nor the transparent forwarder,
nor an RPC not implemented yet) can be reached without it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import grpc

from services.common.call import (
    CALL_CHAIN_KEY,
    PARENT_RUN_KEY,
    TENANT_KEY,
    CallScope,
    enter_call,
    parse_call_chain,
)
from services.common.server import failure_status
from services.gateway.core.keys import ApiKeys

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
SERVICE_CALL_PREFIX = "/agentsuite.gateway.v1.ConversationService/"


class EdgeAuthentication(grpc.aio.ServerInterceptor):
    def __init__(self, keys: ApiKeys, internal_token: str):
        self._keys = keys
        self._service_authorization = f"Service {internal_token}".encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        metadata = dict(details.invocation_metadata or ())
        authorization = metadata.get("authorization")
        keys = self._keys
        service_scope = None
        if details.method.startswith(SERVICE_CALL_PREFIX) and self._is_service(authorization):
            service_scope = CallScope(
                tenant=metadata.get(TENANT_KEY),
                call_chain=parse_call_chain(metadata.get(CALL_CHAIN_KEY, "")),
                parent_run_id=metadata.get(PARENT_RUN_KEY) or None,
                authenticated=True,
            )

        async def authenticate(context: grpc.aio.ServicerContext) -> None:
            if service_scope is not None and service_scope.tenant:
                enter_call(service_scope)
                return
            try:
                tenant = await keys.tenant_for(authorization)
            except Exception as exc:  # the database down is UNAVAILABLE, never the driver's text
                await context.abort_with_status(failure_status(exc, "authentication"))
            enter_call(CallScope(tenant=tenant, authenticated=True))

        if handler.unary_unary:
            inner_unary = handler.unary_unary

            async def unary_unary(request, context):
                await authenticate(context)
                return await inner_unary(request, context)

            return handler._replace(unary_unary=unary_unary)
        if handler.unary_stream:
            inner_stream = handler.unary_stream

            async def unary_stream(request, context):
                await authenticate(context)
                async for response in inner_stream(request, context):
                    yield response

            return handler._replace(unary_stream=unary_stream)
        if handler.stream_unary:
            inner_client_stream = handler.stream_unary

            async def stream_unary(requests, context):
                await authenticate(context)
                return await inner_client_stream(requests, context)

            return handler._replace(stream_unary=stream_unary)
        inner_bidi = handler.stream_stream

        async def stream_stream(requests, context):
            await authenticate(context)
            async for response in inner_bidi(requests, context):
                yield response

        return handler._replace(stream_stream=stream_stream)

    def _is_service(self, authorization: str | None) -> bool:
        return authorization is not None and hmac.compare_digest(
            authorization.encode(), self._service_authorization
        )
