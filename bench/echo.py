"""The ceiling: how many unary grpc.aio calls per second this machine serves with Python on both ends.

A server process echoes the bytes of a small message through a generic handler (no protobuf, no
interceptors, no database); a separate client process runs N closed-loop coroutines on one channel.
Whatever the suite reaches is measured against this.

    python bench/echo.py --concurrency 1,32 --seconds 10     # prints one JSON document

``serve`` and ``client`` are the two halves, started by the default command as subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import log, machine
from bench.load import CpuMeter, closed_loop

METHOD = "/agentsuite.bench.Echo/Echo"
PAYLOAD = b"x" * 64
"""About the size of a short chat message."""


async def serve(host: str, port: int) -> None:
    """Echo until SIGTERM; print ``{"port": N}`` once listening."""

    async def echo(request: bytes, _context) -> bytes:
        return request

    await serve_bytes(
        "agentsuite.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}, host, port
    )


async def serve_bytes(service: str, handlers: dict, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve ``handlers`` (generic, on raw bytes) as ``service`` until SIGTERM; print ``{"port": N}``
    once listening."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(json.dumps({"port": bound}), flush=True)
    await stop.wait()
    await server.stop(grace=1)


async def client(
    target: str, *, concurrency: int, seconds: float, warmup: float, server_pid: int | None
) -> dict:
    """Closed-loop echo calls on one shared channel."""
    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), 10)
        echo = channel.unary_unary(METHOD)

        async def call(_worker: int) -> None:
            await echo(PAYLOAD, timeout=10)

        meter = CpuMeter({"echo_server": server_pid}) if server_pid else None
        return await closed_loop(call, concurrency=concurrency, seconds=seconds, warmup=warmup, meter=meter)


async def measure(concurrencies: list[int], *, seconds: float, warmup: float) -> dict:
    """Start an echo server process, run one client process per concurrency, stop the server."""
    server = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "serve", stdout=asyncio.subprocess.PIPE
    )
    try:
        port = json.loads(await asyncio.wait_for(server.stdout.readline(), 30))["port"]
        results = []
        for concurrency in concurrencies:
            log(f"echo: concurrency {concurrency} for {seconds:g}s")
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "client",
                f"127.0.0.1:{port}",
                "--concurrency",
                str(concurrency),
                "--seconds",
                str(seconds),
                "--warmup",
                str(warmup),
                "--server-pid",
                str(server.pid),
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(child.communicate(), seconds + warmup + 60)
            if child.returncode != 0:
                raise RuntimeError(f"echo client exited with code {child.returncode}")
            results.append(json.loads(out))
        return {"payload_bytes": len(PAYLOAD), "results": results}
    finally:
        if server.returncode is None:
            server.terminate()
        await server.wait()


def concurrency_list(values: list[str]) -> list[int]:
    """``--concurrency 1,32`` and ``--concurrency 1 --concurrency 32`` both give [1, 32]."""
    levels = [int(part) for value in values for part in value.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise SystemExit("--concurrency needs positive integers")
    return levels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/echo.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the echo server (prints its port)")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=0)
    client_cmd = sub.add_parser("client", help="load one echo server (prints JSON)")
    client_cmd.add_argument("target")
    client_cmd.add_argument("--concurrency", type=int, default=1)
    client_cmd.add_argument("--server-pid", type=int)
    for command in (parser, client_cmd):
        command.add_argument("--seconds", type=float, default=10.0)
        command.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", action="append", default=None, help="e.g. 1,32 (repeatable)")
    args = parser.parse_args(argv)

    if args.command == "serve":
        asyncio.run(serve(args.host, args.port))
    elif args.command == "client":
        result = asyncio.run(
            client(
                args.target,
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
                server_pid=args.server_pid,
            )
        )
        print(json.dumps(result))
    else:
        levels = concurrency_list(args.concurrency or ["1,32"])
        echo = asyncio.run(measure(levels, seconds=args.seconds, warmup=args.warmup))
        print(json.dumps({"machine": machine(), "echo": echo}, indent=2))


if __name__ == "__main__":
    main()
