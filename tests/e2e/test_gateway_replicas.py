"""The multi-replica harness itself: extra gateway processes on one database and one set of backends,
which a test can pause, kill and restart. The lease and takeover tests of the gateway build on it."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from e2e_client import create_agent, user

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc

CALL_TIMEOUT_S = 10.0


async def _send(address: str, auth, agent_id: str, text: str) -> gateway_service_pb2.SendMessageResponse:
    # A fresh channel per call: a restarted replica is reachable at once, without reconnect backoff.
    async with grpc.aio.insecure_channel(address) as channel:
        conversation = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        reply = await conversation.SendMessage(
            gateway_service_pb2.SendMessageRequest(agent_id=agent_id, messages=[user(text)]),
            metadata=auth,
            timeout=CALL_TIMEOUT_S,
        )
    assert reply.run.stop_reason == common_pb2.STOP_REASON_END_TURN
    return reply


def _state(pid: int) -> str:
    """The process state letter from /proc (``T`` = stopped by a signal)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("State:"):
            return line.split()[1]
    raise AssertionError(f"no State in /proc/{pid}/status")


async def test_replicas_serve_one_agent_and_survive_a_pause_a_kill_and_a_restart(
    running_suite, replicas, gateway, tenant
):
    first, second = await replicas.start_many(2, env={"AGENTSUITE_LEASE_TTL_SECONDS": "1"})
    assert len({running_suite.address, first.address, second.address}) == 3
    assert first.environment()["AGENTSUITE_LEASE_TTL_SECONDS"] == "1"
    agent = await create_agent(gateway, tenant, f"m-{uuid.uuid4().hex}")

    await _send(first.address, tenant, agent.id, "via the first replica")
    await _send(second.address, tenant, agent.id, "via the second replica")

    second.pause()
    assert second.paused and _state(second.pid) == "T"
    await _send(first.address, tenant, agent.id, "while the second is paused")
    # Another agent: the paused process may still read this request once it resumes.
    bystander = await create_agent(gateway, tenant, f"m-{uuid.uuid4().hex}")
    async with grpc.aio.insecure_channel(second.address) as channel:
        stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        request = gateway_service_pb2.SendMessageRequest(agent_id=bystander.id, messages=[user("unheard")])
        with pytest.raises(grpc.aio.AioRpcError) as paused:
            await stub.SendMessage(request, metadata=tenant, timeout=0.5)
        assert paused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    second.resume()
    assert not second.paused and _state(second.pid) != "T"
    await _send(second.address, tenant, agent.id, "after the second resumed")

    pid = second.pid
    second.kill()
    assert not second.running
    await _send(first.address, tenant, agent.id, "after the second was killed")
    await second.start()
    assert second.pid != pid
    await _send(second.address, tenant, agent.id, "after the second restarted")

    memory = memory_service_pb2_grpc.MemoryServiceStub(gateway)
    history = await memory.ListMessages(
        memory_service_pb2.ListMessagesRequest(agent_id=agent.id, roles=[common_pb2.MESSAGE_ROLE_USER]),
        metadata=tenant,
    )
    assert [m.content for m in history.messages] == [
        "via the first replica",
        "via the second replica",
        "while the second is paused",
        "after the second resumed",
        "after the second was killed",
        "after the second restarted",
    ]
