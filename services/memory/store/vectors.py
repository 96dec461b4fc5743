"""pgvector plumbing: the binary ``vector`` codec for asyncpg and the per-dimension HNSW indexes.

One ``passages.embedding`` column holds vectors of every archive's dimension (an untyped
``vector``). Each dimension in use has a partial HNSW index over the expression
``embedding::vector(<d>)`` restricted to ``dimension = <d>``; a query uses it only when it orders by
that same expression and repeats that predicate, which :func:`ann_distance` and
:func:`ann_predicate` spell once for every caller.
"""

from __future__ import annotations

import struct
import weakref
import zlib

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

INDEX_PREFIX = "passages_embedding_hnsw_"
"""Name of each per-dimension index: this prefix and the dimension."""
HNSW_M = 16
"""pgvector's default graph degree."""
HNSW_EF_CONSTRUCTION = 64
"""pgvector's default build-time candidate list; measured recall@10 ≥ 0.95 with it (bench/archival.py)."""

_HEADER = struct.Struct("!HH")
_with_codec: weakref.WeakSet = weakref.WeakSet()


def index_name(dimension: int) -> str:
    return f"{INDEX_PREFIX}{int(dimension)}"


def ann_distance(dimension: int, query_param: str = ":query") -> str:
    """The cosine distance expression the HNSW index of ``dimension`` answers."""
    d = int(dimension)
    return f"(p.embedding::vector({d}) <=> CAST({query_param} AS vector({d})))"


def ann_predicate(dimension: int) -> str:
    """The predicate of the partial index of ``dimension`` (the planner needs it to pick the index)."""
    return f"p.dimension = {int(dimension)}"


EXACT_DISTANCE = "(p.embedding <=> CAST(:query AS vector))"
"""Cosine distance computed row by row: no index has this expression, so the search is exact."""


def encode_vector(value) -> bytes:
    """pgvector's binary format: dimension, a reserved zero, then big-endian float32 values."""
    array = np.asarray(value, dtype=">f4")
    return _HEADER.pack(array.shape[0], 0) + array.tobytes()


def decode_vector(data: bytes) -> np.ndarray:
    dimension, _ = _HEADER.unpack_from(data)
    return np.frombuffer(data, dtype=">f4", count=dimension, offset=_HEADER.size).astype(np.float32)


async def with_vector_codec(conn: AsyncConnection):
    """The asyncpg connection under ``conn``, made to send and read ``vector`` values in binary.

    Registered once per physical connection (remembered weakly), so pooled connections pay once.
    """
    raw = (await conn.get_raw_connection()).driver_connection
    if raw not in _with_codec:
        await raw.set_type_codec(
            "vector", schema="public", encoder=encode_vector, decoder=decode_vector, format="binary"
        )
        _with_codec.add(raw)
    return raw


async def ensure_vector_index(engine: AsyncEngine, dimension: int) -> None:
    """Create the HNSW index of ``dimension`` unless it exists (once per dimension, ever).

    It is made while no passage of that dimension exists yet (when the first archive of that
    dimension is created), so building it costs a scan of the table, not a graph build. An advisory
    lock keeps two replicas from racing on the name.
    """
    name = index_name(dimension)
    async with engine.connect() as conn:
        exists = await conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"memory.{name}"})
        if exists.scalar_one():
            return
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(name.encode())})
        await conn.execute(
            text(
                f"CREATE INDEX IF NOT EXISTS {name} ON memory.passages USING hnsw "
                f"((embedding::vector({int(dimension)})) vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
                f"WHERE dimension = {int(dimension)}"
            )
        )
