"""HTTP/2 keepalive on both ends (the design: "configured on both ends, no too_many_pings"), checked
on the wire: PING, PING ACK and GOAWAY frames, recorded by a proxy or a bare HTTP/2 peer
(``http2_wire``), with a gateway whose interval is 1 s instead of the default 20 s.

gRPC skips its own keepalive PING when it heard from the peer within the interval, so with one
interval on both ends the PINGs on a connection alternate between the ends in no fixed pattern
(measured over 8 idle seconds: client at 1, 3, 7, 8 s; gateway at 1, 2, 3, 4, 5, 6, 8 s). The first
test checks the two ends together, as deployed; the others check each end alone, where its
behaviour is exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2
from services.cli.supervisor import ServiceReplica
from services.common.channels import create_channel
from services.common.settings import Settings
from tests.e2e.e2e_client import create_agent, user
from tests.e2e.http2_wire import (
    DATA,
    ENHANCE_YOUR_CALM,
    HEADERS,
    BareHttp2Client,
    BareHttp2Server,
    Frame,
    Http2Tap,
    goaways,
    ping_acks,
    pings,
    wait_until,
)
from tests.e2e.run_checks import CALL_TIMEOUT_S, conversation, echo, history, model_name

KEEPALIVE_MS = 1000
KEEPALIVE_S = KEEPALIVE_MS / 1000
CHANNEL_SETTINGS = Settings(service="test", keepalive_time_ms=KEEPALIVE_MS)
"""A client configured like the services' own channels, at the test gateway's interval."""
SETTLE_S = 0.3
"""After the last message, before the idle window: gRPC's flow-control (BDP) PINGs answer data."""
IDLE_S = 3.0
CLIENT_PING_GAP_S = 1.1 * KEEPALIVE_S
"""A little over the interval: gRPC's channels wait a full interval after an ACK before the next PING
(and never PING more than once a second)."""
CLIENT_PINGS = 4
"""The fewest that a server could answer with GOAWAY: gRPC allows two early PINGs (max_ping_strikes)
and closes on the third, so PINGs 2, 3 and 4 must all be welcome."""
GOAWAY_GRACE_S = 0.3
FAST_PING_GAP_S = 0.1
MAX_FAST_PINGS = 10


@pytest.fixture(scope="module")
async def keepalive_gateway(running_suite) -> AsyncIterator[ServiceReplica]:
    """A gateway replica on the suite whose keepalive interval is 1 s."""
    replica = await running_suite.suite.start_replica(
        "gateway", env={"AGENTSUITE_KEEPALIVE_TIME_MS": str(KEEPALIVE_MS)}
    )
    try:
        yield replica
    finally:
        running_suite.suite.remove_replica(replica)


def _converse(**kind) -> gateway_service_pb2.ConverseRequest:
    return gateway_service_pb2.ConverseRequest(**kind)


async def _events_until_finished(stream) -> list[gateway_pb2.RunEvent]:
    deadline = time.monotonic() + CALL_TIMEOUT_S
    events: list[gateway_pb2.RunEvent] = []
    while not events or not events[-1].HasField("finished"):
        response = await asyncio.wait_for(stream.read(), max(0.0, deadline - time.monotonic()))
        assert response is not grpc.aio.EOF, "the stream ended before the run finished"
        if response.HasField("event"):
            events.append(response.event)
    return events


def _acked(sent: list[Frame], answers: list[Frame]) -> bool:
    """Every PING in ``sent`` has its ACK (same 8 bytes) among ``answers``."""
    return {ping.payload for ping in pings(sent)} <= {ack.payload for ack in ping_acks(answers)}


async def test_an_idle_conversation_is_kept_alive_by_pings_and_its_connection_still_carries_a_run(
    keepalive_gateway, gateway, tenant
):
    """Protects keepalive end to end: between the gateway and a client configured like our channels,
    an idle Converse stream sees a PING about every interval, each one ACKed by the other end, no
    GOAWAY (too_many_pings), and the same connection then carries a run to its finished event.
    Fails if neither end pings, if a PING goes unanswered or if either end sends GOAWAY."""
    agent = await create_agent(gateway, tenant, model_name())
    async with (
        Http2Tap(keepalive_gateway.address) as tap,
        create_channel(tap.address, CHANNEL_SETTINGS) as channel,
    ):
        stream = conversation(channel).Converse(metadata=tenant, timeout=CALL_TIMEOUT_S)
        await stream.write(_converse(open=gateway_service_pb2.ConverseOpen(agent_id=agent.id)))
        await stream.write(_converse(ping=gateway_service_pb2.ConversePing(nonce=7)))
        pong = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)
        idle_from = time.monotonic() + SETTLE_S
        await asyncio.sleep(SETTLE_S + IDLE_S)
        idle_until = time.monotonic()
        await stream.write(_converse(send=gateway_service_pb2.ConverseSend(messages=[user("still there?")])))
        events = await _events_until_finished(stream)
        (connection,) = tap.connections
        to_server, to_client = list(connection.to_server), list(connection.to_client)
        await stream.done_writing()
        ending = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)

    idle = [frame for frame in to_server + to_client if idle_from <= frame.at <= idle_until]
    assert pong.pong.nonce == 7 and ending is grpc.aio.EOF
    assert not [frame for frame in idle if frame.type in (DATA, HEADERS)], "nothing but PINGs went by"
    assert len(pings(idle)) >= IDLE_S / KEEPALIVE_S - 1, f"PINGs at {_times(pings(idle), idle_from)}"
    assert _acked(to_server, to_client), "the gateway ACKs the client's PINGs"
    assert _acked(to_client, to_server), "the client ACKs the gateway's PINGs"
    assert not goaways(to_server + to_client)
    assert events[-1].finished.run.status == gateway_pb2.RUN_STATUS_COMPLETED
    assert [m.content for m in await history(gateway, tenant, agent.id)] == [
        "still there?",
        echo("still there?"),
    ]


