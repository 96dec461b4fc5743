"""One `agentsuite up` per state directory: the lock refuses a second holder and names the first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.cli.suite_lock import SuiteLock, SuiteRunning


def test_a_second_holder_is_refused_naming_the_first_and_may_take_it_once_released(tmp_path):
    first, second = SuiteLock(tmp_path), SuiteLock(tmp_path)
    first.acquire()

    with pytest.raises(SuiteRunning) as refused:
        second.acquire()
    assert refused.value.pid == os.getpid()
    assert str(tmp_path) in str(refused.value)

    first.release()
    second.acquire()
    second.release()


def test_the_lock_of_a_process_that_died_is_free(tmp_path):
    # The kernel drops a flock with its holder, however the holder ends: no stale lock file to clean.
    holder = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from pathlib import Path; from services.cli.suite_lock import SuiteLock; "
            "SuiteLock(Path(sys.argv[1])).acquire(); os._exit(9)",
            str(tmp_path),
        ],
        check=False,
    )
    assert holder.returncode == 9
    assert (tmp_path / "up.lock").read_text().strip().isdigit()  # its pid stays in the file

    lock = SuiteLock(tmp_path)
    lock.acquire()
    lock.release()


def test_the_lock_file_is_private(tmp_path):
    lock = SuiteLock(tmp_path / "state")
    lock.acquire()
    try:
        assert oct((tmp_path / "state" / "up.lock").stat().st_mode & 0o777) == "0o600"
    finally:
        lock.release()
