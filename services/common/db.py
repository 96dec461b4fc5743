"""The database: one pooled async engine per process, over asyncpg, on PostgreSQL + pgvector.

``DATABASE_URL`` names an external server; when it is unset the embedded server under the state
directory is started (or joined) instead. Both take the same code path from here on.

``DATABASE_URL`` may go through PgBouncer in transaction pooling mode (``db_transaction_pooler``):
then one client connection runs its transactions on whichever server connection is free, so
nothing may rely on the session. Statements there are unnamed prepared statements (asyncpg sends
Parse, Describe and Flush, then Bind, Execute and Sync: no ReadyForQuery in between, so PgBouncer
keeps the same server connection for both halves) and connections ask for no session settings at
start-up. What needs a session (LISTEN, advisory locks, migrations, ``SET`` outside a transaction)
uses the direct URL (``direct_dsn``, ``direct_engine``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from services.common import db_telemetry
from services.common.embedded_pg import EmbeddedPostgres
from services.common.errors import AgentSuiteError, Conflict, DeadlineExceeded, InvalidArgument, Unavailable
from services.common.settings import Settings

log = logging.getLogger(__name__)


def resolve_database_url(settings: Settings) -> str:
    """``DATABASE_URL`` if set, else the URL of the embedded server (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return EmbeddedPostgres(settings.state_dir).ensure_running()


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg form of a plain ``postgresql://`` URL.

    libpq's ``sslmode`` becomes asyncpg's ``ssl``; other libpq-only parameters are dropped.
    """
    parts = urlsplit(url)
    scheme = "postgresql+asyncpg"
    query = []
    for key, value in parse_qsl(parts.query):
        if key == "sslmode":
            query.append(("ssl", value))
        elif key in {"ssl", "prepared_statement_cache_size", "command_timeout"}:
            query.append((key, value))
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))


def create_engine(
    url: str, settings: Settings, *, through_pooler: bool = False, pool_size: int | None = None
) -> AsyncEngine:
    """A pooled engine whose connections carry the statement timeout and the service's name;
    ``through_pooler``: ``url`` is a transaction pooler's (see the module's doc)."""
    connect_args: dict[str, Any] = {"server_settings": _server_settings(settings, through_pooler)}
    if through_pooler:
        connect_args.update(
            statement_cache_size=0,  # asyncpg's own cache of named statements
            prepared_statement_cache_size=0,  # SQLAlchemy's
            prepared_statement_name_func=_unnamed,
        )
    engine = create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
        **db_telemetry.engine_arguments(),
    )
    db_telemetry.instrument_engine(engine)
    return engine


def _unnamed() -> str:
    """SQLAlchemy's name for a statement it prepares: the unnamed one, which lives only until the
    next Parse on its server connection, so no name can collide or leak behind a pooler."""
    return ""


def direct_dsn(settings: Settings, engine: AsyncEngine) -> str:
    """The URL for what needs a session: ``AGENTSUITE_DATABASE_DIRECT_URL``, else ``engine``'s."""
    return settings.database_direct_url or plain_dsn(engine)


def direct_engine(settings: Settings, engine: AsyncEngine, *, pool_size: int = 2) -> AsyncEngine:
    """An engine for what needs a session: ``engine`` itself when there is no separate direct URL,
    else a small engine of its own on that URL (the caller disposes it)."""
    if not settings.database_direct_url or settings.database_direct_url == settings.database_url:
        return engine
    return create_engine(settings.database_direct_url, settings, pool_size=pool_size)


def plain_dsn(engine: AsyncEngine) -> str:
    """The engine's database as a ``postgresql://`` URL that asyncpg takes directly."""
    query = {"sslmode": engine.url.query["ssl"]} if "ssl" in engine.url.query else {}
    return engine.url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


