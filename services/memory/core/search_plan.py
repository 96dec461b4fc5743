"""How a vector search runs: through the HNSW index (and with which ``ef_search``) or exactly.

pgvector 0.6 has no iterative index scans: an HNSW scan yields at most ``hnsw.ef_search`` nearest
rows of the *whole index* (every archive of that dimension, of every tenant), and only then does
Postgres apply the WHERE clause (archive, tags, time). When the rows we may return are a small share
of the index, the scan can come back short. So the plan

* searches exactly (every candidate row, no index) when the rows in scope are few enough for that to
  be fast anyway, or so rare in the index that an ANN scan could not find enough of them;
* otherwise raises ``ef_search`` in proportion to how rare the rows in scope are, so that the scan
  is expected to yield ``needed`` of them with a safety margin;

and the caller falls back to the exact search when an ANN scan still returns fewer rows than
needed (see :class:`services.memory.core.passage_search.PassageSearch`). Exact search on a filtered
set is bounded by the filter, which is exactly when the fallback happens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EXACT_MAX_ROWS = 20_000
"""At or below this many rows in scope, an exact scan (~10 ms at 384 dims) beats planning around HNSW."""
MIN_EF_SEARCH = 40
"""pgvector's default ``hnsw.ef_search``."""
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
    scope_rows: int,
    index_rows: int,
    filter_fraction: float = 1.0,
    exact_max_rows: int = EXACT_MAX_ROWS,
) -> VectorPlan:
    """Plan a search for the ``needed`` nearest rows among ``scope_rows * filter_fraction`` rows of an
    index holding ``index_rows``; at most ``exact_max_rows`` candidates are searched exactly."""
    candidates = scope_rows * max(0.0, min(1.0, filter_fraction))
    if candidates <= exact_max_rows or needed > MAX_EF_SEARCH:
        return VectorPlan(exact=True)
    share = candidates / max(index_rows, scope_rows, 1)
    ef_search = math.ceil(needed * OVERFETCH / share)
    if ef_search > MAX_EF_SEARCH and share < needed / MAX_EF_SEARCH:
        # Even the widest scan would expect fewer than `needed` matches: go exact at once.
        return VectorPlan(exact=True)
    return VectorPlan(exact=False, ef_search=max(MIN_EF_SEARCH, min(MAX_EF_SEARCH, ef_search)))
