"""Per-agent lanes inside one gateway (DESIGN §4): one run at a time per agent, in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from services.gateway.core.lanes import AgentLanes


async def hold_turn(
    lanes: AgentLanes, agent_id: str, name: str, log: list[str], release: asyncio.Event | None = None
) -> None:
    async with lanes.turn(agent_id):
        log.append(f"{name} start")
        if release is not None:
            await release.wait()
        else:
            await asyncio.sleep(0)
        log.append(f"{name} end")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_second_run_of_an_agent_waits_until_the_first_leaves_the_lane():
    lanes, log, release = AgentLanes(), [], asyncio.Event()
    first = asyncio.create_task(hold_turn(lanes, "a", "first", log, release))
    await settle()
    second = asyncio.create_task(hold_turn(lanes, "a", "second", log))
    await settle()

    assert log == ["first start"]

    release.set()
    await asyncio.gather(first, second)
    assert log == ["first start", "first end", "second start", "second end"]


async def test_runs_of_one_agent_take_their_turns_in_arrival_order():
    lanes, log, release = AgentLanes(), [], asyncio.Event()
    tasks = [asyncio.create_task(hold_turn(lanes, "a", "run0", log, release))]
    await settle()
    for index in range(1, 8):
        tasks.append(asyncio.create_task(hold_turn(lanes, "a", f"run{index}", log)))
        await asyncio.sleep(0)

    release.set()
    await asyncio.gather(*tasks)

    assert [entry for entry in log if entry.endswith("start")] == [f"run{i} start" for i in range(8)]


async def test_different_agents_run_at_the_same_time():
    lanes, log, release = AgentLanes(), [], asyncio.Event()
    tasks = [asyncio.create_task(hold_turn(lanes, agent, agent, log, release)) for agent in ("a", "b", "c")]
    await settle()

    assert sorted(log) == ["a start", "b start", "c start"]
    assert len(lanes) == 3

    release.set()
    await asyncio.gather(*tasks)


async def test_lane_is_dropped_when_its_agent_has_nothing_running_or_waiting():
    lanes, release = AgentLanes(), asyncio.Event()
    first = asyncio.create_task(hold_turn(lanes, "a", "first", [], release))
    second = asyncio.create_task(hold_turn(lanes, "a", "second", [], release))
    await settle()
    assert len(lanes) == 1

    release.set()
    await asyncio.gather(first, second)

    assert len(lanes) == 0


async def test_lane_is_released_and_dropped_when_the_run_fails():
    lanes = AgentLanes()

    with pytest.raises(RuntimeError):
        async with lanes.turn("a"):
            raise RuntimeError("run crashed")

    assert len(lanes) == 0
    async with asyncio.timeout(1):
        async with lanes.turn("a"):
            pass


async def test_cancelled_waiter_gives_up_its_place_without_blocking_the_lane():
    lanes, log, release = AgentLanes(), [], asyncio.Event()
    first = asyncio.create_task(hold_turn(lanes, "a", "first", log, release))
    await settle()
    cancelled = asyncio.create_task(hold_turn(lanes, "a", "cancelled", log))
    third = asyncio.create_task(hold_turn(lanes, "a", "third", log))
    await settle()

    cancelled.cancel()
    await settle()
    release.set()
    async with asyncio.timeout(1):
        await asyncio.gather(first, third)

    assert "cancelled start" not in log
    assert log[-2:] == ["third start", "third end"]
    assert len(lanes) == 0
