"""Crashes under running runs (issue 6, item 7): gateway replicas on one database keeping the lane
invariant, a replica paused past its lease that must not write after another took over, a killed
replica whose queued runs another one runs, a client whose replica is killed resuming on another,
and an agent or memory service killed mid-step and started again. Checked on persisted state:
memory's history, GetRun/ListRuns, stored events.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from tests.e2e.e2e_client import create_agent
from tests.e2e.run_checks import (
    ASSISTANT,
    CALL_TIMEOUT_S,
    USER,
    assert_each_prompt_saw_every_earlier_run,
    assert_one_run_at_a_time_in_order,
    conversation,
    create_run,
    echo,
    finished,
    get_run,
    history,
    kinds,
    model_name,
    runs_oldest_first,
    send,
    step_level,
    wait_for_llm_requests,
    wait_for_run,
    watch,
)

SHORT_LEASE = {"AGENTSUITE_LEASE_TTL_SECONDS": "1"}
COMPLETED = gateway_pb2.RUN_STATUS_COMPLETED
QUEUED = gateway_pb2.RUN_STATUS_QUEUED


async def wait_for_log(path: Path, text: str, *, within: float = 10.0) -> str:
    """The first line of a service's log containing ``text``; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        for line in _lines(path):
            if text in line:
                return line
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        await asyncio.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def told_messages(events: list[gateway_pb2.RunEvent]) -> list[common_pb2.Message]:
    """The history messages a run's events carry, in order."""
    kinds = ("message_persisted", "assistant_message")
    return [getattr(e, e.WhichOneof("event")) for e in events if e.WhichOneof("event") in kinds]


async def test_two_gateway_replicas_keep_one_agents_runs_one_at_a_time_in_acceptance_order(
    running_suite, replicas, gateway, tenant
):
    replica = await replicas.start(env=SHORT_LEASE)
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    texts = [f"message {index}" for index in range(40)]

    async with grpc.aio.insecure_channel(replica.address) as other:
        channels = (gateway, other)
        replies = await asyncio.gather(
            *(send(channels[index % 2], tenant, agent.id, text) for index, text in enumerate(texts))
        )

    for text, reply in zip(texts, replies, strict=True):
        assert [m.content for m in reply.messages] == [text, echo(text)]
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert {r.id for r in runs} == {reply.run.id for reply in replies} and len(runs) == 40
    assert all(run.status == COMPLETED for run in runs)
    assert_one_run_at_a_time_in_order(await history(gateway, tenant, agent.id), runs)
    llm_requests = [r for r in running_suite.llm.requests(model) if r.get("stream")]
    assert_each_prompt_saw_every_earlier_run(llm_requests, runs)


async def test_a_gateway_paused_past_its_lease_cannot_write_after_another_took_over(
    running_suite, replicas, gateway, tenant
):
    stalled, _taker = await replicas.start_many(2, env=SHORT_LEASE)
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    # The stalled gateway's step gets the slow reply; the step that takes over gets the next one.
    running_suite.llm.script(
        model, [{"content": "stale reply", "latency_ms": 2500}, {"content": "fresh reply"}]
    )
    async with grpc.aio.insecure_channel(stalled.address) as channel:
        run = await create_run(channel, tenant, agent.id, "said once")
    # In flight on the stalled gateway: its started event stored, its step waiting for the model.
    await wait_for_run(gateway, tenant, run.id, lambda r: r.last_seq >= 2)
    await wait_for_llm_requests(running_suite.llm, model, 1)
    stalled.pause()

    done = await wait_for_run(gateway, tenant, run.id, finished, within=10)
    events = await watch(gateway, tenant, run.id)
    epochs = [event.started.epoch for event in events if event.HasField("started")]
    log_dir = running_suite.suite.log_dir
    # The stalled step's reply arrives after the takeover: memory refuses its stale epoch.
    await wait_for_log(
        log_dir / "memory.log",
        f"stale epoch {epochs[0]} for agent {agent.id}: epoch {epochs[-1]} has taken over",
    )
    stalled.resume()
    # Back from its pause, the old gateway learns its lease is gone and stores nothing more.
    lost = await wait_for_log(log_dir / f"{stalled.name}.log", "lost the lease of an agent")

    assert agent.id in lost
    assert (done.status, done.id) == (COMPLETED, run.id)
    assert len(epochs) == 2 and epochs[1] > epochs[0], "started under the old epoch, finished under a newer"
    assert kinds(events).count("finished") == 1 and kinds(events)[-1] == "finished"
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert [(m.content, m.run_id) for m in await history(gateway, tenant, agent.id)] == [
        ("said once", run.id),
        ("fresh reply", run.id),
    ]
    # Nothing the old gateway had in hand landed after it woke up: same run, same events.
    assert await get_run(gateway, tenant, run.id) == done
    assert await watch(gateway, tenant, run.id) == events
    assert step_level(events) == events


