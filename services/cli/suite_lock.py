"""One ``agentsuite up`` per state directory: it holds ``<state dir>/up.lock`` for as long as it runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class SuiteRunning(Exception):
    """Another ``agentsuite up`` holds the state directory."""

    def __init__(self, state_dir: Path, pid: int | None):
        self.state_dir = state_dir
        self.pid = pid
        holder = f" (pid {pid})" if pid is not None else ""
        super().__init__(f"another agentsuite up{holder} is running from {state_dir}")


class SuiteLock:
    """An exclusive ``flock`` on ``up.lock``, which holds the owner's pid so that a refusal can name it.

    The kernel releases the lock when its holder exits, however it exits, so a crashed ``up`` never
    blocks the next one. The file itself stays (removing it would let two processes lock two
    different files of the same name). Children do not inherit it: Python opens files close-on-exec.
    """

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.path = state_dir / "up.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``SuiteRunning`` at once if another process holds it."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise SuiteRunning(self.state_dir, int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the only descriptor releases the lock
        self._fd = None
