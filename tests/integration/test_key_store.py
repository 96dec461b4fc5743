"""API keys on the real PostgreSQL: issued per tenant, resolved by hash, revoked by key or id, and never
stored in plain text (DESIGN §11)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from services.common.errors import InvalidArgument, NotFound
from services.gateway.core.keys import ApiKeys, key_hash
from services.gateway.store.keys import KeyStore


@pytest.fixture
def store(migrated_engine) -> KeyStore:
    return KeyStore(migrated_engine)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def test_issued_key_resolves_to_its_tenant_by_hash(store, tenant):
    issued = await store.issue(tenant, name="laptop")

    assert issued.tenant == tenant
    assert issued.key.startswith("ags_")
    assert await store.tenant_for_hash(key_hash(issued.key)) == tenant


async def test_issued_key_authenticates_through_the_gateway_key_cache(store, tenant):
    issued = await store.issue(tenant)

    assert await ApiKeys(store).tenant_for(f"Bearer {issued.key}") == tenant


async def test_unknown_hash_resolves_to_nobody(store):
    assert await store.tenant_for_hash(key_hash("ags_never-issued")) is None


async def test_one_tenant_can_hold_several_keys(store, tenant):
    first, second = await store.issue(tenant), await store.issue(tenant)

    assert first.key != second.key
    assert await store.tenant_for_hash(key_hash(first.key)) == tenant
    assert await store.tenant_for_hash(key_hash(second.key)) == tenant
    assert [k["id"] for k in await store.list(tenant)] == [first.id, second.id]


async def test_invalid_tenant_id_is_refused_before_anything_is_stored(store, migrated_engine):
    with pytest.raises(InvalidArgument):
        await store.issue("Not A Tenant")

    async with migrated_engine.connect() as conn:
        count = (
            await conn.execute(text("SELECT count(*) FROM gateway.tenants WHERE id = 'Not A Tenant'"))
        ).scalar_one()
    assert count == 0


async def test_key_revoked_by_the_key_itself_no_longer_resolves(store, tenant):
    revoked, kept = await store.issue(tenant), await store.issue(tenant)

    await store.revoke(revoked.key)

    assert await store.tenant_for_hash(key_hash(revoked.key)) is None
    assert await store.tenant_for_hash(key_hash(kept.key)) == tenant


async def test_key_revoked_by_its_id_no_longer_resolves(store, tenant):
    issued = await store.issue(tenant)

    await store.revoke(issued.id)

    assert await store.tenant_for_hash(key_hash(issued.key)) is None
    (listed,) = await store.list(tenant)
    assert listed["revoked_at"] is not None


async def test_revoking_twice_or_an_unknown_key_is_not_found(store, tenant):
    issued = await store.issue(tenant)
    await store.revoke(issued.id)

    with pytest.raises(NotFound):
        await store.revoke(issued.id)
    with pytest.raises(NotFound):
        await store.revoke(issued.key)
    with pytest.raises(NotFound):
        await store.revoke(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        await store.revoke("neither-a-key-nor-an-id")


async def test_not_found_on_revoke_never_echoes_the_whole_key(store):
    key = "ags_" + "s" * 43

    with pytest.raises(NotFound) as caught:
        await store.revoke(key)

    assert key not in str(caught.value)


async def test_only_the_hash_and_a_short_prefix_are_stored_never_the_key(store, migrated_engine, tenant):
    issued = await store.issue(tenant, name="ci")

    async with migrated_engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM gateway.api_keys WHERE id = :id"), {"id": issued.id})
        ).one()
    stored = {column: str(value) for column, value in row._mapping.items()}

    assert stored["key_hash"] == key_hash(issued.key)
    assert issued.key.startswith(stored["prefix"]) and len(stored["prefix"]) <= 10
    assert all(issued.key not in value for value in stored.values())
    assert all(issued.key[10:] not in value for value in stored.values())


async def test_listing_keys_shows_no_key_material(store, tenant):
    issued = await store.issue(tenant, name="ci")

    (listed,) = await store.list(tenant)

    assert set(listed) == {"id", "tenant", "prefix", "name", "created_at", "revoked_at"}
    assert (listed["id"], listed["tenant"], listed["name"]) == (issued.id, tenant, "ci")
