"""Alembic migrations, one history per service schema, applied at start-up.

Each service keeps its revisions in ``services/<svc>/migrations/`` with a three-line ``env.py`` that
calls :func:`run_env`. The version table lives in the service's own schema.

Many replicas may start at once against a fresh database (a rollout, ``python -m services.migrate``
in a Job beside them): the first takes a transaction-scoped advisory lock of the schema and
migrates in that transaction; the others wait on the lock, then find the schema at head and apply
nothing. The lock and the DDL need a real session: run this on the direct URL, not through a
transaction pooler (``services.common.db.direct_engine``).
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


async def upgrade(engine: AsyncEngine, *, schema: str, script_location: Path) -> list[str]:
    """Bring ``schema`` to the newest revision; returns the revisions this call applied, oldest
    first (none when it was current, or another replica migrated it meanwhile)."""
    lock_id = zlib.crc32(f"agentsuite-migrate-{schema}".encode())
    applied: list[str] = []

    def _upgrade(connection: Connection) -> None:
        # Waiting for another replica's migration, or a long one of our own, is not a stuck statement.
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        config = alembic_config(schema, script_location)
        config.attributes["connection"] = connection
        config.attributes["applied"] = applied
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    return applied


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``: migrate on the connection handed over by :func:`upgrade`."""
    config = context.config
    schema = config.attributes["schema"]
    connection = config.attributes["connection"]
    applied = config.attributes.get("applied", [])
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        transaction_per_migration=False,
        on_version_apply=lambda *, step, **_: applied.extend(step.up_revision_ids),
    )
    with context.begin_transaction():
        context.run_migrations()
