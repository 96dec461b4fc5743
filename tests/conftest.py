"""Fixtures shared by every test layer.

The database fixtures start one private embedded PostgreSQL (fsync off) per test session in a
temporary directory, or use ``AGENTSUITE_TEST_DATABASE_URL`` when it names an external server.
Tests that use them are integration or e2e tests; unit tests never touch them.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import create_engine, open_pool
from services.common.embedded_pg import EmbeddedPostgres
from services.common.migrations import upgrade
from services.common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of a PostgreSQL + pgvector server for this test session."""
    external = os.environ.get("AGENTSUITE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="agentsuite-test-") as state_dir:
        server = EmbeddedPostgres(Path(state_dir), fast=True)
        url = server.ensure_running()
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture(scope="session")
async def migrated_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database with every service schema migrated to head."""
    engine = create_engine(database_url, Settings(service="test", db_pool_size=5))
    for service, schema in (
        ("memory", "memory"),
        ("agent", "agent"),
        ("gateway", "gateway"),
        ("tools", "tools"),
    ):
        await upgrade(engine, schema=schema, script_location=ROOT / "services" / service / "migrations")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def migrated_pool(migrated_engine: AsyncEngine) -> AsyncIterator[asyncpg.Pool]:
    """A plain asyncpg pool on the migrated test database, as the gateway's run store uses."""
    pool = await open_pool(migrated_engine, Settings(service="test", db_pool_size=5))
    yield pool
    await pool.close()


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """URL of a new, empty database on the test server (nothing migrated), dropped afterwards."""
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