async def test_a_killed_gateways_queued_runs_all_run_in_order_on_another(
    running_suite, replicas, gateway, tenant
):
    doomed, survivor = await replicas.start_many(2, env=SHORT_LEASE)
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    running_suite.llm.script(model, [{"content": "never delivered", "latency_ms": 5000}])
    async with grpc.aio.insecure_channel(doomed.address) as channel:
        accepted = [await create_run(channel, tenant, agent.id, f"message {index}") for index in range(5)]
    await wait_for_llm_requests(running_suite.llm, model, 1)  # the first runs there, the rest wait
    waiting = [await get_run(gateway, tenant, run.id) for run in accepted[1:]]

    doomed.kill()

    async with grpc.aio.insecure_channel(survivor.address) as channel:
        done = [await wait_for_run(channel, tenant, run.id, finished, within=10) for run in accepted]
    assert [run.status for run in waiting] == [QUEUED] * 4
    assert [run.status for run in done] == [COMPLETED] * 5
    runs = await runs_oldest_first(gateway, tenant, agent.id)
    assert [run.id for run in runs] == [run.id for run in accepted]
    assert_one_run_at_a_time_in_order(await history(gateway, tenant, agent.id), runs)
    # The first prompt went to the killed gateway's step; the rest saw every earlier run.
    llm_requests = [r for r in running_suite.llm.requests(model) if r.get("stream")]
    assert_each_prompt_saw_every_earlier_run(llm_requests[1:], runs)
    # The first run's input was stored (and its event told) before the kill; executed again, the
    # agent service reports it once more, and its readers still get each message once.
    for run in accepted:
        assert [m.role for m in told_messages(await watch(gateway, tenant, run.id))] == [USER, ASSISTANT]


async def test_a_client_whose_gateway_is_killed_resumes_on_another_with_exactly_the_missed_events(
    running_suite, replicas, gateway, tenant
):
    doomed = await replicas.start()
    model = model_name()
    agent = await create_agent(gateway, tenant, model)
    # About a second of streamed reply, so the run is still going when the client's gateway dies.
    running_suite.llm.script(model, [{"content": "x" * 400, "chunk_size": 10, "chunk_delay_ms": 25}])
    run = await create_run(gateway, tenant, agent.id, "keep talking")  # it executes on the suite's gateway
    seen: list[gateway_pb2.RunEvent] = []
    async with grpc.aio.insecure_channel(doomed.address) as channel:
        call = conversation(channel).WatchRun(
            gateway_service_pb2.WatchRunRequest(run_id=run.id), metadata=tenant, timeout=CALL_TIMEOUT_S
        )
        while not seen or not seen[-1].HasField("message_persisted"):
            seen.append((await asyncio.wait_for(call.read(), CALL_TIMEOUT_S)).event)
        doomed.kill()
        with pytest.raises(grpc.aio.AioRpcError) as dropped:
            while (response := await asyncio.wait_for(call.read(), CALL_TIMEOUT_S)) is not grpc.aio.EOF:
                seen.append(response.event)

    last_seen = step_level(seen)[-1].seq
    rest = await watch(gateway, tenant, run.id, after_seq=last_seen)
    stored = await watch(gateway, tenant, run.id)

    assert dropped.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not any(event.HasField("finished") for event in seen), "the stream died before the run ended"
    assert step_level(seen) + step_level(rest) == stored, "exactly the missed events: no gap, none twice"
    assert stored[-1].finished.run.status == COMPLETED


