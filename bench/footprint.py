"""Resident memory and open descriptors of the processes a benchmark started, read with psutil.

A service is one process. PostgreSQL is a tree (the postmaster and its backends, checkpointer,
autovacuum ...), summed: its resident memory is the sum of PSS (each shared page counted once over
the tree), its private memory the sum of USS (what would leak; shared buffers filling up as the
tables grow are a cache, not a leak), also per process (the number of backends follows the
services' connection pools).
"""

from __future__ import annotations

import psutil

MIB = 1024 * 1024


def sample(pids: dict[str, int], *, trees: frozenset[str] = frozenset({"postgres"})) -> dict[str, dict]:
    """One reading per named process; a process that is gone reads ``{"gone": true}``."""
    return {name: _tree(pid) if name in trees else _process(pid) for name, pid in pids.items()}


def _process(pid: int) -> dict:
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            return {
                "rss_mib": round(process.memory_info().rss / MIB, 1),
                "fds": process.num_fds(),
                "threads": process.num_threads(),
            }
    except psutil.NoSuchProcess:
        return {"gone": True}


def _tree(pid: int) -> dict:
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"gone": True}
    pss = uss = 0
    fds = counted = 0
    for process in processes:
        try:
            memory = process.memory_full_info()  # reads smaps: slower, fine once a minute
            fds += process.num_fds()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # a backend that ended between the listing and the reading
        pss += memory.pss
        uss += memory.uss
        counted += 1
    return {
        "rss_mib": round(pss / MIB, 1),
        "private_mib": round(uss / MIB, 1),
        "fds": fds,
        "processes": counted,
        # Per process: a pool opening more connections adds backends, not growth of each.
        "private_mib_per_process": round(uss / MIB / max(1, counted), 2),
        "fds_per_process": round(fds / max(1, counted), 1),
    }
