"""Our channels balance calls over every address their target resolves to (round_robin): behind a
headless Kubernetes Service one name resolves to every pod, and a channel that pinned one HTTP/2
connection would send every call to the same pod."""

from __future__ import annotations

from collections import Counter

import grpc

from services.common.channels import create_channel
from services.common.settings import Settings

METHOD = "/agentsuite.test.Who/Am"


async def serve(name: str, answered: Counter) -> tuple[grpc.aio.Server, int]:
    def who(_request: bytes, _context) -> bytes:
        answered[name] += 1
        return name.encode()

    handler = grpc.method_handlers_generic_handler(
        "agentsuite.test.Who", {"Am": grpc.unary_unary_rpc_method_handler(who)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def call_many(channel: grpc.aio.Channel, count: int) -> None:
    await channel.channel_ready()
    rpc = channel.unary_unary(METHOD)
    for _ in range(count):
        await rpc(b"", timeout=5)


async def test_a_channel_spreads_calls_over_every_server_behind_its_target():
    answered: Counter = Counter()
    (first, port_a), (second, port_b) = await serve("a", answered), await serve("b", answered)
    target = f"ipv4:127.0.0.1:{port_a},127.0.0.1:{port_b}"  # one target, two addresses
    try:
        async with create_channel(target, Settings(service="test")) as channel:
            await call_many(channel, 40)
        assert answered["a"] >= 10 and answered["b"] >= 10, answered

        answered.clear()
        async with grpc.aio.insecure_channel(target) as pinned:  # gRPC's default, pick_first
            await call_many(pinned, 40)
        assert sorted(answered.values()) == [40], "the default would pin every call to one server"
    finally:
        await first.stop(None)
        await second.stop(None)


async def test_a_single_address_target_still_reaches_its_server():
    answered: Counter = Counter()
    server, port = await serve("only", answered)
    try:
        async with create_channel(f"127.0.0.1:{port}", Settings(service="test")) as channel:
            await call_many(channel, 3)
    finally:
        await server.stop(None)
    assert answered == {"only": 3}
