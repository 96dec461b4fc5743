"""The ``servicer`` decorator and the call scope, through a real in-process server and channel."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.tools.v1 import tools_service_pb2, tools_service_pb2_grpc
from services.common import telemetry
from services.common.call import (
    CALL_CHAIN_KEY,
    REQUEST_ID_KEY,
    TENANT_KEY,
    TRACEPARENT_KEY,
    CallScope,
    current_call,
    require_tenant,
)
from services.common.channels import outgoing_metadata
from services.common.errors import Unauthenticated
from services.common.server import Registration, ServiceHost, servicer
from services.common.settings import Settings
from services.common.status import from_rpc_error


@servicer
class EmptyTools(tools_service_pb2_grpc.ToolServiceServicer):
    """Defines no RPC: every one must answer UNIMPLEMENTED."""


@servicer
class EmptyToolRuntime(tools_service_pb2_grpc.ToolRuntimeServicer):
    """Defines no RPC: every one must answer UNIMPLEMENTED."""


def tool_registrations() -> list[Registration]:
    file = tools_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file, "ToolService", tools_service_pb2_grpc.add_ToolServiceServicer_to_server, EmptyTools()
        ),
        Registration.of(
            file, "ToolRuntime", tools_service_pb2_grpc.add_ToolRuntimeServicer_to_server, EmptyToolRuntime()
        ),
    ]


@asynccontextmanager
async def recorded_traces() -> AsyncIterator[None]:
    """As in a process with an OTLP exporter: servers and channels get the tracing interceptors."""
    telemetry._recording = True
    try:
        yield
    finally:
        telemetry._recording = False


@asynccontextmanager
async def hosting(
    registrations: list[Registration], *, tracing: bool = False
) -> AsyncIterator[grpc.aio.Channel]:
    settings = Settings(service="test", port=0, tracing=tracing, grace_seconds=0)
    host = ServiceHost(settings, registrations)
    port = await host.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await host.stop()


async def test_rpc_the_class_does_not_define_answers_unimplemented_naming_the_rpc():
    async with hosting(tool_registrations()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tools_service_pb2_grpc.ToolServiceStub(channel).ListTools(
                tools_service_pb2.ListToolsRequest(), timeout=5
            )

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ToolService.ListTools" in caught.value.details()
    assert "not implemented" in caught.value.details()
    assert from_rpc_error(caught.value).reason == "UNIMPLEMENTED"


@servicer
class EmptyConversation(gateway_service_pb2_grpc.ConversationServiceServicer):
    """Defines no RPC: the streaming ones must answer UNIMPLEMENTED too."""


async def test_streaming_rpcs_the_class_does_not_define_answer_unimplemented_through_interceptors():
    registration = Registration.of(
        gateway_service_pb2.DESCRIPTOR,
        "ConversationService",
        gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server,
        EmptyConversation(),
    )
    # The tracing interceptor iterates a streaming handler: a plain coroutine there is UNKNOWN.
    async with recorded_traces(), hosting([registration], tracing=True) as channel:
        stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as server_stream:
            async for _ in stub.Broadcast(gateway_service_pb2.BroadcastRequest(), timeout=5):
                pass
        with pytest.raises(grpc.aio.AioRpcError) as bidi:
            async for _ in stub.Converse(iter([gateway_service_pb2.ConverseRequest()]), timeout=5):
                pass

    assert server_stream.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ConversationService.Broadcast" in server_stream.value.details()
    assert bidi.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ConversationService.Converse" in bidi.value.details()


async def test_each_service_names_its_own_rpc_when_unimplemented():
    async with hosting(tool_registrations()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await tools_service_pb2_grpc.ToolRuntimeStub(channel).Execute(
                tools_service_pb2.ExecuteRequest(), timeout=5
            )

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ToolRuntime.Execute" in caught.value.details()


async def test_unimplemented_streaming_rpc_answers_unimplemented_too():
    @servicer
    class EmptyConversations(gateway_service_pb2_grpc.ConversationServiceServicer):
        pass

    conversations = EmptyConversations()
    registration = Registration(
        "agentsuite.gateway.v1.ConversationService",
        lambda server: gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server(
            conversations, server
        ),
    )
    async with hosting([registration]) as channel:
        call = gateway_service_pb2_grpc.ConversationServiceStub(channel).WatchRun(
            gateway_service_pb2.WatchRunRequest(), timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ConversationService.WatchRun" in caught.value.details()


async def test_host_reports_serving_for_the_whole_server_and_each_registered_service():
    async with hosting(tool_registrations()) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        statuses = {
            name: (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)).status
            for name in ("", "agentsuite.tools.v1.ToolService", "agentsuite.tools.v1.ToolRuntime")
        }

    assert set(statuses.values()) == {health_pb2.HealthCheckResponse.SERVING}


# --- the call scope -----------------------------------------------------------------------------


@servicer
class ScopeRecorder(tools_service_pb2_grpc.ToolServiceServicer):
    """Records the call scope its handler saw, and whether a tenant was required and present."""

    def __init__(self) -> None:
        self.seen: CallScope | None = None

    async def GetTool(self, request, context):
        self.seen = current_call()
        require_tenant()
        return tools_service_pb2.GetToolResponse()


@asynccontextmanager
async def recording() -> AsyncIterator[tuple[ScopeRecorder, tools_service_pb2_grpc.ToolServiceStub]]:
    recorder = ScopeRecorder()
    registration = Registration(
        "agentsuite.tools.v1.ToolService",
        lambda server: tools_service_pb2_grpc.add_ToolServiceServicer_to_server(recorder, server),
    )
    async with hosting([registration]) as channel:
        yield recorder, tools_service_pb2_grpc.ToolServiceStub(channel)


async def test_handler_sees_tenant_call_chain_request_id_and_deadline_from_the_call():
    async with recording() as (recorder, stub):
        sent_at = time.monotonic()
        await stub.GetTool(
            tools_service_pb2.GetToolRequest(),
            timeout=7,
            metadata=((TENANT_KEY, "acme"), (CALL_CHAIN_KEY, "agent-a,agent-b"), (REQUEST_ID_KEY, "req-1")),
        )

    scope = recorder.seen
    assert scope is not None
    assert scope.tenant == "acme"
    assert scope.call_chain == ("agent-a", "agent-b")
    assert scope.request_id == "req-1"
    assert scope.deadline is not None
    assert sent_at + 6 < scope.deadline <= sent_at + 7.5


async def test_a_call_continues_its_callers_trace_and_passes_it_downstream():
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with recording() as (recorder, stub):
        await stub.GetTool(
            tools_service_pb2.GetToolRequest(),
            timeout=5,
            metadata=((TENANT_KEY, "acme"), (TRACEPARENT_KEY, f"00-{caller_trace}-00f067aa0ba902b7-01")),
        )
        continued_trace = recorder.seen.trace_id
        await stub.GetTool(tools_service_pb2.GetToolRequest(), timeout=5, metadata=((TENANT_KEY, "acme"),))
        fresh_trace = recorder.seen.trace_id
        await stub.GetTool(
            tools_service_pb2.GetToolRequest(),
            timeout=5,
            metadata=((TENANT_KEY, "acme"), (TRACEPARENT_KEY, f"00-{'0' * 32}-00f067aa0ba902b7-01")),
        )
        invalid_trace = recorder.seen.trace_id

    assert continued_trace == caller_trace
    downstream = dict(outgoing_metadata(CallScope(tenant="acme", trace_id=caller_trace)))
    assert downstream[TRACEPARENT_KEY].startswith(f"00-{caller_trace}-")
    assert len(fresh_trace) == 32 and fresh_trace != caller_trace, "a call without one starts a trace"
    assert len(invalid_trace) == 32 and invalid_trace != "0" * 32


async def test_call_without_metadata_or_timeout_has_an_empty_scope_and_no_tenant():
    async with recording() as (recorder, stub):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetTool(tools_service_pb2.GetToolRequest())

    assert recorder.seen == CallScope(trace_id=recorder.seen.trace_id), "nothing but a new trace"
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert isinstance(from_rpc_error(caught.value), Unauthenticated)
    assert from_rpc_error(caught.value).reason == "NO_TENANT"


def test_remaining_time_counts_down_to_the_deadline_and_never_below_zero():
    assert CallScope().remaining(default=30.0) == 30.0
    assert 9.0 < CallScope(deadline=time.monotonic() + 10).remaining(default=30.0) <= 10.0
    assert CallScope(deadline=time.monotonic() - 5).remaining(default=30.0) == 0.0
