"""The migrations create exactly the tables the code describes: Alembic autogenerate, run against the
migrated database, finds nothing to change in any service schema."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from services.memory.store.archive_index import INDEX_PREFIX as DYNAMIC_INDEX_PREFIX


def differences(connection, schema: str, metadata: MetaData) -> list:
    def include_name(name, type_, parent_names) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return name != "alembic_version"
        if type_ == "index":
            # Made at run time, one per large archive (services.memory.store.archive_index).
            return not (name or "").startswith(DYNAMIC_INDEX_PREFIX)
        return True

    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    return compare_metadata(context, metadata)


@pytest.mark.parametrize("service", ["memory", "agent", "gateway", "tools"])
async def test_migrated_schema_matches_the_table_definitions(migrated_engine, service):
    tables = importlib.import_module(f"services.{service}.store.tables")

    async with migrated_engine.connect() as conn:
        diff = await conn.run_sync(differences, tables.SCHEMA, tables.metadata)

    assert diff == [], f"{service}: migrations and services/{service}/store/tables.py disagree"


@pytest.mark.parametrize("service", ["memory", "agent", "gateway", "tools"])
async def test_comparison_sees_every_table_of_the_service_schema(migrated_engine, service):
    # Guards the test above against passing vacuously because the filter hid the schema.
    tables = importlib.import_module(f"services.{service}.store.tables")

    async with migrated_engine.connect() as conn:
        diff = await conn.run_sync(differences, tables.SCHEMA, MetaData(schema=tables.SCHEMA))

    removed = {entry[1].name for entry in diff if entry[0] == "remove_table"}
    assert removed == {table.name for table in tables.metadata.tables.values()}
