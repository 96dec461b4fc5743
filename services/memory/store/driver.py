"""The statements of every agent step (the fenced append, the context read), run by asyncpg itself.

Through SQLAlchemy such a statement cost this process about 150 µs of CPU (connection
characteristics, parameter processing, cursor and result wrappers); asyncpg alone, on the same
pooled connection, about 60 µs. The statement is still written as ``text()`` and compiled once by
SQLAlchemy's asyncpg dialect, so PostgreSQL receives exactly the SQL it received before; the
connection still comes from the engine's pool.

Errors stay asyncpg's: ``services.common.db.domain_error`` maps them to statuses as it maps
SQLAlchemy's, and a connection that broke (or whose statement was cancelled) leaves the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql.asyncpg import dialect
from sqlalchemy.ext.asyncio import AsyncEngine

_DIALECT = dialect()


@dataclass(frozen=True)
class DriverStatement:
    """A ``text()`` statement in asyncpg's form: numbered parameters, in the order of ``names``."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: TextClause) -> DriverStatement:
        compiled = statement.compile(dialect=_DIALECT)
        return cls(compiled.string, tuple(compiled.positiontup or ()))

    def arguments(self, parameters: Mapping[str, object]) -> list:
        return [parameters[name] for name in self.names]


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection of one of ``engine``'s pooled connections, outside a transaction (each
    statement commits by itself unless the caller opens one)."""
    async with engine.connect() as conn:
        pooled = await conn.get_raw_connection()
        try:
            yield pooled.driver_connection
        except asyncpg.PostgresError as exc:
            state = exc.sqlstate or ""
            if state[:2] == "08" or state[:3] == "57P":
                pooled.invalidate()  # the server closed it
            raise
        except (asyncpg.InterfaceError, OSError, TimeoutError, asyncio.CancelledError):
            pooled.invalidate()  # its state is unknown: never hand it out again
            raise
