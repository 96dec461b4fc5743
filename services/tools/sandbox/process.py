"""Starting a sandboxed runner process and supervising the one job it runs.

Each process runs in a new session (its own process group), so killing the group kills the
runner and anything it started outside the sandbox's pid namespace too; inside bubblewrap the pid
namespace already guarantees that nothing outlives the runner. Output is read incrementally with a
cap per stream; a tool that floods its output past a hard ceiling is killed rather than drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.tools.core.execution import ExecutionResult, ExecutionStatus, Job, Limits
from services.tools.core.sandbox_policy import SANDBOX_UID, InterpreterLayout, bwrap_command, runner_command

RUNNER = str(Path(__file__).with_name("runner.py"))
_CHUNK = 64 * 1024
_DRAIN_AFTER_EXIT_SECONDS = 0.5
_SIGNAL_MEANING = {
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGXFSZ: "file size limit exceeded",
    signal.SIGSEGV: "crashed (segmentation fault; memory limit exceeded?)",
}


@dataclass
class SandboxProcess:
    """A started runner waiting for its job on stdin; used for exactly one job."""

    process: asyncio.subprocess.Process
    result: asyncio.StreamReader
    result_transport: asyncio.ReadTransport
    sandboxed: bool

    def kill(self) -> None:
        """SIGKILL the whole process group at once (safe to call twice; the leader is not reaped yet
        or its group is already empty)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def discard(self) -> None:
        """Kill and reap an unused process."""
        if self.running:
            self.kill()
        await self.process.wait()
        self.result_transport.close()


class Launcher(Protocol):
    """Starts runner processes: in bubblewrap, or (escape hatch) directly."""

    sandboxed: bool

    async def start(self) -> SandboxProcess: ...


async def _spawn(
    argv: list[str], *, sandboxed: bool, result_fd: int, read_fd: int, **kwargs
) -> SandboxProcess:
    loop = asyncio.get_running_loop()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(result_fd,),
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(result_fd)  # the child holds the only write end now: EOF when it is gone
    reader = asyncio.StreamReader(limit=_CHUNK)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    return SandboxProcess(process, reader, transport, sandboxed)


@dataclass(frozen=True)
class BwrapLauncher:
    """Starts runners inside bubblewrap (see :mod:`services.tools.core.sandbox_policy`)."""

    bwrap: str
    layout: InterpreterLayout
    tmp_bytes: int
    setpriv: str = "/usr/bin/setpriv"
    sandboxed: bool = True

    async def start(self) -> SandboxProcess:
        read_fd, result_fd = os.pipe()
        argv = bwrap_command(
            self.bwrap, self.layout, runner=RUNNER, result_fd=result_fd, tmp_bytes=self.tmp_bytes
        )
        return await _spawn(
            [*self.privilege_drop, *argv],
            sandboxed=True,
            result_fd=result_fd,
            read_fd=read_fd,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
        )

    @property
    def privilege_drop(self) -> list[str]:
        """As root, bwrap itself runs as the unprivileged uid: in a user namespace owned by root the
        kernel would not enforce RLIMIT_NPROC (it never limits host root). ``setpriv`` does the
        switch because Python's own ``user=`` forces fork() instead of vfork(), and forking a
        process that runs gRPC threads crashes the child."""
        if os.geteuid() != 0:
            return []
        uid = str(SANDBOX_UID)
        return [self.setpriv, "--reuid", uid, "--regid", uid, "--clear-groups", "--"]


@dataclass(frozen=True)
class DirectLauncher:
    """Starts runners WITHOUT a sandbox: only resource limits and a clean environment. Used only
    when an operator allows unsandboxed execution."""

    interpreter: str
    workdir: str
    sandboxed: bool = False

    async def start(self) -> SandboxProcess:
        read_fd, result_fd = os.pipe()
        return await _spawn(
            runner_command(self.interpreter, RUNNER, result_fd),
            sandboxed=False,
            result_fd=result_fd,
            read_fd=read_fd,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            cwd=self.workdir,
        )


