"""Tool secrets of one tenant, sealed at rest; values leave this module only for a sandbox."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import NotFound
from services.tools.store.sealing import SecretBox
from services.tools.store.tables import secrets


@dataclass(frozen=True)
class SecretInfo:
    """A secret without its value."""

    name: str
    agent_id: str
    created_at: datetime
    updated_at: datetime


class SecretStore:
    """Set, list (names only), delete and resolve the secrets of a tenant and its agents."""

    def __init__(self, engine: AsyncEngine, box: SecretBox):
        self._engine = engine
        self._box = box

    async def set(self, tenant: str, agent_id: str, name: str, value: str) -> SecretInfo:
        """Create or replace a secret's value (``agent_id`` empty: tenant-wide)."""
        sealed = self._box.seal(value, context=(tenant, agent_id, name))
        statement = pg_insert(secrets).values(tenant=tenant, agent_id=agent_id, name=name, sealed=sealed)
        statement = statement.on_conflict_do_update(
            constraint="secrets_pkey", set_={"sealed": sealed, "updated_at": func.now()}
        ).returning(secrets.c.name, secrets.c.agent_id, secrets.c.created_at, secrets.c.updated_at)
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).one()
        return SecretInfo(row.name, row.agent_id, row.created_at, row.updated_at)

    async def list(self, tenant: str, agent_id: str) -> list[SecretInfo]:
        """The secrets of the agent (or the tenant-wide ones for an empty id), ordered by name."""
        query = (
            select(secrets.c.name, secrets.c.agent_id, secrets.c.created_at, secrets.c.updated_at)
            .where(secrets.c.tenant == tenant, secrets.c.agent_id == agent_id)
            .order_by(secrets.c.name)
        )
        async with self._engine.connect() as conn:
            return [
                SecretInfo(r.name, r.agent_id, r.created_at, r.updated_at) for r in await conn.execute(query)
            ]

    async def delete(self, tenant: str, agent_id: str, name: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(secrets).where(
                    secrets.c.tenant == tenant, secrets.c.agent_id == agent_id, secrets.c.name == name
                )
            )
        if result.rowcount == 0:
            raise NotFound("secret", name)

    async def resolve(self, tenant: str, agent_id: str, names: Iterable[str]) -> dict[str, str]:
        """The values of ``names`` that exist: the agent's own secret wins over the tenant-wide one."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        owners = [""] if not agent_id else ["", agent_id]
        query = select(secrets.c.agent_id, secrets.c.name, secrets.c.sealed).where(
            secrets.c.tenant == tenant, secrets.c.name.in_(wanted), secrets.c.agent_id.in_(owners)
        )
        async with self._engine.connect() as conn:
            rows = list(await conn.execute(query))
        values: dict[str, str] = {}
        for row in sorted(rows, key=lambda r: r.agent_id != ""):  # tenant-wide first, then overrides
            values[row.name] = self._box.open(row.sealed, context=(tenant, row.agent_id, row.name))
        return values
