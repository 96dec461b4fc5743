"""The event loop of a service that starts processes: its children must not be started with fork()
while gRPC's threads run (a forked child can crash before it execs; the tools service's sandboxes
died with SIGSEGV on uvloop, which forks). gRPC logs every fork() it sees, which the test counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPAWNS = 5
CHILD = f"""
import asyncio, sys
import grpc
from services.common.event_loop import run_event_loop

async def main():
    server = grpc.aio.server()
    server.add_insecure_port("127.0.0.1:0")
    await server.start()
    for _ in range({SPAWNS}):
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        assert await child.wait() == 0
    await server.stop(0)

run_event_loop(main(), starts_processes=sys.argv[1] == "yes")
"""


def forks_seen_by_grpc(starts_processes: bool) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "yes" if starts_processes else "no"],
        cwd=REPO,
        env={**os.environ, "GRPC_VERBOSITY": "INFO", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr.count("fork()")


def test_a_service_that_starts_processes_starts_them_without_fork():
    assert forks_seen_by_grpc(starts_processes=True) == 0


def test_the_check_sees_the_forks_of_the_default_loop():
    """Without this, a quieter gRPC would make the test above pass whatever the loop does."""
    assert forks_seen_by_grpc(starts_processes=False) >= SPAWNS
