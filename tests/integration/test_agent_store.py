"""Agents on the real PostgreSQL: create, get, list with filters and cursor, update under a row lock,
delete, tenant isolation and idempotent creation; the runs' cached reads never miss a change."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

from services.agent.core.agents import AgentSpec, ModelChoice
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.agent.store.agents import AgentStore, CallerAgents
from services.common.call import CallScope, enter_call
from services.common.db import create_engine
from services.common.errors import NotFound
from services.common.settings import Settings


@pytest.fixture
def store(migrated_engine) -> AgentStore:
    return AgentStore(migrated_engine)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def spec(name: str = "helper", *, tags: tuple[str, ...] = (), **changes) -> AgentSpec:
    return AgentSpec(
        name=name,
        model=ModelChoice(provider="scripted", model="scripted", context_window=8000),
        tags=tags,
        **changes,
    )


async def test_created_agent_reads_back_with_every_field(store, tenant):
    wanted = spec(
        "researcher",
        description="finds things",
        system_prompt="Be thorough.",
        tags=("research", "eu"),
        tool_ids=("tool-1",),
        tool_rules=(
            ToolRule(tool_name="send", kind=RuleKind.TERMINAL),
            ToolRule(tool_name="lookup", kind=RuleKind.ALLOWED_CHILDREN, children=("send",)),
            ToolRule(tool_name="lookup", kind=RuleKind.MAX_CALLS, max_calls=3),
        ),
        metadata={"team": "blue"},
        max_steps=12,
    )
    wanted = replace(wanted, model=ModelChoice(provider="openai", model="gpt-x", temperature=0.5))

    created = await store.create(tenant, wanted)
    fetched = await store.get(tenant, created.id)

    assert fetched == created
    assert uuid.UUID(created.id)
    assert (created.name, created.description, created.system_prompt) == (
        "researcher",
        "finds things",
        "Be thorough.",
    )
    assert created.model == ModelChoice(provider="openai", model="gpt-x", temperature=0.5)
    assert created.tags == ("research", "eu")
    assert created.tool_ids == ("tool-1",)
    assert created.tool_rules == wanted.tool_rules
    assert created.metadata == {"team": "blue"}
    assert created.max_steps == 12
    assert created.created_at is not None and created.updated_at is not None


async def test_unknown_or_malformed_id_is_not_found(store, tenant):
    with pytest.raises(NotFound):
        await store.get(tenant, str(uuid.uuid4()))
    with pytest.raises(NotFound):
        await store.get(tenant, "not-a-uuid")
    with pytest.raises(NotFound):
        await store.delete(tenant, "not-a-uuid")


async def test_another_tenants_agent_is_not_found_and_not_listed(store, tenant):
    agent = await store.create(tenant, spec())
    intruder = f"t-{uuid.uuid4().hex[:12]}"

    with pytest.raises(NotFound):
        await store.get(intruder, agent.id)
    with pytest.raises(NotFound):
        await store.delete(intruder, agent.id)
    assert await store.list(intruder, limit=10) == []
    assert (await store.get(tenant, agent.id)).id == agent.id


async def test_list_returns_agents_in_creation_order(store, tenant):
    created = [await store.create(tenant, spec(f"agent-{i}")) for i in range(4)]

    listed = await store.list(tenant, limit=10)

    assert [a.id for a in listed] == [a.id for a in created]


async def test_list_pages_through_every_agent_with_the_created_at_and_id_cursor(store, tenant):
    created = [await store.create(tenant, spec(f"agent-{i}")) for i in range(5)]

    pages, after = [], None
    while True:
        page = await store.list(tenant, limit=2, after=after)
        if not page:
            break
        pages.append([a.id for a in page])
        after = (page[-1].created_at, page[-1].id)

    assert pages == [[a.id for a in created[0:2]], [a.id for a in created[2:4]], [created[4].id]]


async def test_list_with_tags_matches_all_or_any(store, tenant):
    both = await store.create(tenant, spec("both", tags=("red", "blue")))
    red = await store.create(tenant, spec("red", tags=("red",)))
    blue = await store.create(tenant, spec("blue", tags=("blue",)))
    await store.create(tenant, spec("none"))

    all_of = await store.list(tenant, limit=10, tags=("red", "blue"), match_all_tags=True)
    any_of = await store.list(tenant, limit=10, tags=("red", "blue"), match_all_tags=False)
    only_red = await store.list(tenant, limit=10, tags=("red",))

    assert [a.id for a in all_of] == [both.id]
    assert [a.id for a in any_of] == [both.id, red.id, blue.id]
    assert [a.id for a in only_red] == [both.id, red.id]


async def test_list_filters_by_exact_name(store, tenant):
    await store.create(tenant, spec("alpha"))
    beta = await store.create(tenant, spec("beta"))
    await store.create(tenant, spec("beta-2"))

    assert [a.id for a in await store.list(tenant, limit=10, name="beta")] == [beta.id]


async def test_deleted_agent_is_gone_and_a_second_delete_is_not_found(store, tenant):
    agent = await store.create(tenant, spec())

    await store.delete(tenant, agent.id)

    with pytest.raises(NotFound):
        await store.get(tenant, agent.id)
    with pytest.raises(NotFound):
        await store.delete(tenant, agent.id)


async def test_repeated_request_id_returns_the_agent_of_the_first_request(store, tenant):
    first = await store.create(tenant, spec("first"), request_id="req-1")

    again = await store.create(tenant, spec("second attempt"), request_id="req-1")

    assert again == first
    assert [a.id for a in await store.list(tenant, limit=10)] == [first.id]


async def test_request_ids_are_scoped_by_tenant(store, tenant):
    other = f"t-{uuid.uuid4().hex[:12]}"

    mine = await store.create(tenant, spec(), request_id="req-1")
    theirs = await store.create(other, spec(), request_id="req-1")

    assert mine.id != theirs.id


async def test_creations_without_request_id_are_never_merged(store, tenant):
    first = await store.create(tenant, spec())
    second = await store.create(tenant, spec())

    assert first.id != second.id
    assert len(await store.list(tenant, limit=10)) == 2


async def test_update_stores_the_merged_spec_and_bumps_updated_at(store, tenant):
    agent = await store.create(tenant, spec("before", tags=("a",)))

    async def rename(current):
        return replace(current.spec(), name="after")

    updated = await store.update(tenant, agent.id, rename)

    assert (updated.name, updated.tags, updated.created_at) == ("after", ("a",), agent.created_at)
    assert updated.updated_at > agent.updated_at
    assert await store.get(tenant, agent.id) == updated


async def test_concurrent_updates_of_different_fields_both_stay(store, tenant):
    agent = await store.create(tenant, spec("before"))
    renaming_read = asyncio.Event()

    async def rename(current):
        renaming_read.set()
        await asyncio.sleep(0.2)  # the other update waits on the row lock meanwhile
        return replace(current.spec(), name="renamed")

    async def retag(current):
        return replace(current.spec(), tags=("new",))

    async def retag_after_rename_began():
        await renaming_read.wait()
        return await store.update(tenant, agent.id, retag)

    await asyncio.gather(store.update(tenant, agent.id, rename), retag_after_rename_began())

    final = await store.get(tenant, agent.id)
    assert (final.name, final.tags) == ("renamed", ("new",))


async def test_update_and_set_archive_of_another_tenants_agent_are_not_found(store, tenant):
    agent = await store.create(tenant, spec())
    intruder = f"t-{uuid.uuid4().hex[:12]}"

    async def keep(current):
        return current.spec()

    with pytest.raises(NotFound):
        await store.update(intruder, agent.id, keep)
    with pytest.raises(NotFound):
        await store.update(tenant, "not-a-uuid", keep)
    with pytest.raises(NotFound):
        await store.set_archive(intruder, agent.id, "archive")
    assert (await store.set_archive(tenant, agent.id, "archive-1")).archive_id == "archive-1"


class CountingStore(AgentStore):
    """Counts the full reads of an agent's row."""

    full_reads = 0

    async def get_versioned(self, tenant, agent_id):
        self.full_reads += 1
        return await super().get_versioned(tenant, agent_id)


