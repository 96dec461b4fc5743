"""pgvector plumbing: the binary ``vector`` codec for asyncpg and the two distance expressions.

``passages.embedding`` is an untyped ``vector`` (each archive has its own dimension). A large
archive's HNSW index is built over ``embedding::vector(<d>)`` (see ``store.archive_index``), so a
query reaches it only by ordering by that same expression, :func:`ann_distance`;
:data:`EXACT_DISTANCE` matches no index and is computed row by row.
"""

from __future__ import annotations

import struct
import weakref

import numpy as np
from sqlalchemy.ext.asyncio import AsyncConnection

EXACT_DISTANCE = "(p.embedding <=> CAST(:query AS vector))"
"""Cosine distance computed row by row: no index has this expression, so the search is exact."""

_HEADER = struct.Struct("!HH")
_with_codec: weakref.WeakSet = weakref.WeakSet()


def ann_distance(dimension: int) -> str:
    """The cosine distance expression an archive's HNSW index (of ``dimension``) answers."""
    d = int(dimension)
    return f"(p.embedding::vector({d}) <=> CAST(:query AS vector({d})))"


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
