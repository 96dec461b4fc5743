"""The in-process hub of a running run: readers get every event after their position in order, a
resumed reader gets no replayed deltas, a reader outside the bounded window is sent to the database,
and a quiet run yields heartbeat points (DESIGN §5)."""

from __future__ import annotations

import asyncio

import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from services.gateway.core import hub as hub_module
from services.gateway.core.hub import FellBehind, RunHub


def step_event(seq: int) -> gateway_pb2.RunEvent:
    return gateway_pb2.RunEvent(run_id="r", seq=seq, usage=common_pb2.Usage(steps=seq))


def delta(seq: int, text: str) -> gateway_pb2.RunEvent:
    return gateway_pb2.RunEvent(run_id="r", seq=seq, assistant_delta=common_pb2.TextDelta(text=text))


async def read_all(hub: RunHub, after_seq: int) -> list[gateway_pb2.RunEvent]:
    return [event async for event in hub.follow(after_seq, quiet_seconds=5) if event is not None]


async def test_a_reader_gets_the_events_after_its_position_then_live_ones_until_close():
    hub = RunHub("r", last_stored_seq=1)
    for event in (step_event(2), delta(2, "a"), step_event(3)):
        hub.publish(event)

    reading = asyncio.create_task(read_all(hub, 1))
    await asyncio.sleep(0)
    hub.publish(delta(3, "b"))
    hub.publish(step_event(4))
    hub.close()

    got = await reading
    assert [(e.seq, e.WhichOneof("event")) for e in got] == [
        (2, "usage"),
        (2, "assistant_delta"),
        (3, "usage"),
        (3, "assistant_delta"),
        (4, "usage"),
    ]


async def test_a_resumed_reader_gets_no_replayed_deltas():
    hub = RunHub("r", last_stored_seq=1)
    for event in (step_event(2), delta(2, "a"), delta(2, "b"), step_event(3)):
        hub.publish(event)
    hub.close()

    assert [e.seq for e in await read_all(hub, 2)] == [3]


async def test_a_reader_behind_what_the_hub_holds_is_sent_to_the_database(monkeypatch):
    monkeypatch.setattr(hub_module, "WINDOW", 3)
    hub = RunHub("r", last_stored_seq=1)
    with pytest.raises(FellBehind):
        await read_all(hub, 0)  # seq 1 was stored before the hub began
    for seq in range(2, 8):
        hub.publish(step_event(seq))

    with pytest.raises(FellBehind):
        await read_all(hub, 2)
    hub.close()
    assert [e.seq for e in await read_all(hub, 4)] == [5, 6, 7]


async def test_a_quiet_run_yields_heartbeat_points():
    hub = RunHub("r", last_stored_seq=1)
    follower = hub.follow(1, quiet_seconds=0.01)

    assert await anext(follower) is None
    hub.publish(step_event(2))
    assert (await anext(follower)).seq == 2


async def test_a_reader_that_read_ahead_from_the_database_gets_nothing_twice():
    """Events are stored before they are published: a reader that found 2 and 3 in the database
    attaches while the hub holds neither, and must not get them (or the delta before 3) again."""
    hub = RunHub("r", last_stored_seq=1)

    reading = asyncio.create_task(read_all(hub, 3))
    await asyncio.sleep(0)
    for event in (step_event(2), delta(2, "a"), step_event(3), delta(3, "b"), step_event(4)):
        hub.publish(event)
    hub.close()

    got = await reading
    assert [(event.seq, event.WhichOneof("event")) for event in got] == [
        (3, "assistant_delta"),
        (4, "usage"),
    ]
