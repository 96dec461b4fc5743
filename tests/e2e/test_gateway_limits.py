"""The gateway's limits with real processes: the bounded buffers between a run and its readers (a
client that stops reading holds up no one), and the depth limit of agent-to-agent call chains
reached by a real chain of agents messaging each other through the gateway.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import grpc
import psutil
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.common.settings import Settings
from services.gateway.core.hub import WINDOW
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.run_checks import (
    CALL_TIMEOUT_S,
    conversation,
    echo,
    error_info,
    finished,
    history,
    kinds,
    model_name,
    runs_oldest_first,
    send,
    step_level,
    wait_for_run,
    watch,
)

COMPLETED = gateway_pb2.RUN_STATUS_COMPLETED
TOOL = common_pb2.MESSAGE_ROLE_TOOL
ASK = "send_message_to_agent_and_wait_for_reply"
STALLED_WATCHERS = 40
# A client that reads slowly: no bandwidth probing, so its HTTP/2 window stays at 16 KiB and the
# gateway's writes to it wait as soon as that much is unread (as they would for a stalled phone).
SLOW_CLIENT = (("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16 * 1024))


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
    assert f"call chain is at its limit of {depth}" in tool_results[-1]
    assert running_suite.llm.requests(models[depth]) == [], "the agent past the limit was never asked"
    assert too_deep.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(too_deep.value).reason == "CALL_DEPTH"
    assert await runs_oldest_first(gateway, tenant, agents[depth].id) == []


async def first_event(call) -> gateway_pb2.RunEvent:
    """The first event of a stream: proof the gateway follows the run for it."""
    response = await asyncio.wait_for(call.read(), CALL_TIMEOUT_S)
    assert response is not grpc.aio.EOF, "the stream ended early"
    return response.event


async def rest_of(call, *, within: float = 10.0) -> list[gateway_pb2.RunEvent]:
    """The events a stream still has, up to the run's finished event."""
    events = []
    deadline = time.monotonic() + within
    while not (events and events[-1].HasField("finished")):
        response = await asyncio.wait_for(call.read(), max(0.0, deadline - time.monotonic()))
        assert response is not grpc.aio.EOF, "the stream ended before the run's finished event"
        events.append(response.event)
    return events


def deltas(events: list[gateway_pb2.RunEvent]) -> list[str]:
    return [event.assistant_delta.text for event in events if event.HasField("assistant_delta")]


async def test_a_client_that_stops_reading_holds_up_neither_the_run_nor_its_other_readers_nor_the_next_message(
    running_suite, replicas, tenant
):
    replica = await replicas.start()  # a gateway of its own: its memory is this test's
    model = model_name()
    # Twice the hub's window of text deltas, each its own network write (1 ms apart): a reader
    # that stops reading falls out of the window long before the run ends.
    pieces = [f"{index:06d}" + "x" * 294 for index in range(2 * WINDOW)]
    reply = "".join(pieces)
    running_suite.llm.script(
        model, [{"content": reply, "chunk_size": 300, "chunk_delay_ms": 1, "latency_ms": 300}]
    )
    async with (
        grpc.aio.insecure_channel(replica.address) as other_client,
        grpc.aio.insecure_channel(replica.address, options=SLOW_CLIENT) as slow_client,
    ):
        agent = await create_agent(other_client, tenant, model, context_window=1_000_000)
        gateway_memory = psutil.Process(replica.pid)
        rss_before = gateway_memory.memory_info().rss
        started = time.monotonic()
        stalled_sender = conversation(slow_client).StreamMessage(
            gateway_service_pb2.StreamMessageRequest(agent_id=agent.id, messages=[user("talk a lot")]),
            metadata=tenant,
            timeout=60,
        )
        run_id = (await first_event(stalled_sender)).run_id
        stalled_watchers = [
            conversation(slow_client).WatchRun(
                gateway_service_pb2.WatchRunRequest(run_id=run_id), metadata=tenant, timeout=60
            )
            for _ in range(STALLED_WATCHERS)
        ]
        stalled_converse = conversation(slow_client).Converse(metadata=tenant, timeout=60)
        await stalled_converse.write(
            gateway_service_pb2.ConverseRequest(
                open=gateway_service_pb2.ConverseOpen(agent_id=agent.id, resume_run_id=run_id)
            )
        )
        stalled = [stalled_sender, *stalled_watchers, stalled_converse]
        await asyncio.gather(*(first_event(call) for call in stalled[1:]))
        # From here on none of them reads, until the run has finished.
        watched = asyncio.create_task(watch(other_client, tenant, run_id))
        next_message = asyncio.create_task(send(other_client, tenant, agent.id, "still there?"))
        rss_peak = rss_before
        while not watched.done():
            rss_peak = max(rss_peak, gateway_memory.memory_info().rss)
            await asyncio.sleep(0.02)
        done = await wait_for_run(other_client, tenant, run_id, finished)
        took = time.monotonic() - started
        seen, answered = await watched, await next_message
        stored = await watch(other_client, tenant, run_id)
        late = await asyncio.gather(*(rest_of(call) for call in stalled))
        await stalled_converse.done_writing()
        converse_end = await asyncio.wait_for(stalled_converse.read(), CALL_TIMEOUT_S)

    assert done.status == COMPLETED and took < 15, f"the run took {took:.1f} s"
    assert kinds(seen)[-1] == "finished" and seen[-1].finished.run.status == COMPLETED
    assert step_level(seen) == stored, "the other client's watch saw every stored event"
    assert "".join(deltas(seen)) == reply, "... and every delta: it kept up, no one held it back"
    assert answered.run.status == COMPLETED
    assert [m.content for m in answered.messages] == ["still there?", echo("still there?")]
    assert answered.run.start_time.ToNanoseconds() >= done.finish_time.ToNanoseconds()
    for events in late:
        # A stalled reader fell out of the window; reading again, it gets the rest from the database:
        # every step-level event, none twice, but not the deltas it missed (never stored).
        assert [e.seq for e in step_level(events)] == [e.seq for e in stored[1:]]
        assert step_level(events) == stored[1:]
        assert len(deltas(events)) < WINDOW, "the gateway kept no backlog of deltas for it"
    assert converse_end is grpc.aio.EOF
    grown = rss_peak - rss_before
    backlogs = len(stalled) * len(reply)
    assert grown < backlogs / 2, f"the gateway grew by {grown} bytes with {len(stalled)} stalled readers"
