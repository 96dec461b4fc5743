"""Archival memory's domain objects: archives, passages, filters and scored results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

MAX_DIMENSION = 2000
"""pgvector 0.6 indexes ``vector`` columns of at most 2000 dimensions (HNSW and IVFFlat)."""


class SearchMode(IntEnum):
    """How passages are ranked; the numbers are those of ``memory.v1.SearchMode``."""

    VECTOR = 1
    FULL_TEXT = 2
    HYBRID = 3


@dataclass(frozen=True, kw_only=True)
class Archive:
    """A searchable store of passages whose embeddings all come from one embedder and dimension."""

    id: str
    name: str
    embedder: str
    dimension: int
    passage_count: int
    agent_ids: tuple[str, ...]
    created_at: datetime
    indexed_through: int = 0
    """Its HNSW index holds its passages with ordinal up to this; 0 = no index (searched exactly)."""
    indexed_rows: int = 0
    """Passages in that index when it was built."""


@dataclass(frozen=True)
class Fence:
    """An agent run's write: applies only while ``epoch`` is the agent's newest lease epoch."""

    agent_id: str
    epoch: int


@dataclass(frozen=True, kw_only=True)
class NewPassage:
    """A passage to insert; ``created_at`` None means the insertion time."""

    text: str
    tags: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Passage:
    """A stored passage (its embedding stays in the database)."""

    id: str
    archive_id: str
    text: str
    tags: tuple[str, ...]
    metadata: dict
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class PassageFilter:
    """Which passages a list or search considers; applied in SQL before any limit.

    ``tags`` with ``all_tags`` False keeps passages carrying any of them, True those carrying all.
    ``start`` is inclusive, ``end`` exclusive; None is open.
    """

    tags: tuple[str, ...] = ()
    all_tags: bool = False
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not self.tags and self.start is None and self.end is None


@dataclass(frozen=True, kw_only=True)
class ScoredPassage:
    """A search result: ``score`` ranks; ``vector_score`` is the cosine similarity and
    ``text_score`` the full-text rank, each 0 when that kind of search was not used or did not match."""

    passage: Passage
    score: float
    vector_score: float = 0.0
    text_score: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SearchScope:
    """The archives one search covers, all sharing one embedder and dimension."""

    archives: tuple[Archive, ...]
    filter_fractions: tuple[float, ...]
    """Per archive (same order): estimate of the share of its passages the filter keeps (an upper
    bound from tag counts, or counted rows)."""
    counts_capped: tuple[bool, ...] = ()
    """Per archive: True when the rows were counted only up to a cap (the share is a lower bound)."""

    @property
    def archive_ids(self) -> tuple[str, ...]:
        return tuple(archive.id for archive in self.archives)

    @property
    def embedder(self) -> str:
        return self.archives[0].embedder

    @property
    def dimension(self) -> int:
        return self.archives[0].dimension
