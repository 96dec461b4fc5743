"""A fresh sandboxed process for every call, optionally started ahead of time.

With ``warm > 0`` that many runners are kept started and blocked on their stdin, each waiting for
exactly one job; a call takes one (or starts one when none is ready), the runner exits after that
job and its process group is killed, and a background task starts a replacement. Nothing is shared
between calls: a warm runner has only run the interpreter's start-up and the runner's imports, and
limits, environment and the tool's code arrive with the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.tools.core.execution import ExecutionResult, ExecutionStatus, Job, Limits
from services.tools.sandbox.process import Launcher, SandboxProcess, execute

log = logging.getLogger(__name__)


class FreshSandboxes:
    """The service's :class:`services.tools.core.executor.Sandbox`."""

    def __init__(self, launcher: Launcher, *, warm: int = 0):
        self._launcher = launcher
        self._warm = warm
        self._ready: list[SandboxProcess] = []
        self._wanted = asyncio.Event()
        self._refiller: asyncio.Task | None = None

    def start(self) -> None:
        """Begin keeping ``warm`` runners ready (call from the running event loop)."""
        if self._warm > 0 and self._refiller is None:
            self._refiller = asyncio.create_task(self._refill())
            self._wanted.set()

    async def run(self, job: Job) -> ExecutionResult:
        return await execute(await self._take(), job)

    async def _take(self) -> SandboxProcess:
        while self._ready:
            process = self._ready.pop()
            self._wanted.set()
            if process.running:
                return process
            await process.discard()  # died while waiting (killed from outside): never reuse
        return await self._launcher.start()

    async def _refill(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            while len(self._ready) < self._warm:
                try:
                    self._ready.append(await self._launcher.start())
                except OSError:
                    log.exception("cannot start a warm sandbox")
                    await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._refiller is not None:
            self._refiller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refiller
        ready, self._ready = self._ready, []
        for process in ready:
            await process.discard()


PROBE = Job(
    source_code='def probe() -> str:\n    """Answer."""\n    return "ok"\n',
    function_name="probe",
    arguments={},
    environment={},
    limits=Limits(
        timeout_seconds=20,
        cpu_seconds=5,
        memory_bytes=256 * 1024 * 1024,
        max_processes=8,
        file_size_bytes=1024 * 1024,
        output_bytes=4096,
        result_chars=100,
    ),
)


async def probe(launcher: Launcher) -> str | None:
    """None when a trivial tool runs through ``launcher``; otherwise why not."""
    try:
        result = await execute(await launcher.start(), PROBE)
    except OSError as exc:
        return f"cannot start the sandbox: {exc}"
    if result.status is ExecutionStatus.OK and result.result_json == '"ok"':
        return None
    detail = (result.stderr or result.error_message).strip().splitlines()
    return f"a trivial tool failed in the sandbox ({result.status.value}): {detail[-1] if detail else 'no output'}"
