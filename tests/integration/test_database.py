"""The embedded PostgreSQL and the migrations: the ground every other integration test stands on."""

from __future__ import annotations

import pytest
from sqlalchemy import text


async def test_embedded_server_has_pgvector_with_cosine_distance(migrated_engine):
    async with migrated_engine.connect() as conn:
        version = (await conn.execute(text("SHOW server_version_num"))).scalar()
        distance = (await conn.execute(text("SELECT '[1,0]'::vector <=> '[0,1]'::vector"))).scalar()
    assert int(version) >= 160000
    assert distance == pytest.approx(1.0)


async def test_each_service_schema_records_its_own_migration_head(migrated_engine):
    async with migrated_engine.connect() as conn:
        for schema in ("memory", "agent", "gateway"):
            head = (await conn.execute(text(f"SELECT version_num FROM {schema}.alembic_version"))).scalar()
            assert head, f"{schema} has no alembic version"


async def test_a_statement_past_its_time_limit_is_a_deadline_not_an_internal_error(migrated_engine):
    from services.common.db import domain_error
    from services.common.errors import DeadlineExceeded

    with pytest.raises(Exception) as raised:
        async with migrated_engine.begin() as conn:
            await conn.execute(text("SET LOCAL statement_timeout = 50"))
            await conn.execute(text("SELECT pg_sleep(2)"))

    assert isinstance(domain_error(raised.value), DeadlineExceeded)


async def test_an_unreachable_database_is_unavailable_not_an_internal_error():
    from services.common.db import create_engine, domain_error
    from services.common.errors import Unavailable
    from services.common.ports import free_port
    from services.common.settings import Settings

    engine = create_engine(f"postgresql://nobody:x@127.0.0.1:{free_port()}/none", Settings(service="test"))
    try:
        with pytest.raises(Exception) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()

    assert isinstance(domain_error(raised.value), Unavailable)


async def test_statements_run_on_asyncpg_directly_map_to_the_same_statuses(migrated_pool):
    import asyncpg

    from services.common.db import domain_error
    from services.common.errors import DeadlineExceeded, Unavailable

    with pytest.raises(asyncpg.QueryCanceledError) as timed_out:
        async with migrated_pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = 50")
            await conn.execute("SELECT pg_sleep(2)")
    with pytest.raises(asyncpg.InterfaceError) as broken:
        async with migrated_pool.acquire() as conn:
            await conn.close()
            await conn.fetchrow("SELECT 1")
    for _ in range(migrated_pool.get_max_size() + 1):  # the closed one was replaced
        assert await migrated_pool.fetchval("SELECT 1") == 1
    async with migrated_pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") != "50ms", "nothing leaks to the next user"

    assert isinstance(domain_error(timed_out.value), DeadlineExceeded)
    assert isinstance(domain_error(broken.value), Unavailable)
    assert domain_error(asyncpg.UniqueViolationError("duplicate key")) is None  # a bug: INTERNAL


@pytest.mark.parametrize(
    ("expression", "argument"),
    [
        ("CAST(CAST({} AS text) AS uuid)", "not-a-uuid"),  # the server refuses it
        ("CAST({} AS uuid)", "x"),  # the driver refuses it before sending
        ("CAST(CAST({} AS text) AS int4)", "99999999999"),
        ("CAST(CAST(CAST({} AS text) AS numeric) AS int8)", "1e30"),
    ],
)
async def test_a_value_the_database_cannot_take_is_invalid_argument_through_either_driver_path(
    migrated_engine, migrated_pool, expression, argument
):
    from services.common.db import domain_error
    from services.common.errors import InvalidArgument

    with pytest.raises(Exception) as direct:
        await migrated_pool.fetchval("SELECT " + expression.format("$1"), argument)
    with pytest.raises(Exception) as through_sqlalchemy:
        async with migrated_engine.connect() as conn:
            await conn.execute(text("SELECT " + expression.format(":value")), {"value": argument})

    for raised in (direct.value, through_sqlalchemy.value):
        error = domain_error(raised)
        assert isinstance(error, InvalidArgument), repr(raised)
        assert "SELECT" not in error.message and argument not in error.message
