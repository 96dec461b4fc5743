"""Run the fake LLM server: prints ``{"port": N}`` once listening, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from services.common.event_loop import run_event_loop

from .server import FakeLLMServer


async def _serve(*, host: str, port: int, latency_ms: float) -> None:
    server = FakeLLMServer(host=host, port=port, latency_ms=latency_ms)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A parent process reads this one line to learn the port (port 0 picks a free one).
    print(json.dumps({"port": server.port}), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until signalled."""
    parser = argparse.ArgumentParser(prog="python -m services.fake_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before the first chunk")
    args = parser.parse_args(argv)
    run_event_loop(_serve(host=args.host, port=args.port, latency_ms=args.latency_ms))


if __name__ == "__main__":
    main()
