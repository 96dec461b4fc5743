"""How a vector search of one indexed archive runs: through its HNSW index (with which
``ef_search``) or exactly.

pgvector 0.6 has no iterative index scans: an HNSW scan yields at most ``hnsw.ef_search`` nearest
rows of the index, and only then does Postgres apply the rest of the WHERE clause (tags, time). With
a selective filter the scan can come back short. So the plan

* searches exactly (every candidate row, no index) when the filter leaves few enough rows for that
  to be fast anyway, or so few that even the widest scan could not be expected to find enough;
* otherwise raises ``ef_search`` in proportion to how selective the filter is, so the scan is
  expected to yield ``needed`` matching rows with a safety margin;

and the caller falls back to the exact search when an index scan still returns fewer rows than
needed (see :class:`services.memory.core.archival_memory.ArchivalMemory`). The exact search is then
bounded by the filter, which is exactly when the fallback happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EXACT_MAX_ROWS = 5_000
"""At or below this many candidate rows, an exact scan (a few ms at 384 dimensions) is chosen."""
MIN_EF_SEARCH = 400
"""Smallest ``hnsw.ef_search`` used: measured recall@10 ≥ 0.95 at 100,000 passages with the local
embedder (``bench/archival.py``); pgvector's default of 40 gave 0.79."""
MAX_EF_SEARCH = 1000
"""pgvector's upper limit for ``hnsw.ef_search``; it also caps how deep results can be paged."""
OVERFETCH = 2.0
"""Safety margin over the expected number of matching rows in the scan."""


@dataclass(frozen=True)
class VectorPlan:
    """``exact`` searches every candidate row; otherwise the HNSW index with ``ef_search``."""

    exact: bool
    ef_search: int = MIN_EF_SEARCH


def plan_vector_search(
    *,
    needed: int,
    indexed_rows: int,
    filter_fraction: float = 1.0,
    fraction_is_lower_bound: bool = False,
    exact_max_rows: int = EXACT_MAX_ROWS,
) -> VectorPlan:
    """Plan a search for the ``needed`` nearest of the ``indexed_rows * filter_fraction`` rows an
    archive's index holds that pass the filter.

    ``fraction_is_lower_bound``: the matching rows were counted only up to a cap, so at least that
    share passes; the exact rules then do not apply (there are many rows), and the scan is sized for
    the lower bound (the short-scan fallback covers the rest).
    """
    share = max(0.0, min(1.0, filter_fraction))
    candidates = indexed_rows * share
    too_few = candidates <= exact_max_rows or share * MAX_EF_SEARCH < needed
    if needed > MAX_EF_SEARCH or (too_few and not fraction_is_lower_bound):
        return VectorPlan(exact=True)
    ef_search = math.ceil(needed * OVERFETCH / share)
    return VectorPlan(exact=False, ef_search=max(MIN_EF_SEARCH, min(MAX_EF_SEARCH, ef_search)))