async def test_a_run_whose_agent_service_is_killed_mid_step_completes_once_it_is_back(
    running_suite, replicas, tenant
):
    """SIGKILL of the agent service while a run waits for the model, started again two seconds
    later (a crash and a restart): the gateway retries the step under the same run id until the
    service answers, and the run completes once, with its input stored once and one answer, in
    memory's history, in the reply and in the stored events."""
    agent_service = await replicas.start("agent")
    gateway = await replicas.start(env={"AGENTSUITE_AGENT_ADDR": agent_service.address})
    model = model_name()
    running_suite.llm.script(
        model, [{"content": "lost with the process", "latency_ms": 5000}, {"content": "the answer"}]
    )

    await assert_answered_once_across_a_crash(
        running_suite, gateway, tenant, model, agent_service, down_seconds=2.0, answer="the answer"
    )


async def test_a_run_whose_memory_service_is_killed_mid_step_completes_once_it_is_back(
    running_suite, replicas, tenant
):
    """SIGKILL of the memory service while the model answers, started again 2.5 s later: the step
    cannot store the answer, so the agent service fails it as UNAVAILABLE and the gateway tries it
    again until memory is back. The answer that was never stored is never told; the run completes
    with its input once and the answer of the try that stored it."""
    memory = await replicas.start("memory")
    agent_service = await replicas.start("agent", env={"AGENTSUITE_MEMORY_ADDR": memory.address})
    gateway = await replicas.start(
        env={"AGENTSUITE_AGENT_ADDR": agent_service.address, "AGENTSUITE_MEMORY_ADDR": memory.address}
    )
    model = model_name()
    running_suite.llm.script(
        model, [{"content": "never stored", "latency_ms": 1000}, {"content": "the stored answer"}]
    )

    await assert_answered_once_across_a_crash(
        running_suite, gateway, tenant, model, memory, down_seconds=2.5, answer="the stored answer"
    )
    assert len(await wait_for_llm_requests(running_suite.llm, model, 2)) == 2


async def assert_answered_once_across_a_crash(
    running_suite, gateway, tenant, model: str, crashing, *, down_seconds: float, answer: str
) -> None:
    """Send a message through ``gateway``; once the model is asked, SIGKILL the ``crashing`` service
    and start it again ``down_seconds`` later. The run must complete with the input and ``answer``,
    each once: in the reply, in memory's history and in the run's stored events, which also tell
    readers that the step was tried again (``retried``)."""
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        agent = await create_agent(channel, tenant, model)
        sending = asyncio.create_task(send(channel, tenant, agent.id, "are you there?"))
        await wait_for_llm_requests(running_suite.llm, model, 1)
        crashing.kill()
        await asyncio.sleep(down_seconds)
        await crashing.start()
        reply = await asyncio.wait_for(sending, CALL_TIMEOUT_S)

        expected = ["are you there?", answer]
        assert reply.run.status == COMPLETED
        assert [m.content for m in reply.messages] == expected
        assert [m.content for m in await history(channel, tenant, agent.id)] == expected
        events = await watch(channel, tenant, reply.run.id)
        assert [m.content for m in told_messages(events)] == expected
        retried = [e.retried for e in events if e.HasField("retried")]
        assert retried and retried[0].attempt == 1, "readers are told to drop the failed try's deltas"
