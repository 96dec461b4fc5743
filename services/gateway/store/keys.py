"""Tenants and API keys in the ``gateway`` schema; only hashes of keys are stored."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import NotFound
from services.gateway.core.keys import IssuedKey, check_tenant_id, key_hash, new_key
from services.gateway.store.tables import api_keys, tenants


class KeyStore:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def tenant_for_hash(self, digest: str) -> str | None:
        query = select(api_keys.c.tenant).where(
            api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None)
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def issue(self, tenant: str, *, name: str = "") -> IssuedKey:
        """Create the tenant if new and a key for it; the plain key is in the result only."""
        check_tenant_id(tenant)
        key = new_key()
        key_id = str(uuid.uuid4())
        async with self._engine.begin() as conn:
            await conn.execute(pg_insert(tenants).values(id=tenant).on_conflict_do_nothing())
            await conn.execute(
                api_keys.insert().values(
                    id=key_id, tenant=tenant, prefix=key[:10], key_hash=key_hash(key), name=name
                )
            )
        return IssuedKey(id=key_id, tenant=tenant, key=key)

    async def revoke(self, key_or_id: str) -> None:
        """Revoke a key given either the key itself or its id."""
        if key_or_id.startswith("ags_"):
            condition = api_keys.c.key_hash == key_hash(key_or_id)
        else:
            try:
                condition = api_keys.c.id == str(uuid.UUID(key_or_id))
            except ValueError:
                raise NotFound("api key", key_or_id) from None
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(condition, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
        if result.rowcount == 0:
            raise NotFound("api key", key_or_id[:10])

    async def list(self, tenant: str | None = None) -> list[dict]:
        query = select(
            api_keys.c.id,
            api_keys.c.tenant,
            api_keys.c.prefix,
            api_keys.c.name,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        ).order_by(api_keys.c.created_at)
        if tenant:
            query = query.where(api_keys.c.tenant == tenant)
        async with self._engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]
