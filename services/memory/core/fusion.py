"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) of several rankings.

Each ranking contributes ``1 / (k + rank)`` (rank starting at 1) to an item's fused score. Only
ranks matter, so a cosine similarity and a ``ts_rank_cd`` value need no calibration against each
other; k = 60 is the constant of the paper and of most hybrid-search engines: it damps the weight of
the very first ranks so that an item ranked well by both lists beats one ranked first by only one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

RRF_K = 60

Key = TypeVar("Key", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Key]], *, k: int = RRF_K) -> list[tuple[Key, float]]:
    """Items of all ``rankings`` (best first, no duplicates within one) with fused scores, best first.

    Ties keep the order in which items were first seen (the first ranking before the second), so the
    result is deterministic.
    """
    scores: dict[Key, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = {key: index for index, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))
