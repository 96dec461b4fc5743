"""When a large archive gets a (new) HNSW index.

pgvector 0.6 adds a passage to an HNSW graph at ~400-900 rows/s per core (384 dimensions, m=16,
ef_construction=64, measured in ``bench/archival.py``), while ``CREATE INDEX`` builds a graph in
bulk about ten times faster. So passages are never inserted into a live graph: each large archive
has one index covering its passages up to an ordinal ("indexed through"), the passages after it (the
tail) are searched exactly, and a background indexer replaces the index with a bulk-built one that
covers the tail when the tail has grown enough. The thresholds keep both costs bounded:

* an archive below ``min_rows`` passages has no index at all (exact search is fast enough);
* once the archive has been quiet for ``settle_seconds``, a tail of ``max(min_rows, indexed / 4)``
  is worth a rebuild (each rebuild grows the index by at least a quarter: bulk loads are built about
  twice over in total, not once per batch);
* while inserts keep coming, the indexer waits until the tail reaches ``max(4 * min_rows, indexed)``
  (doubling), so a long bulk load is not slowed by rebuilds after every batch, yet the exact tail
  stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexPolicy:
    """Thresholds of the background indexer (see the module docstring)."""

    min_rows: int = 20_000
    settle_seconds: float = 2.0

    def wants_index(self, *, indexed_rows: int, tail_rows: int, quiet_seconds: float) -> bool:
        """True when an archive with this index and tail should get a new, bulk-built index."""
        if quiet_seconds >= self.settle_seconds:
            threshold = max(self.min_rows, indexed_rows // 4)
        else:
            threshold = max(4 * self.min_rows, indexed_rows)
        return tail_rows >= max(1, threshold)