class _CappedStream:
    """Reads a stream to its end, keeping the first ``keep`` bytes; past ``flood`` it kills the
    sandbox and stops (a tool printing gigabytes must not cost the service gigabytes)."""

    def __init__(self, reader: asyncio.StreamReader, keep: int, flood: int, sandbox: SandboxProcess):
        self._reader = reader
        self._keep = keep
        self._flood = flood
        self._sandbox = sandbox
        self.data = bytearray()
        self.seen = 0
        self.flooded = False

    @property
    def truncated(self) -> bool:
        return self.seen > len(self.data)

    async def pump(self) -> None:
        # Read to EOF even after a kill: asyncio reports the exit only once every pipe is closed.
        while chunk := await self._reader.read(_CHUNK):
            self.seen += len(chunk)
            room = self._keep - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            if self.seen > self._flood and not self.flooded:
                self.flooded = True
                self._sandbox.kill()

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def execute(sandbox: SandboxProcess, job: Job) -> ExecutionResult:
    """Send ``job`` to the started ``sandbox``, wait for the outcome within the job's wall-clock
    limit, and kill the process group whatever happens (also when this task is cancelled)."""
    limits = job.limits
    started = time.monotonic()
    stdout = _CappedStream(sandbox.process.stdout, limits.output_bytes, limits.flood_bytes, sandbox)
    stderr = _CappedStream(sandbox.process.stderr, limits.output_bytes, limits.flood_bytes, sandbox)
    result = _CappedStream(sandbox.result, limits.result_bytes, limits.result_bytes, sandbox)
    pumps = [asyncio.create_task(s.pump()) for s in (stdout, stderr, result)]
    feeder = asyncio.create_task(_feed(sandbox, job.encode()))
    exited = asyncio.create_task(sandbox.process.wait())
    timed_out = False
    try:
        done, _ = await asyncio.wait({exited}, timeout=limits.timeout_seconds)
        if not done:
            timed_out = True
            sandbox.kill()
            await exited
        if not sandbox.sandboxed:
            sandbox.kill()  # children the runner left behind in its process group
        # Once the runner is gone its pipes reach EOF at once, unless an escaped child (possible
        # only without a sandbox) holds them: give up on those after a moment.
        await asyncio.wait(pumps, timeout=_DRAIN_AFTER_EXIT_SECONDS)
    finally:
        if sandbox.running:
            sandbox.kill()  # cancelled: the RPC went away or passed its deadline
        for task in (*pumps, feeder, exited):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(_reap(sandbox))
    duration = time.monotonic() - started
    common = {
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "truncated": stdout.truncated or stderr.truncated,
        "duration_seconds": duration,
    }
    if timed_out:
        return ExecutionResult(
            status=ExecutionStatus.TIMEOUT,
            error_message=f"wall-clock timeout of {limits.timeout_seconds:g}s passed; the sandbox was killed",
            **common,
        )
    if stdout.flooded or stderr.flooded:
        return ExecutionResult(
            status=ExecutionStatus.KILLED,
            error_message=f"printed more than {limits.flood_bytes} bytes; the sandbox was killed",
            **{**common, "truncated": True},
        )
    return _outcome(result, sandbox, limits, common)


def _outcome(result: _CappedStream, sandbox: SandboxProcess, limits: Limits, common: dict) -> ExecutionResult:
    payload = _last_json_line(result.data) if not result.flooded else None
    if payload is not None and payload.get("status") == "ok":
        return ExecutionResult(
            status=ExecutionStatus.OK,
            result_json=str(payload.get("result", "null")),
            **{**common, "truncated": common["truncated"] or bool(payload.get("truncated"))},
        )
    if payload is not None and payload.get("status") == "error":
        error_type = str(payload.get("type", "Exception"))[:200]
        message = str(payload.get("message", ""))[:2000]
        if error_type == "MemoryError":
            return ExecutionResult(
                status=ExecutionStatus.KILLED,
                error_type=error_type,
                error_message=f"memory limit of {limits.memory_bytes // (1024 * 1024)} MB exceeded",
                **common,
            )
        return ExecutionResult(
            status=ExecutionStatus.ERROR, error_type=error_type, error_message=message, **common
        )
    code = sandbox.process.returncode or 0
    # bwrap reports a child killed by signal N as exit code 128 + N; a direct child as -N.
    signum = -code if code < 0 else code - 128 if sandbox.sandboxed and code > 128 else 0
    if signum:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        meaning = _SIGNAL_MEANING.get(signum, f"killed by {name}")
        if signum == signal.SIGKILL:
            meaning = _sigkill_meaning(limits, common["duration_seconds"])
        return ExecutionResult(
            status=ExecutionStatus.KILLED, error_type=name, error_message=meaning, **common
        )
    return ExecutionResult(
        status=ExecutionStatus.ERROR,
        error_type="NoResult",
        error_message=f"the tool's process exited with code {code} without returning a result",
        **common,
    )


def _sigkill_meaning(limits: Limits, seconds: float) -> str:
    """Why a runner died of SIGKILL, as far as we can know: the sandbox's own SIGKILL is the hard
    CPU limit (one second past the soft one, for a tool that ignored SIGXCPU), which a tool can
    reach only after enough wall-clock time on every core; anything sooner came from elsewhere."""
    hard_cpu = limits.cpu_seconds + 1
    if seconds * (os.cpu_count() or 1) >= hard_cpu:
        return f"killed by SIGKILL (the hard CPU time limit of {hard_cpu}s, or a signal from the tool itself)"
    return (
        "killed by SIGKILL before it could use its CPU time; no limit of the sandbox sends that: "
        "the tool, a process it started or the kernel's out-of-memory killer did"
    )


def _last_json_line(data: bytes) -> dict | None:
    for line in reversed(bytes(data).splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


async def _feed(sandbox: SandboxProcess, data: bytes) -> None:
    stdin = sandbox.process.stdin
    try:
        stdin.write(data)
        await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process died before reading its job: its exit status says why


async def _reap(sandbox: SandboxProcess) -> None:
    sandbox.result_transport.close()
    exited = asyncio.ensure_future(sandbox.process.wait())
    done, _ = await asyncio.wait({exited}, timeout=_DRAIN_AFTER_EXIT_SECONDS)
    if not done:
        # asyncio reports the exit only once stdout and stderr are closed: close them ourselves.
        transport = sandbox.process._transport  # no public way to reach the pipe transports
        for fd in (1, 2):
            pipe = transport.get_pipe_transport(fd)
            if pipe is not None:
                pipe.close()
        await exited
