"""Client channels to other services: keepalive, size limits, tracing, declared retries, and
deadlines and metadata taken from the call being served.

Transport retries live in the channel's service config and cover only the idempotent methods a
client names; nothing else retries the same call (tenacity is for the database and the LLM).

Every channel resolves all the addresses of its target (``host:port`` is ``dns:///host:port``) and
balances calls over them with ``round_robin``: behind a headless Kubernetes Service a name resolves
to every pod, and one HTTP/2 connection would otherwise pin all calls to one of them. A loopback or
IP address resolves to itself, so nothing changes there. With ``AGENTSUITE_TLS_CA_FILE`` channels
use TLS (``services.common.tls``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import grpc

from services.common.call import (
    CALL_CHAIN_KEY,
    REQUEST_ID_KEY,
    TENANT_KEY,
    TRACEPARENT_KEY,
    CallScope,
    current_call,
)
from services.common.metrics import record_rpc_client
from services.common.server import grpc_options
from services.common.settings import Settings
from services.common.status import from_rpc_error
from services.common.telemetry import traces_recorded
from services.common.tls import channel_credentials
from services.common.tracing import end_rpc_span, rpc_client_span, span_metadata

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config(idempotent: Mapping[str, Iterable[str]]) -> str:
    """A gRPC service config that balances calls over every resolved address and retries
    ``UNAVAILABLE`` for the given ``{service: [methods]}``."""
    names = [
        {"service": service, "method": method}
        for service, methods in idempotent.items()
        for method in methods
    ]
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": []}
    if names:
        config["methodConfig"].append({"name": names, "retryPolicy": RETRY_POLICY})
    return json.dumps(config)


def create_channel(
    target: str, settings: Settings, *, idempotent: Mapping[str, Iterable[str]] | None = None
) -> grpc.aio.Channel:
    """One long-lived channel to ``target``; share it, it multiplexes every call."""
    options = [
        *grpc_options(settings),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(idempotent or {})),
    ]
    return dial(target, settings, options=options)


def dial(
    target: str,
    settings: Settings,
    *,
    options: Iterable[tuple[str, Any]] = (),
    interceptors: Iterable[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A channel to ``target``, with TLS when the settings name a CA (the one place that decides)."""
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=list(options), interceptors=list(interceptors))
    return grpc.aio.secure_channel(
        target, credentials, options=list(options), interceptors=list(interceptors)
    )


def outgoing_metadata(scope: CallScope) -> tuple[tuple[str, str], ...]:
    """Tenant, call chain, request id and trace id of the current call, for a downstream call."""
    metadata = []
    if scope.tenant:
        metadata.append((TENANT_KEY, scope.tenant))
    if scope.call_chain:
        metadata.append((CALL_CHAIN_KEY, ",".join(scope.call_chain)))
    if scope.request_id:
        metadata.append((REQUEST_ID_KEY, scope.request_id))
    if scope.trace_id and not traces_recorded():  # a recorded span travels with measured_call
        metadata.append((TRACEPARENT_KEY, scope.traceparent()))
    return tuple(metadata)


@contextlib.contextmanager
def measured_call(path: str) -> Iterator[tuple[tuple[str, str], ...]]:
    """Measure (``rpc.client.duration``) and trace the call to ``path`` (``/package.Service/Method``)
    made in the block, with the status it ended with. Yields the metadata that carries the call's
    span to the callee (add it to the call's metadata)."""
    service, _, method = path.strip("/").partition("/")
    span = rpc_client_span(service, method)
    started = time.perf_counter()
    code = 0
    try:
        yield span_metadata(span)
    except grpc.aio.AioRpcError as exc:
        code = exc.code().value[0]
        raise
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED.value[0]
        raise
    finally:
        record_rpc_client(service, method, code, time.perf_counter() - started)
        end_rpc_span(span, code, ends=True)


def path_of(rpc) -> str:
    """The ``/package.Service/Method`` a grpc.aio multi-callable calls."""
    method = getattr(rpc, "_method", b"")
    return method.decode() if isinstance(method, bytes) else str(method)


class ServiceClient:
    """Base of the per-service client wrappers: every call gets the remaining deadline and the
    current call's metadata, and a failure comes back as the domain error it stands for."""

    def __init__(self, channel: grpc.aio.Channel, settings: Settings):
        self._channel = channel
        self._default_timeout = settings.default_deadline_seconds

    def _timeout(self, scope: CallScope, timeout: float | None) -> float:
        remaining = scope.remaining(self._default_timeout)
        return remaining if timeout is None else min(timeout, remaining)

    async def _unary(self, rpc: grpc.aio.UnaryUnaryMultiCallable, request, *, timeout: float | None = None):
        scope = current_call()
        try:
            with measured_call(path_of(rpc)) as traced:
                return await rpc(
                    request, timeout=self._timeout(scope, timeout), metadata=outgoing_metadata(scope) + traced
                )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None

    async def _stream(
        self, rpc: grpc.aio.UnaryStreamMultiCallable, request, *, timeout: float | None = None
    ) -> AsyncIterator:
        scope = current_call()
        try:
            with measured_call(path_of(rpc)) as traced:
                call = rpc(
                    request, timeout=self._timeout(scope, timeout), metadata=outgoing_metadata(scope) + traced
                )
                try:
                    async for response in call:
                        yield response
                finally:
                    call.cancel()
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None

    async def close(self) -> None:
        await self._channel.close()