async def test_the_gateway_pings_a_silent_client_and_welcomes_a_ping_a_second_without_calls(
    keepalive_gateway, running_suite
):
    """Protects the gateway's end (server keepalive, keepalive_permit_without_calls, and its PING
    policy): with no call open it PINGs a client that says nothing every interval, and it ACKs a
    client's PING every 1.1 s — what our channels send — without a strike. So does the suite's
    gateway at the default 20 s interval: a peer with a shorter interval than the gateway's own (a
    replica tuned alone, a rolling change of AGENTSUITE_KEEPALIVE_TIME_MS) is welcome too. A server
    that wants longer gaps (gRPC's default: 5 minutes, 2 hours without calls) would answer the
    fourth PING here with GOAWAY too_many_pings and drop the connection."""
    async with (
        BareHttp2Client(keepalive_gateway.address) as silent,
        BareHttp2Client(keepalive_gateway.address) as pinging,
        BareHttp2Client(running_suite.address) as pinging_default,
    ):
        opened = time.monotonic()
        await asyncio.gather(_ping_every_interval(pinging), _ping_every_interval(pinging_default))
        pinged_three_times = await wait_until(lambda: len(pings(silent.received)) >= 3, within=KEEPALIVE_S)

    for client in (pinging, pinging_default):
        assert len(ping_acks(client.received)) == CLIENT_PINGS
        assert not goaways(client.received) and not client.closed_by_server
    assert pinged_three_times, f"the gateway PINGed at {_times(pings(silent.received), opened)}"
    assert not goaways(silent.received) and not silent.closed_by_server


async def _ping_every_interval(client: BareHttp2Client) -> None:
    """``CLIENT_PINGS`` PINGs ``CLIENT_PING_GAP_S`` apart, then wait for their ACKs and for a GOAWAY
    that may follow the last ACK (the server closes the connection right after one)."""
    for opaque in range(1, CLIENT_PINGS + 1):
        if opaque > 1:
            await asyncio.sleep(CLIENT_PING_GAP_S)
        await client.ping(opaque)
    await wait_until(
        lambda: len(ping_acks(client.received)) == CLIENT_PINGS or client.closed_by_server,
        within=CALL_TIMEOUT_S,
    )
    await wait_until(lambda: client.closed_by_server, within=GOAWAY_GRACE_S)


async def test_a_client_pinging_ten_times_per_interval_is_sent_goaway_too_many_pings(keepalive_gateway):
    """Protects the tests above from passing blind: the gateway does police PINGs, and its GOAWAY
    (ENHANCE_YOUR_CALM, "too_many_pings") shows on the wire, after gRPC's two allowed strikes."""
    async with BareHttp2Client(keepalive_gateway.address) as client:
        for opaque in range(1, MAX_FAST_PINGS + 1):
            await client.ping(opaque)
            if await wait_until(lambda: bool(goaways(client.received)), within=FAST_PING_GAP_S):
                break
        closed = await wait_until(lambda: client.closed_by_server, within=CALL_TIMEOUT_S)

    (goaway,) = goaways(client.received)
    assert (goaway.error_code, goaway.debug_data) == (ENHANCE_YOUR_CALM, b"too_many_pings")
    assert closed, "the gateway closes the connection after its GOAWAY"
    assert opaque >= 4, "the first PING and two early ones are allowed"


async def test_our_channels_ping_every_interval_without_calls():
    """Protects our channels' end (services.common.channels.create_channel): with no call open a
    channel PINGs its server every interval, and keeps on past two PINGs without data
    (grpc.http2.max_pings_without_data=0; gRPC's default stops at two). The bare server never PINGs,
    so no PING from the peer resets the channel's timer."""
    async with (
        BareHttp2Server() as server,
        create_channel(server.address, CHANNEL_SETTINGS) as channel,
    ):
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        connected = time.monotonic()
        (received,) = server.connections
        pinged_three_times = await wait_until(lambda: len(pings(received)) >= 3, within=3 * KEEPALIVE_S + 1)

    assert pinged_three_times, f"PINGs at {_times(pings(received), connected)}"
    assert not goaways(received)


def _times(frames: list[Frame], since: float) -> list[float]:
    return [round(frame.at - since, 2) for frame in frames]
