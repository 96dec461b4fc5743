"""The event loop every process of the suite runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import uvloop


def run_event_loop(main: Coroutine[Any, Any, None], *, starts_processes: bool = False) -> None:
    """Run a service's ``main`` on uvloop, the event loop in C that asyncpg and aiohttp are built
    for: every message makes dozens of loop callbacks, socket writes and timers. Measured with
    ``bench/throughput.py``, two runs each: 420 instead of 397 messages/s at concurrency 32, and a
    gateway overhead of 1.23-1.33 instead of 1.52 ms. grpc.aio runs on it unchanged.

    A process that ``starts_processes`` (the tools service's sandboxes) stays on asyncio's own
    loop: uvloop starts a child with fork(), and a child forked from a process whose gRPC threads
    are running can crash before it execs (sandboxes died at once with SIGSEGV, about one run of
    the test suite in three); asyncio's subprocesses start with vfork()."""
    if starts_processes:
        asyncio.run(main)
    else:
        uvloop.run(main)
