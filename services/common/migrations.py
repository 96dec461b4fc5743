"""Alembic migrations, one history per service schema, applied at start-up.

Each service keeps its revisions in ``services/<svc>/migrations/`` with a three-line ``env.py`` that
calls :func:`run_env`. The version table lives in the service's own schema, and an advisory lock
makes replicas that start together migrate one at a time.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(schema: str, script_location: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["schema"] = schema
    return config


async def upgrade(engine: AsyncEngine, *, schema: str, script_location: Path) -> None:
    """Bring ``schema`` to the newest revision (no-op when it is current)."""
    lock_id = zlib.crc32(f"agentsuite-migrate-{schema}".encode())

    def _upgrade(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        config = alembic_config(schema, script_location)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``: migrate on the connection handed over by :func:`upgrade`."""
    config = context.config
    schema = config.attributes["schema"]
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()
