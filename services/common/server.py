"""The lifecycle every service shares: one grpc.aio server with health, reflection, telemetry,
keepalive and size limits, domain errors turned into statuses, and a graceful stop on SIGTERM.

A service's ``__main__`` builds its servicers and calls :func:`run_service`; nothing here knows
which service it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common import errors
from services.common.call import (
    CALL_CHAIN_KEY,
    REQUEST_ID_KEY,
    TENANT_KEY,
    TRACE_ID_KEY,
    TRACEPARENT_KEY,
    CallScope,
    current_call,
    enter_call,
    new_trace_id,
    parse_call_chain,
    trace_id_of,
)
from services.common.db import domain_error
from services.common.metrics import record_rpc_server
from services.common.reflection import enable_reflection
from services.common.settings import Settings
from services.common.status import internal_status, to_status
from services.common.telemetry import current_trace_id, traces_recorded
from services.common.tls import server_credentials
from services.common.tracing import end_rpc_span, rpc_server_span

log = logging.getLogger(__name__)


def grpc_options(settings: Settings) -> list[tuple[str, int]]:
    """Channel arguments shared by servers and client channels."""
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def _server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        *grpc_options(settings),
        # A PING a second, the most a gRPC (C-core) channel sends, whatever our own interval: a peer
        # set shorter than us (one process tuned alone, a rolling change of the setting) would
        # otherwise be told GOAWAY too_many_pings after three early PINGs and lose its connection.
        ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
        ("grpc.so_reuseport", 0),
        # Calls the transport accepted but the event loop has not picked up yet. Past the default
        # (1,000 soft, 3,000 hard) C-core cancels them: a burst of 2,000 conversations opening, or
        # 5,000 messages at once, would lose calls the gateway's own queues would have taken.
        ("grpc.server.max_pending_requests", 20_000),
        ("grpc.server.max_pending_requests_hard_limit", 40_000),
    ]


def _metadata_of(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {key: value for key, value in (context.invocation_metadata() or ())}


def _scope_of(context: grpc.aio.ServicerContext, metadata: dict[str, str]) -> CallScope:
    remaining = context.time_remaining()
    edge = current_call()
    if edge.authenticated:  # at the gateway these come from authentication, never from a client
        tenant, chain, parent_run_id = edge.tenant, edge.call_chain, edge.parent_run_id
    else:  # a backend: only the suite's own services reach it, and they say who the call is for
        tenant = metadata.get(TENANT_KEY)
        chain = parse_call_chain(metadata.get(CALL_CHAIN_KEY, ""))
        parent_run_id = None  # only the gateway records runs
    return CallScope(
        tenant=tenant or None,
        deadline=None if remaining is None else time.monotonic() + remaining,
        call_chain=chain,
        request_id=metadata.get(REQUEST_ID_KEY) or None,
        parent_run_id=parent_run_id,
        trace_id=None if traces_recorded() else _trace_id(metadata),
    )


def _trace_id(metadata: dict[str, str]) -> str:
    """The caller's trace id, or a new trace when it sent none."""
    return trace_id_of(metadata.get(TRACEPARENT_KEY)) or new_trace_id()


def failure_status(exc: BaseException, rpc: str) -> grpc.Status:
    """The status that answers an RPC failing with ``exc``, logged once.

    A domain error answers its own code; a driver error is translated first (a lost database
    connection is UNAVAILABLE, a statement timeout DEADLINE_EXCEEDED). Anything else is a bug:
    INTERNAL with a generic message, the traceback going to the log under the call's trace id, so no
    SQL, parameter, class name or stack frame ever reaches a client.
    """
    error = exc if isinstance(exc, errors.AgentSuiteError) else domain_error(exc)
    if error is None:
        log.error("unexpected error in rpc", exc_info=exc, extra={"rpc": rpc})
        return internal_status()
    if isinstance(
        error, errors.Unimplemented | errors.InvalidArgument | errors.NotFound | errors.Unauthenticated
    ):
        log.info("rpc refused", extra={"rpc": rpc, "error": error.message})
    else:
        log.warning("rpc failed", extra={"rpc": rpc, "error": error.message, "reason": error.reason})
    return to_status(error)


def _answer(exc: BaseException, method: str, at_edge: bool) -> grpc.Status:
    """``failure_status``, with the trace id kept beside its details at the edge."""
    status = failure_status(exc, method)
    if not at_edge:
        return status
    return _Status(status.code, status.details, (*status.trailing_metadata, *_trace_metadata()))


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple


