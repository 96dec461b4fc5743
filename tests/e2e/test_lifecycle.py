"""What every service process promises operators: reflection, health with a drain on SIGTERM, and
a clean exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.ports import free_port


async def test_gateway_reflection_lists_the_public_services_and_no_internal_runtime(running_suite):
    async with grpc.aio.insecure_channel(running_suite.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {
            service.name async for reply in responses for service in reply.list_services_response.service
        }

    assert {
        "agentsuite.gateway.v1.ConversationService",
        "agentsuite.agent.v1.AgentService",
        "agentsuite.memory.v1.MemoryService",
        "agentsuite.tools.v1.ToolService",
        "grpc.health.v1.Health",
    } <= names
    assert not any(name.endswith("Runtime") for name in names)


async def test_sigterm_reports_not_serving_while_draining_then_exits_cleanly(database_url):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AGENTSUITE_PORT": str(port),
        "AGENTSUITE_DRAIN_SECONDS": "2",
    }
    process = subprocess.Popen([sys.executable, "-m", "services.memory"], env=env, stderr=subprocess.DEVNULL)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert await _status(health, until=health_pb2.HealthCheckResponse.SERVING) == "SERVING"

            process.send_signal(signal.SIGTERM)

            assert await _status(health, until=health_pb2.HealthCheckResponse.NOT_SERVING) == "NOT_SERVING"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def _status(health, *, until: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
            if reply.status == until:
                return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.05)
    return "timed out"
