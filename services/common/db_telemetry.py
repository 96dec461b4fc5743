"""Every SQL statement measured and traced: ``db.client.operation.duration`` by operation, a client
span per statement (its operation and the database system, never the statement's parameters), and
the pools' use and waits.

Two ways reach PostgreSQL: SQLAlchemy engines (their events see each statement) and the plain
asyncpg pools of the hot paths (a connection class of ours). Nothing is installed when the process
neither records traces nor exports metrics.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from services.common import metrics
from services.common.telemetry import tracer, traces_recorded

_OPERATIONS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "COPY", "BEGIN", "COMMIT", "ROLLBACK", "CREATE",
     "ALTER", "DROP", "LISTEN", "UNLISTEN", "NOTIFY", "SET", "SHOW", "VALUES", "CALL", "ANALYZE",
     "SAVEPOINT", "RELEASE", "LOCK", "TRUNCATE", "EXPLAIN"}
)  # fmt: skip
_FIRST_WORD = re.compile(r"\s*(?:--[^\n]*\n\s*)*([A-Za-z]+)")
_operations: dict[str, str] = {}


def observed() -> bool:
    return traces_recorded() or metrics.recording()


def operation_of(sql: str) -> str:
    """The statement's first keyword (``SELECT``), or ``OTHER``: a bounded name, never its text."""
    operation = _operations.get(sql)
    if operation is None:
        match = _FIRST_WORD.match(sql)
        word = match.group(1).upper() if match else ""
        operation = word if word in _OPERATIONS else "OTHER"
        if len(_operations) < 10_000:
            _operations[sql] = operation
    return operation


class _Statement:
    """The span and duration of one statement (``with _Statement(sql):``)."""

    __slots__ = ("_operation", "_span", "_started")

    def __init__(self, sql: str):
        self._operation = operation_of(sql)

    def __enter__(self) -> None:
        self._span = None
        if traces_recorded():
            self._span = tracer().start_span(
                self._operation,
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": "postgresql", "db.operation.name": self._operation},
            )
        self._started = time.perf_counter()

    def __exit__(self, kind, error, _traceback) -> None:
        metrics.record_db_operation(self._operation, time.perf_counter() - self._started)
        if self._span is not None:
            if error is not None:
                self._span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                self._span.set_attribute("error.type", type(error).__name__)
            self._span.end()


class MeasuredConnection(asyncpg.Connection):
    """An asyncpg connection whose statements are measured and traced."""

    async def execute(self, query, *args, **kwargs):
        with _Statement(query):
            return await super().execute(query, *args, **kwargs)

    async def executemany(self, command, args, **kwargs):
        with _Statement(command):
            return await super().executemany(command, args, **kwargs)

    async def fetch(self, query, *args, **kwargs):
        with _Statement(query):
            return await super().fetch(query, *args, **kwargs)

    async def fetchrow(self, query, *args, **kwargs):
        with _Statement(query):
            return await super().fetchrow(query, *args, **kwargs)

    async def fetchval(self, query, *args, **kwargs):
        with _Statement(query):
            return await super().fetchval(query, *args, **kwargs)

    async def copy_records_to_table(self, table_name, **kwargs):
        with _Statement("COPY"):
            return await super().copy_records_to_table(table_name, **kwargs)


class MeasuredPool(asyncpg.Pool):
    """An asyncpg pool that records how long callers wait for a connection.

    ``_acquire`` is asyncpg's one path to a connection (``acquire`` and the pool's own ``fetch``...
    all take it). It is private: the e2e test of telemetry sees its waits exported."""

    async def _acquire(self, timeout):
        started = time.perf_counter()
        try:
            return await super()._acquire(timeout)
        finally:
            metrics.record_pool_wait("asyncpg", time.perf_counter() - started)


def pool_arguments() -> dict:
    """Extra arguments of ``asyncpg.Pool`` for a measured pool (none when nothing is observed)."""
    return {"connection_class": MeasuredConnection if observed() else asyncpg.Connection}


def pool_class() -> type[asyncpg.Pool]:
    return MeasuredPool if observed() else asyncpg.Pool


_pools: dict[str, int] = {}


def _pool_name(kind: str) -> str:
    """``asyncpg``, then ``asyncpg-2``...: each pool of a process under a name of its own."""
    _pools[kind] = _pools.get(kind, 0) + 1
    return kind if _pools[kind] == 1 else f"{kind}-{_pools[kind]}"


def observe_asyncpg_pool(pool: asyncpg.Pool) -> None:
    metrics.observe_pool(
        _pool_name("asyncpg"),
        used=lambda: pool.get_size() - pool.get_idle_size(),
        idle=pool.get_idle_size,
        most=pool.get_max_size(),
    )


class MeasuredQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's pool for asyncio engines, recording how long callers wait for a connection
    (``_do_get`` is the method SQLAlchemy's pool classes implement to hand one out)."""

    def _do_get(self):
        started = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            metrics.record_pool_wait("sqlalchemy", time.perf_counter() - started)


def engine_arguments() -> dict:
    """Extra arguments of ``create_async_engine`` for a measured engine."""
    return {"poolclass": MeasuredQueuePool} if observed() else {}


def instrument_engine(engine: AsyncEngine) -> None:
    """Measure and trace every statement of ``engine``, and report its pool's use."""
    if not observed():
        return
    sync_engine = engine.sync_engine
    pool = sync_engine.pool

    @event.listens_for(sync_engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        measured = _Statement(statement)
        measured.__enter__()
        conn.info.setdefault("agentsuite_statements", []).append(measured)

    @event.listens_for(sync_engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        _finish(conn.info, None)

    @event.listens_for(sync_engine, "handle_error")
    def failed(context) -> None:
        if context.connection is not None:
            _finish(context.connection.info, context.original_exception)

    metrics.observe_pool(
        _pool_name("sqlalchemy"),
        used=_reader(pool, "checkedout"),
        idle=_reader(pool, "checkedin"),
        most=getattr(pool, "size", lambda: 0)(),
    )


def _finish(info: dict, error: BaseException | None) -> None:
    statements = info.get("agentsuite_statements")
    if statements:
        statements.pop().__exit__(type(error) if error else None, error, None)


def _reader(pool, name: str) -> Callable[[], int]:
    method = getattr(pool, name, None)
    return method if method is not None else (lambda: 0)