async def open_pool(engine: AsyncEngine, settings: Settings) -> asyncpg.Pool:
    """A plain asyncpg pool on the engine's database, for a service's hottest statements.

    SQLAlchemy's execute path costs about 0.1 ms of CPU per statement and, with its pool, another
    0.1-0.4 ms of wall time; asyncpg alone costs a fraction of that. Connections are not reset when
    they return (asyncpg would send ``RESET ALL``, one more round trip each time), so what runs here
    must leave no session state behind: no ``SET``, ``LISTEN``, advisory locks or open transactions.
    ``engine`` is the one on ``DATABASE_URL``: behind a transaction pooler, the pool's statements
    are unnamed too (one more round trip per statement: PgBouncer 1.18 keeps no prepared statement).
    """
    through_pooler = settings.db_transaction_pooler
    pool = await db_telemetry.pool_class()(
        plain_dsn(engine),
        min_size=1,
        max_size=settings.db_pool_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=1800,
        server_settings=_server_settings(settings, through_pooler),
        statement_cache_size=0 if through_pooler else 100,
        reset=_leave_as_is,
        connect=None,
        setup=None,
        init=None,
        loop=None,
        record_class=asyncpg.Record,
        **db_telemetry.pool_arguments(),
    )
    db_telemetry.observe_asyncpg_pool(pool)
    return pool


async def _leave_as_is(_connection: asyncpg.Connection) -> None:
    return None


def _server_settings(settings: Settings, through_pooler: bool) -> dict[str, Any]:
    if through_pooler:  # PgBouncer refuses other start-up parameters; the role sets them instead
        return {"application_name": f"agentsuite-{settings.service}"}
    return {
        "application_name": f"agentsuite-{settings.service}",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "idle_in_transaction_session_timeout": "60000",
        "jit": "off",
    }


async def wait_for_database(engine: AsyncEngine, *, timeout: float = 60.0) -> None:
    """Retry connecting with backoff until the server answers or ``timeout`` passes."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((OSError, OperationalError, DBAPIError, asyncio.TimeoutError)),
            wait=wait_exponential_jitter(initial=0.1, max=2.0),
            stop=stop_after_delay(timeout),
            reraise=True,
        ):
            with attempt:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
    except (TimeoutError, OSError, OperationalError, DBAPIError) as exc:
        raise Unavailable(f"database unreachable after {timeout:.0f}s: {type(exc).__name__}") from None


def domain_error(exc: BaseException) -> AgentSuiteError | None:
    """The domain error a database failure stands for, or None when it is a bug (INTERNAL).

    One place for every store, through SQLAlchemy or asyncpg alone: connection trouble is
    UNAVAILABLE (the caller may retry), a statement timeout is DEADLINE_EXCEEDED, a serialization
    failure or deadlock is ABORTED. A value the database cannot take (a data exception: out of
    range, not valid for its type; or past a limit, such as an index row too large) came from a
    request its API layer should have refused with a field violation: INVALID_ARGUMENT without
    one, and a warning in the log so that check gets written.
    """
    if isinstance(exc, PoolTimeoutError):
        return Unavailable("the database connection pool is exhausted", reason="DB_POOL_EXHAUSTED")
    if isinstance(exc, OSError | asyncio.TimeoutError):  # asyncpg's connect fails with these, unwrapped
        return Unavailable("the database is unreachable", reason="DB_UNAVAILABLE")
    if isinstance(exc, DBAPIError):
        lost = exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    elif isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        lost = isinstance(exc, asyncpg.InterfaceError)
        sqlstate = getattr(exc, "sqlstate", None) or ""
    else:
        return None
    if sqlstate == "57014":
        return DeadlineExceeded("a database statement ran past its time limit", reason="DB_STATEMENT_TIMEOUT")
    if sqlstate in {"40001", "40P01"}:
        return Conflict("a concurrent database transaction won; retry", reason="DB_CONFLICT")
    if lost or sqlstate[:2] in {"08", "53", "57"}:
        return Unavailable("the database is unavailable", reason="DB_UNAVAILABLE")
    if sqlstate[:2] in {"22", "54"}:
        log.warning("the database refused a value of a request", extra={"sqlstate": sqlstate})
        return InvalidArgument.field("request", "holds a value the database cannot store")
    return None
