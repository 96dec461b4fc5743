"""The tool and secret stores against the real PostgreSQL: tenancy, unique names, sealed secrets."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.common.errors import AlreadyExists, FailedPrecondition, NotFound
from services.tools.core.tools import ToolDraft, build_spec
from services.tools.store.sealing import SecretBox, decode_key, generate_key
from services.tools.store.secrets import SecretStore
from services.tools.store.tables import secrets
from services.tools.store.tools import ToolStore

SOURCE = 'def ping(x: int) -> int:\n    """Ping."""\n    return x\n'


def spec(name: str = "ping", **fields):
    return build_spec(ToolDraft(name=name, source_code=SOURCE, **fields), max_timeout_seconds=300)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4()}"


async def test_tools_are_scoped_by_tenant_and_unique_by_name(migrated_engine, tenant):
    store = ToolStore(migrated_engine)
    tool = await store.create(tenant, spec(timeout_seconds=1.5, tags=("a",)))

    assert (await store.get(tenant, tool.id)).timeout_seconds == 1.5
    with pytest.raises(AlreadyExists):
        await store.create(tenant, spec())
    with pytest.raises(NotFound):
        await store.get("someone-else", tool.id)
    with pytest.raises(NotFound):
        await store.replace("someone-else", tool.id, spec("renamed"))
    with pytest.raises(NotFound):
        await store.delete("someone-else", tool.id)
    with pytest.raises(NotFound):
        await store.get(tenant, "not-a-uuid")


async def test_renaming_onto_a_taken_name_is_already_exists(migrated_engine, tenant):
    store = ToolStore(migrated_engine)
    await store.create(tenant, spec("one"))
    two = await store.create(tenant, spec("two"))

    with pytest.raises(AlreadyExists):
        await store.replace(tenant, two.id, spec("one"))


async def test_secret_values_are_stored_sealed_and_bound_to_their_row(migrated_engine, tenant):
    box = SecretBox(decode_key(generate_key()))
    store = SecretStore(migrated_engine, box)
    await store.set(tenant, "", "TOKEN", "plain-text-value")

    async with migrated_engine.connect() as conn:
        sealed = (await conn.execute(select(secrets.c.sealed).where(secrets.c.tenant == tenant))).scalar_one()
    assert b"plain-text-value" not in sealed
    assert box.open(sealed, context=(tenant, "", "TOKEN")) == "plain-text-value"
    with pytest.raises(FailedPrecondition) as caught:
        box.open(sealed, context=(tenant, "", "OTHER"))  # copied into another row: does not open
    assert "plain-text-value" not in caught.value.message


async def test_an_agents_secret_overrides_the_tenant_wide_one(migrated_engine, tenant):
    store = SecretStore(migrated_engine, SecretBox(decode_key(generate_key())))
    agent = str(uuid.uuid4())
    await store.set(tenant, "", "A", "tenant-a")
    await store.set(tenant, "", "B", "tenant-b")
    await store.set(tenant, agent, "A", "agent-a")
    await store.set(tenant, str(uuid.uuid4()), "B", "another-agents-b")

    assert await store.resolve(tenant, agent, ("A", "B", "C")) == {"A": "agent-a", "B": "tenant-b"}
    assert await store.resolve(tenant, "", ("A",)) == {"A": "tenant-a"}
    assert await store.resolve("someone-else", agent, ("A",)) == {}
    assert [s.name for s in await store.list(tenant, agent)] == ["A"]
