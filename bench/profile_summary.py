"""Summarise the folded stacks written by ``throughput.py --profile-dir``: where each process spends time.

    python bench/profile_summary.py /tmp/prof [--top 15]

For each ``<service>.folded`` prints, as JSON, the share of samples per leaf frame ("self") and per
frame anywhere on the stack ("total", counted once per sample), idle samples excluded. py-spy's
``--nonblocking`` samples only running threads' stacks, so idle is the event loop waiting in
``select``/``epoll``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

IDLE_LEAVES = ("Selector.select (selectors.py", "wait (threading.py", "_wait_for_tstate_lock")
"""Leaf frames that mean waiting, not working (the event loop in epoll, threads parked)."""


def summarise(path: Path, top: int) -> dict:
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        samples += n
        if any(leaf in frames[-1] for leaf in IDLE_LEAVES):
            idle += n
            continue
        self_counts[frames[-1]] += n
        for frame in set(frames[1:]):
            total_counts[frame] += n
    busy = max(1, samples - idle)
    return {
        "samples": samples,
        "busy_fraction": round(busy / max(1, samples), 3),
        "self": [(frame, round(n / busy, 3)) for frame, n in self_counts.most_common(top)],
        "total": [(frame, round(n / busy, 3)) for frame, n in total_counts.most_common(top)],
    }


def _frame(frame: str) -> str:
    """``func (path/to/site-packages/pkg/mod.py:12)`` → ``func (pkg/mod.py:12)``."""
    return re.sub(r"\((?:.*/site-packages/|.*/work/main/|.*/lib/python3\.\d+/)", "(", frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    report = {path.stem: summarise(path, args.top) for path in sorted(args.directory.glob("*.folded"))}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