def rpc_handler(method: Callable, rpc: str = "") -> Callable:
    """Wrap one servicer method: set the call scope, turn domain errors into rich statuses, measure
    it (``rpc.server.duration`` of ``rpc``, ``/package.Service/Method``) and, at the edge, tell the
    caller its trace id.

    Works for unary handlers (coroutines) and streaming handlers (async generators).
    """
    name = method.__qualname__
    service, _, method_name = rpc.strip("/").partition("/")
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self, request, context) -> AsyncIterator:
            # grpc.aio serves each RPC in a task of its own, so the scope ends with the task; no
            # reset, which could run in another context when a cancelled stream is finalised.
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            metadata = _metadata_of(context)
            at_edge = current_call().authenticated  # the gateway authenticated this call
            enter_call(_scope_of(context, metadata))
            with rpc_server_span(service, method_name, metadata) as span:
                try:
                    if at_edge:
                        await context.send_initial_metadata(_trace_metadata())
                    async with contextlib.aclosing(method(self, request, context)) as responses:
                        async for response in responses:
                            yield response
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except grpc.aio.AbortError:
                    code = context.code() or grpc.StatusCode.UNKNOWN
                    raise
                except Exception as exc:
                    status = _answer(exc, name, at_edge)
                    code = status.code
                    await context.abort_with_status(status)
                finally:
                    record_rpc_server(service, method_name, _number(code), time.perf_counter() - started)
                    end_rpc_span(span, _number(code), ends=False)

        return stream_wrapper

    @functools.wraps(method)
    async def unary_wrapper(self, request, context):
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        metadata = _metadata_of(context)
        at_edge = current_call().authenticated  # the gateway authenticated this call
        enter_call(_scope_of(context, metadata))
        with rpc_server_span(service, method_name, metadata) as span:
            if at_edge:
                context.set_trailing_metadata(_trace_metadata())
            try:
                return await method(self, request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception as exc:
                status = _answer(exc, name, at_edge)
                code = status.code
                await context.abort_with_status(status)
            finally:
                record_rpc_server(service, method_name, _number(code), time.perf_counter() - started)
                end_rpc_span(span, _number(code), ends=False)

    return unary_wrapper


def _number(code) -> int:
    """The number of a status code (grpc.aio reports an aborted call's code as an int or an enum)."""
    return code if isinstance(code, int) else code.value[0]


def _trace_metadata() -> tuple[tuple[str, str], ...]:
    trace_id = current_trace_id()
    return ((TRACE_ID_KEY, trace_id),) if trace_id else ()


def servicer(cls: type) -> type:
    """Class decorator: wrap every RPC method of the class with :func:`rpc_handler`, and answer
    every RPC of the contract it does not define with a plain ``UNIMPLEMENTED``.

    Handlers may come from plain mixin classes (one per area of a large service); only the
    generated ``*Servicer`` bases count as "not defined".
    """
    contract = [base for base in cls.__mro__[1:] if base.__module__.endswith("_pb2_grpc")]
    for base in contract:
        for name in vars(base):
            if not name[:1].isupper() or hasattr(getattr(cls, name), "__wrapped__"):
                continue
            member = getattr(cls, name)
            defined = not any(member is vars(generated).get(name) for generated in contract)
            is_handler = inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)
            if defined and is_handler:
                setattr(cls, name, rpc_handler(member, _path(base, name)))
            else:
                rpc = f"{base.__name__.removesuffix('Servicer')}.{name}"
                unimplemented = _unimplemented(rpc, _server_streaming(base, name))
                setattr(cls, name, rpc_handler(unimplemented, _path(base, name)))
    return cls


def _path(base: type, name: str) -> str:
    """``/package.Service/Method`` of RPC ``name`` of a generated ``*Servicer``."""
    messages = sys.modules[base.__module__.removesuffix("_grpc")]
    service = messages.DESCRIPTOR.services_by_name[base.__name__.removesuffix("Servicer")]
    return f"/{service.full_name}/{name}"


def _server_streaming(base: type, name: str) -> bool:
    """Whether RPC ``name`` of a generated ``*Servicer`` streams its responses (per its descriptor)."""
    messages = sys.modules[base.__module__.removesuffix("_grpc")]
    service = messages.DESCRIPTOR.services_by_name[base.__name__.removesuffix("Servicer")]
    return service.methods_by_name[name].server_streaming


def _unimplemented(rpc: str, server_streaming: bool) -> Callable:
    # grpc.aio iterates the handler of a response-streaming RPC: it must be an async generator.
    def refuse():
        raise errors.Unimplemented(
            f"{rpc} is part of the contract but not implemented yet", reason="UNIMPLEMENTED"
        )

    async def handler(self, request, context):
        refuse()

    async def stream_handler(self, request, context):
        refuse()
        yield  # unreachable: makes this an async generator

    return stream_handler if server_streaming else handler


@dataclass(frozen=True)
class Registration:
    """One proto service to serve: its full name and how to add its servicer to a server."""

    full_name: str
    add: Callable[[grpc.aio.Server], None]

    @classmethod
    def of(
        cls, file_descriptor, service: str, add_servicer: Callable, implementation: object
    ) -> Registration:
        """The registration of ``implementation`` for ``service`` of a generated ``*_pb2`` file."""
        full_name = file_descriptor.services_by_name[service].full_name
        return cls(full_name, lambda server: add_servicer(implementation, server))


class ServiceHost:
    """A started grpc.aio server with health and reflection; stop it with :meth:`stop`."""

    def __init__(
        self,
        settings: Settings,
        registrations: Sequence[Registration],
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ):
        self.settings = settings
        self._registrations = list(registrations)
        self.server = grpc.aio.server(interceptors=interceptors, options=_server_options(settings))
        self.health = health.aio.HealthServicer()
        self.port = 0

    async def start(self) -> int:
        for registration in self._registrations:
            registration.add(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [r.full_name for r in self._registrations]
        enable_reflection(self.server, [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name])
        credentials = server_credentials(self.settings)
        if credentials is None:
            self.port = self.server.add_insecure_port(self.settings.listen_address)
        else:
            self.port = self.server.add_secure_port(self.settings.listen_address, credentials)
        if self.port == 0:
            raise errors.Unavailable(f"cannot listen on {self.settings.listen_address}")
        await self.server.start()
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self) -> None:
        """Drain: report NOT_SERVING, wait for the balancer to notice, then stop with a grace period."""
        await self.health.enter_graceful_shutdown()
        if self.settings.drain_seconds:
            await asyncio.sleep(self.settings.drain_seconds)
        await self.server.stop(self.settings.grace_seconds)


async def run_service(
    settings: Settings,
    registrations: Sequence[Registration],
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and run ``on_stop``."""
    host = ServiceHost(settings, registrations, interceptors)
    port = await host.start()
    log.info(
        "serving",
        extra={"address": f"{settings.host}:{port}", "services": [r.full_name for r in registrations]},
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("stopping")
    await host.stop()
    if on_stop is not None:
        await on_stop()
    log.info("stopped")
