"""The statements of every agent step (the fenced append, the context read) in asyncpg's form.

Through SQLAlchemy such a statement cost this process about 150 µs of CPU (connection
characteristics, parameter processing, cursor and result wrappers); asyncpg alone about 60 µs. The
statement is still written as ``text()`` and compiled once by SQLAlchemy's asyncpg dialect, so
PostgreSQL receives exactly the SQL it received before. It runs on the service's asyncpg pool
(``services.common.db.open_pool``); errors stay asyncpg's, and ``services.common.db.domain_error``
maps them to statuses as it maps SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import TextClause
from sqlalchemy.dialects.postgresql.asyncpg import dialect

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
