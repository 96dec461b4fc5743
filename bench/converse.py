"""Idle Converse streams: the gateway's resident memory with 2,000 of them open at once.

    python bench/converse.py [--streams 2000] [--hold-seconds 10] [--streams-per-channel 100]

Starts a throw-away suite, creates one agent per stream concurrently through the gateway, then opens
``--streams`` ``Converse`` streams on the one gateway process: each sends ``open`` for its agent and
one ``ping``, and waits for the pong (so the gateway holds the stream), then sends nothing more. All
are held ``--hold-seconds``, then cancelled. The gateway's ``VmRSS``/``VmHWM`` (/proc/<pid>/status)
are read before, while all are open (every second) and after closing. Issue 6 asks for at most
300 MB with 2,000 open. Exits with status 2 and an ``error`` in the JSON while the gateway answers
``Converse`` with UNIMPLEMENTED. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from bench.fleet import NotImplementedYet, create_agents, fail_clearly, require_implemented, resident_memory
from bench.harness import log, machine, parse_args_with_env, running_suite
from bench.load import MAX_ERROR_SAMPLES

TARGET_MIB = 300 * 1000 * 1000 / 2**20
"""Issue 6: ≤ 300 MB (decimal) resident with 2,000 idle streams."""
SETTLE_SECONDS = 3.0


def _open(agent_id: str) -> gateway_service_pb2.ConverseRequest:
    return gateway_service_pb2.ConverseRequest(open=gateway_service_pb2.ConverseOpen(agent_id=agent_id))


def _ping(nonce: int) -> gateway_service_pb2.ConverseRequest:
    return gateway_service_pb2.ConverseRequest(ping=gateway_service_pb2.ConversePing(nonce=nonce))


async def _probe(stub, metadata) -> None:
    """Open for an agent that does not exist: NOT_FOUND once Converse exists."""
    call = stub.Converse(metadata=metadata, timeout=10)
    try:
        await call.write(_open(str(uuid.uuid4())))
        await call.done_writing()
        while await call.read() is not grpc.aio.EOF:
            pass
    finally:
        call.cancel()


class Streams:
    """The open streams and what happened to them."""

    def __init__(self, stubs, metadata, agent_ids: list[str], *, streams: int, open_concurrency: int):
        self._streams = streams
        self._stubs = stubs
        self._metadata = metadata
        self._agent_ids = agent_ids
        self._opening = asyncio.Semaphore(open_concurrency)
        self.established = 0
        self.ended_early = 0
        self.server_messages = 0
        self.errors: list[str] = []
        self.settled = asyncio.Event()
        """Set once every stream is either established or failed."""
        self.closing = asyncio.Event()

    async def hold(self, number: int) -> None:
        """Open stream ``number``, ping it, then only read until ``closing`` is set."""
        call = self._stubs[number % len(self._stubs)].Converse(metadata=self._metadata)
        try:
            async with self._opening:
                await call.write(_open(self._agent_ids[number % len(self._agent_ids)]))
                await call.write(_ping(number))
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF:
                        raise RuntimeError("stream ended before the pong")
                    if response.WhichOneof("response") == "pong":
                        break
            self.established += 1
            self._check_settled()
            reader = asyncio.create_task(self._read_rest(call))
            await self.closing.wait()
            reader.cancel()
        except grpc.aio.AioRpcError as error:
            self.errors.append(f"{error.code().name}: {error.details()}"[:300])
            self._check_settled()
        except Exception as error:
            detail = f"{type(error).__name__}: {error}"
            if call.done():  # the server ended the stream: say why
                detail += f" ({(await call.code()).name}: {await call.details()})"
            self.errors.append(detail[:300])
            self._check_settled()
        finally:
            call.cancel()

    def _check_settled(self) -> None:
        if self.established + len(self.errors) >= self._streams:
            self.settled.set()

    async def _read_rest(self, call) -> None:
        # An idle stream should stay silent (heartbeats only during runs): count what arrives.
        try:
            while await call.read() is not grpc.aio.EOF:
                self.server_messages += 1
        except grpc.aio.AioRpcError:
            pass
        if not self.closing.is_set():
            self.ended_early += 1


async def measure(args, running, document: dict) -> None:
    metadata = (("authorization", f"Bearer {running.api_key}"),)
    gateway_pid = running.suite.processes["gateway"].pid
    channel_count = math.ceil(args.streams / args.streams_per_channel)
    # A local subchannel pool each: otherwise channels to one address share one connection.
    pool = [
        grpc.aio.insecure_channel(running.gateway_address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(channel_count)
    ]
    try:
        stubs = [gateway_service_pb2_grpc.ConversationServiceStub(channel) for channel in pool]
        await require_implemented("Converse", lambda: _probe(stubs[0], metadata))
        agent_ids, document["agent_creation"] = await create_agents(
            pool[0], metadata, args.agents or args.streams, "converse", concurrency=args.create_concurrency
        )
        await asyncio.sleep(SETTLE_SECONDS)
        before = resident_memory(gateway_pid)
        log(f"rss: gateway before {before}")

        streams = Streams(
            stubs, metadata, agent_ids, streams=args.streams, open_concurrency=args.open_concurrency
        )
        log(f"streams: opening {args.streams} on {channel_count} channels")
        begin = time.perf_counter()
        holders = [asyncio.create_task(streams.hold(n)) for n in range(args.streams)]
        try:
            await asyncio.wait_for(streams.settled.wait(), args.open_timeout)
        except TimeoutError:
            log(f"streams: not all open after {args.open_timeout:g}s; measuring those that are")
        opened_in = time.perf_counter() - begin
        log(f"streams: {streams.established} open, {len(streams.errors)} failed in {opened_in:.1f}s")
        samples = [resident_memory(gateway_pid)]
        for _ in range(max(1, round(args.hold_seconds))):
            await asyncio.sleep(1.0)
            samples.append(resident_memory(gateway_pid))
        streams.closing.set()
        await asyncio.gather(*holders)
        for channel in pool:
            await channel.close()
        log(f"streams: closed; settling {SETTLE_SECONDS:g}s")
        await asyncio.sleep(SETTLE_SECONDS)
        after = resident_memory(gateway_pid)
    finally:
        for channel in pool:
            await channel.close()
    open_rss = max(sample["vmrss_mib"] for sample in samples)
    growth = open_rss - before["vmrss_mib"]
    document.update(
        {
            "gateway_pid": gateway_pid,
            "streams": args.streams,
            "established": streams.established,
            "failed": len(streams.errors),
            "error_samples": sorted(set(streams.errors))[:MAX_ERROR_SAMPLES],
            "ended_early": streams.ended_early,
            "server_messages_while_idle": streams.server_messages,
            "seconds_to_open_all": round(opened_in, 3),
            "rss_mib": {
                "before": before,
                "all_open": {
                    "first": samples[0],
                    "max_vmrss_mib": open_rss,
                    "samples_vmrss_mib": [s["vmrss_mib"] for s in samples],
                },
                "after_close": after,
            },
            "rss_growth_mib": round(growth, 1),
            "rss_per_stream_kib": round(growth * 1024 / streams.established, 1)
            if streams.established
            else None,
            "target_mib": round(TARGET_MIB, 1),
            "meets_target": streams.established == args.streams and open_rss <= TARGET_MIB,
        }
    )


async def run(args) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "streams": args.streams,
            "agents": args.agents or args.streams,
            "streams_per_channel": args.streams_per_channel,
            "open_concurrency": args.open_concurrency,
            "hold_seconds": args.hold_seconds,
            "create_concurrency": args.create_concurrency,
            "service_env": args.env,
        },
    }
    try:
        async with running_suite(env=args.env) as running:
            await measure(args, running, document)
    except NotImplementedYet as error:
        fail_clearly(document, error)
    except grpc.aio.AioRpcError as error:
        fail_clearly(document, RuntimeError(f"{error.code().name}: {error.details()}"))
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/converse.py", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument(
        "--agents", type=int, default=0, help="agents the streams open, round robin; 0: one each"
    )
    parser.add_argument(
        "--streams-per-channel",
        type=int,
        default=100,
        help="streams per client connection (100: the usual HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of proxies)",
    )
    parser.add_argument("--open-concurrency", type=int, default=200, help="streams being opened at once")
    parser.add_argument("--hold-seconds", type=float, default=10.0)
    parser.add_argument("--open-timeout", type=float, default=120.0, help="most seconds to open them all")
    parser.add_argument("--create-concurrency", type=int, default=16, help="CreateAgent calls at once")
    args = parse_args_with_env(parser, argv)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
