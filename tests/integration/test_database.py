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
