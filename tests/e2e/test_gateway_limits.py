"""The gateway's limits with real processes: the depth limit of agent-to-agent call chains, reached
by a real chain of agents that message each other through the gateway.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.settings import Settings
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.run_checks import (
    CALL_TIMEOUT_S,
    conversation,
    error_info,
    history,
    model_name,
    runs_oldest_first,
    send,
)

COMPLETED = gateway_pb2.RUN_STATUS_COMPLETED
TOOL = common_pb2.MESSAGE_ROLE_TOOL
ASK = "send_message_to_agent_and_wait_for_reply"


def asks(target: str, message: str) -> dict:
    """A model reply that messages ``target`` and waits for its answer."""
    arguments = {"agent_id": target, "message": message}
    return {"tool_calls": [{"id": "call_1", "name": ASK, "arguments": arguments}]}


async def test_a_chain_of_agents_asking_each_other_is_refused_at_the_depth_limit_and_every_run_finishes(
    running_suite, gateway
):
    depth = Settings.from_env("agent", running_suite.suite.environment("agent")).max_call_depth
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    tenant = (("authorization", f"Bearer {await running_suite.new_key(tenant_id)}"),)
    # a1 -> a2 -> ... -> a<depth+1>: one agent more than a chain of waiting agents may hold. Each
    # asks the next, then says it is done with what it heard; the last is never asked.
    models = [model_name() for _ in range(depth + 1)]
    agents = [await create_agent(gateway, tenant, m, name=f"a{i + 1}") for i, m in enumerate(models)]
    for index, (model, target) in enumerate(zip(models[:-1], agents[1:], strict=True)):
        running_suite.llm.script(
            model, [asks(target.id, f"from a{index + 1}"), {"content": f"a{index + 1} done"}]
        )

    started = time.monotonic()
    response = await asyncio.wait_for(send(gateway, tenant, agents[0].id, "start the chain"), 30)
    took = time.monotonic() - started
    # What a<depth> would have sent, sent to the gateway directly: it refuses the same chain.
    as_agent_service = (
        ("authorization", f"Service {running_suite.suite.internal_token}"),
        ("x-agentsuite-tenant", tenant_id),
        ("x-agentsuite-call-chain", ",".join(agent.id for agent in agents[:depth])),
    )
    with pytest.raises(grpc.aio.AioRpcError) as too_deep:
        await conversation(gateway).SendMessage(
            gateway_service_pb2.SendMessageRequest(agent_id=agents[depth].id, messages=[user("deeper")]),
            metadata=as_agent_service,
            timeout=CALL_TIMEOUT_S,
        )

    assert response.run.status == COMPLETED and took < 15, f"the chain took {took:.1f} s"
    assert [m.content for m in response.messages if m.content][-1] == "a1 done"
    runs = [await runs_oldest_first(gateway, tenant, agent.id) for agent in agents]
    assert [len(agent_runs) for agent_runs in runs] == [1] * depth + [0], "one run each; the last never ran"
    assert all(run.status == COMPLETED and run.HasField("finish_time") for (run,) in runs[:depth])
    assert runs[0][0].parent_run_id == "", "the client's run has no parent"
    for (asker,), (asked,) in itertools.pairwise(runs[:depth]):
        assert asked.parent_run_id == asker.id, "each run names the run of the agent that asked"
    tool_results = []
    for agent in agents[:depth]:
        (result,) = [m.content for m in await history(gateway, tenant, agent.id) if m.role == TOOL]
        tool_results.append(result)
    # Each agent heard the next one's reply; the deepest one was refused before anything was sent.
    assert tool_results[:-1] == [f"a{index + 2} done" for index in range(depth - 1)]
    assert "refused" in tool_results[-1] and f"at its limit of {depth}" in tool_results[-1]
    assert running_suite.llm.requests(models[depth]) == [], "the agent past the limit was never asked"
    assert too_deep.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(too_deep.value).reason == "CALL_DEPTH"
    assert await runs_oldest_first(gateway, tenant, agents[depth].id) == []
