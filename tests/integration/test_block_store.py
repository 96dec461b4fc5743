"""Core memory blocks on the real PostgreSQL: sharing, optimistic versions, history and restore,
fenced edits and tenancy (DESIGN §4, §7, §11)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.common.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from services.memory.core.blocks import Append, BlockFields, Replace
from services.memory.core.model import NewMessage, Role
from services.memory.core.steps import AgentSteps
from services.memory.store.blocks import BlockStore
from services.memory.store.recent import RecentMessages
from services.memory.store.steps import StepStore


@pytest.fixture
def blocks(migrated_engine) -> BlockStore:
    return BlockStore(migrated_engine)


async def new_agent(blocks: BlockStore, tenant: str, *fields: BlockFields) -> str:
    agent_id = str(uuid.uuid4())
    await blocks.initialize_agent(tenant, agent_id, list(fields), [])
    return agent_id


def human(value: str = "Ann", limit: int = 100) -> BlockFields:
    return BlockFields(label="human", value=value, limit=limit)


async def test_a_created_block_starts_at_version_one_with_that_version_in_its_history(blocks, tenant):
    block = await blocks.create(tenant, human("Ann"))

    history = await blocks.history(tenant, block.id, limit=10)

    assert block.version == 1
    assert [(c.version, c.value_before, c.value_after) for c in history] == [(1, "", "Ann")]


async def test_one_block_shared_by_two_agents_shows_an_edit_to_both(
    blocks, migrated_engine, migrated_pool, tenant
):
    first, second = await new_agent(blocks, tenant), await new_agent(blocks, tenant)
    shared = await blocks.create(tenant, BlockFields(label="team", value="goal: ship"), agent_id=first)
    await blocks.attach(tenant, shared.id, second)

    await blocks.edit(tenant, edit=Append("deadline: friday"), agent_id=first, label="team")

    reader = StepStore(migrated_pool, RecentMessages())
    for agent in (first, second):
        context = await reader.read_context(tenant=tenant, agent_id=agent)
        assert [b.value for b in context.blocks] == ["goal: ship\ndeadline: friday"]
        assert context.blocks[0].agent_ids == tuple(sorted((first, second)))


async def test_an_agent_cannot_have_two_blocks_with_one_label(blocks, tenant):
    agent = await new_agent(blocks, tenant, human())
    other = await blocks.create(tenant, human("Bob"))

    with pytest.raises(AlreadyExists):
        await blocks.attach(tenant, other.id, agent)
    with pytest.raises(AlreadyExists):
        await blocks.create(tenant, human("Cy"), agent_id=agent)


async def test_renaming_a_shared_block_onto_a_label_an_agent_uses_is_refused(blocks, tenant):
    agent = await new_agent(blocks, tenant, human(), BlockFields(label="persona", value="helper"))
    [_, persona] = sorted(await blocks.list(tenant, agent_id=agent, limit=10), key=lambda b: b.label)

    with pytest.raises(AlreadyExists):
        await blocks.update(
            tenant, persona.id, BlockFields(label="human", value="helper"), expected_version=0
        )


async def test_a_stale_expected_version_is_aborted_and_changes_nothing(blocks, tenant):
    block = await blocks.create(tenant, human("Ann"))
    await blocks.edit(tenant, block_id=block.id, edit=Append("age 30"))

    with pytest.raises(Conflict) as caught:
        await blocks.edit(tenant, block_id=block.id, edit=Append("age 31"), expected_version=1)

    assert caught.value.reason == "STALE_VERSION"
    assert (await blocks.get(tenant, block.id)).value == "Ann\nage 30"


async def test_concurrent_edits_at_one_version_have_exactly_one_winner(blocks, tenant):
    block = await blocks.create(tenant, human("Ann"))

    results = await asyncio.gather(
        *(
            blocks.edit(tenant, block_id=block.id, edit=Append(f"fact {n}"), expected_version=1)
            for n in range(2)
        ),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and winners[0].version == 2
    assert len(losers) == 1 and isinstance(losers[0], Conflict)
    assert len(await blocks.history(tenant, block.id, limit=10)) == 2


async def test_concurrent_unversioned_edits_all_apply_in_some_order(blocks, tenant):
    block = await blocks.create(tenant, human("", limit=1000))

    await asyncio.gather(*(blocks.edit(tenant, block_id=block.id, edit=Append(f"f{n}")) for n in range(8)))

    final = await blocks.get(tenant, block.id)
    assert sorted(final.value.split("\n")) == sorted(f"f{n}" for n in range(8))
    assert final.version == 9


async def test_history_records_who_changed_what_and_a_past_version_can_be_restored(blocks, tenant):
    agent = await new_agent(blocks, tenant, human("Ann"))
    edited = await blocks.edit(
        tenant, agent_id=agent, label="human", edit=Replace("Ann", "Anne"), run_id="run-7"
    )

    restored = await blocks.restore(tenant, edited.id, 1, expected_version=2)

    history = await blocks.history(tenant, edited.id, limit=10)
    assert restored.value == "Ann" and restored.version == 3
    assert [(c.version, c.value_before, c.value_after) for c in history] == [
        (3, "Anne", "Ann"),
        (2, "Ann", "Anne"),
        (1, "", "Ann"),
    ]
    assert (history[1].agent_id, history[1].run_id) == (agent, "run-7")


async def test_history_pages_newest_first(blocks, tenant):
    block = await blocks.create(tenant, human("v1", limit=1000))
    for n in range(2, 6):
        await blocks.edit(tenant, block_id=block.id, edit=Append(f"v{n}"))

    first = await blocks.history(tenant, block.id, limit=2)
    second = await blocks.history(tenant, block.id, before_version=first[-1].version, limit=2)

    assert [c.version for c in first + second] == [5, 4, 3, 2]


async def test_restoring_a_version_that_never_existed_is_not_found(blocks, tenant):
    block = await blocks.create(tenant, human())

    with pytest.raises(NotFound):
        await blocks.restore(tenant, block.id, 9, expected_version=0)


async def test_restoring_a_value_longer_than_the_current_limit_is_refused(blocks, tenant):
    block = await blocks.create(tenant, human("x" * 50, limit=100))
    await blocks.update(tenant, block.id, human("short", limit=10), expected_version=0)

    with pytest.raises(InvalidArgument) as caught:
        await blocks.restore(tenant, block.id, 1, expected_version=0)

    assert "cannot restore version 1" in str(caught.value)


async def test_an_edit_with_a_stale_epoch_is_refused_and_changes_nothing(
    blocks, migrated_engine, migrated_pool, tenant
):
    agent = await new_agent(blocks, tenant, human("Ann"))
    await AgentSteps(StepStore(migrated_pool, RecentMessages())).append(
        tenant=tenant,
        agent_id=agent,
        epoch=5,
        run_id="r",
        idempotency_key="",
        new_messages=[NewMessage(role=Role.USER, content="hi")],
    )

    with pytest.raises(FailedPrecondition) as caught:
        await blocks.edit(tenant, agent_id=agent, label="human", edit=Append("x"), epoch=4)
    edited = await blocks.edit(tenant, agent_id=agent, label="human", edit=Append("y"), epoch=5)

    assert caught.value.reason == "STALE_EPOCH"
    assert edited.value == "Ann\ny"


async def test_an_edit_at_a_higher_epoch_fences_out_older_appends(
    blocks, migrated_engine, migrated_pool, tenant
):
    agent = await new_agent(blocks, tenant, human("Ann"))
    await blocks.edit(tenant, agent_id=agent, label="human", edit=Append("x"), epoch=7)

    with pytest.raises(FailedPrecondition):
        await AgentSteps(StepStore(migrated_pool, RecentMessages())).append(
            tenant=tenant,
            agent_id=agent,
            epoch=6,
            run_id="r",
            idempotency_key="",
            new_messages=[NewMessage(role=Role.USER, content="late")],
        )


async def test_another_tenants_blocks_and_agents_are_not_found(blocks, tenant):
    agent = await new_agent(blocks, tenant, human("secret"))
    [block] = await blocks.list(tenant, agent_id=agent, limit=10)
    intruder = f"t-{uuid.uuid4().hex[:12]}"

    for attempt in (
        blocks.get(intruder, block.id),
        blocks.edit(intruder, block_id=block.id, edit=Append("x")),
        blocks.edit(intruder, agent_id=agent, label="human", edit=Append("x")),
        blocks.delete(intruder, block.id),
        blocks.history(intruder, block.id, limit=5),
        blocks.list(intruder, agent_id=agent, limit=5),
        blocks.create(intruder, human(), agent_id=agent),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert await blocks.list(intruder, limit=100) == []
    with pytest.raises(NotFound):
        await blocks.initialize_agent(intruder, agent, [human()], [])


async def test_initializing_an_agent_twice_keeps_the_first_blocks(blocks, tenant):
    agent_id = str(uuid.uuid4())

    first = await blocks.initialize_agent(tenant, agent_id, [human("Ann")], [])
    again = await blocks.initialize_agent(tenant, agent_id, [human("Bob")], [])

    assert [b.id for b in again] == [b.id for b in first]
    assert again[0].value == "Ann"


async def test_listing_pages_by_label_and_filters_by_agent_and_label(blocks, tenant):
    agent = await new_agent(blocks, tenant, *(BlockFields(label=f"b{n}", value=str(n)) for n in range(5)))
    await blocks.create(tenant, BlockFields(label="loose"))

    first = await blocks.list(tenant, agent_id=agent, limit=3)
    rest = await blocks.list(tenant, agent_id=agent, after=f"{first[-1].label}\0{first[-1].id}", limit=3)
    only = await blocks.list(tenant, label="loose", limit=10)

    assert [b.label for b in first + rest] == ["b0", "b1", "b2", "b3", "b4"]
    assert [b.label for b in only] == ["loose"]


async def test_releasing_an_agent_deletes_its_own_blocks_and_keeps_shared_ones(
    blocks, migrated_engine, tenant
):
    leaving, staying = await new_agent(blocks, tenant, human("mine")), await new_agent(blocks, tenant)
    shared = await blocks.create(tenant, BlockFields(label="team", value="shared"), agent_id=leaving)
    await blocks.attach(tenant, shared.id, staying)
    [own] = [b for b in await blocks.list(tenant, agent_id=leaving, limit=10) if b.label == "human"]

    async with migrated_engine.begin() as conn:
        await blocks.release_agent(conn, tenant, leaving)

    with pytest.raises(NotFound):
        await blocks.get(tenant, own.id)
    assert (await blocks.get(tenant, shared.id)).agent_ids == (staying,)