async def test_run_reads_of_an_unchanged_agent_reuse_the_first_read(migrated_engine, tenant):
    store = CountingStore(migrated_engine)
    agent = await store.create(tenant, spec("cached"))
    agents = CallerAgents(store)
    enter_call(CallScope(tenant=tenant))

    first = await agents.get(agent.id)
    again = await agents.get(agent.id)

    assert first == again == agent
    assert store.full_reads == 1


async def test_run_reads_see_every_change_of_the_agent_at_once(migrated_engine, store, tenant):
    agent = await store.create(tenant, spec("before"))
    agents = CallerAgents(store)
    enter_call(CallScope(tenant=tenant))
    await agents.get(agent.id)

    async def rename(current):
        return replace(current.spec(), name="after")

    await store.update(tenant, agent.id, rename)
    assert (await agents.get(agent.id)).name == "after"
    await store.set_archive(tenant, agent.id, "archive-2")
    assert (await agents.get(agent.id)).archive_id == "archive-2"
    async with migrated_engine.begin() as conn:  # even a change made behind the store's back
        await conn.exec_driver_sql(
            "UPDATE agent.agents SET system_prompt = 'edited by hand' WHERE id = $1", (agent.id,)
        )
    assert (await agents.get(agent.id)).system_prompt == "edited by hand"

    await store.delete(tenant, agent.id)
    with pytest.raises(NotFound):
        await agents.get(agent.id)


async def test_run_reads_of_another_tenants_cached_agent_are_not_found(store, tenant):
    agent = await store.create(tenant, spec())
    agents = CallerAgents(store)
    enter_call(CallScope(tenant=tenant))
    await agents.get(agent.id)

    enter_call(CallScope(tenant=f"t-{uuid.uuid4().hex[:12]}"))
    with pytest.raises(NotFound):
        await agents.get(agent.id)
    with pytest.raises(NotFound):
        await agents.get("not-a-uuid")


async def test_run_reads_keep_the_most_recently_run_agents(migrated_engine, tenant):
    store = CountingStore(migrated_engine)
    first, second, third = [await store.create(tenant, spec(name)) for name in ("a", "b", "c")]
    agents = CallerAgents(store, limit=2)
    enter_call(CallScope(tenant=tenant))

    for agent in (first, second, first, third):  # the third drops the second, run longer ago
        assert await agents.get(agent.id) == agent
    reads = store.full_reads
    assert await agents.get(first.id) == first
    assert store.full_reads == reads
    assert await agents.get(second.id) == second
    assert store.full_reads == reads + 1


async def test_a_version_read_leaves_its_pooled_connection_transactional(
    migrated_engine, database_url, tenant
):
    engine = create_engine(database_url, Settings(service="test", db_pool_size=1))  # one connection
    store = AgentStore(engine)
    try:
        agent = await store.create(tenant, spec("before"))
        await store.version(tenant, agent.id)  # read outside a transaction, on the only connection

        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.exec_driver_sql(
                    "UPDATE agent.agents SET name = 'after' WHERE id = $1", (agent.id,)
                )
                raise RuntimeError("the transaction fails after its write")

        assert (await store.get(tenant, agent.id)).name == "before"
    finally:
        await engine.dispose()
