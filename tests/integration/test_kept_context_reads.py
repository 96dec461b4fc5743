"""Context reads that fetch only what is newer than the messages kept from the last read, on the real
PostgreSQL: whatever was kept, a read answers exactly what a read without it answers."""

from __future__ import annotations

import pytest

from services.memory.core.model import NewMessage, Role, ToolCallRecord
from services.memory.core.steps import AgentSteps
from services.memory.store.agents import ensure_agent
from services.memory.store.recent import RecentMessages
from services.memory.store.removal import AgentRemoval
from services.memory.store.steps import StepStore


@pytest.fixture
def store(message_stores):
    return message_stores


@pytest.fixture
def reader(message_stores):
    return message_stores.step_store


def fresh(pool) -> StepStore:
    """A reader that keeps nothing yet: the reference answer."""
    return StepStore(pool, RecentMessages())


async def append(steps, tenant: str, agent_id: str, *new: NewMessage, epoch: int = 1):
    return await steps.append(
        tenant=tenant, agent_id=agent_id, epoch=epoch, run_id="r", idempotency_key="", new_messages=new
    )


def user(text: str) -> NewMessage:
    return NewMessage(role=Role.USER, content=text)


async def test_a_read_sees_what_another_replica_appended_after_the_kept_messages(
    store, reader, recent, migrated_engine, migrated_pool, tenant, agent_id
):
    await append(store.steps, tenant, agent_id, user("one"), user("two"))
    await reader.read_context(tenant=tenant, agent_id=agent_id, max_messages=3)
    other = AgentSteps(StepStore(migrated_pool, RecentMessages()))

    await append(other, tenant, agent_id, user("three"), user("four"))
    context = await reader.read_context(tenant=tenant, agent_id=agent_id, max_messages=3)

    assert [m.content for m in context.messages] == ["two", "three", "four"]
    assert context == await fresh(migrated_pool).read_context(
        tenant=tenant, agent_id=agent_id, max_messages=3
    )
    assert [m.seq for m in recent.newest(agent_id)] == [2, 3, 4]


async def test_a_forgotten_agent_set_up_again_is_read_afresh(
    store, reader, recent, migrated_engine, migrated_pool, tenant, agent_id
):
    await append(store.steps, tenant, agent_id, user("old one"), user("old two"))
    await reader.read_context(tenant=tenant, agent_id=agent_id)
    await AgentRemoval(migrated_engine).forget(tenant, agent_id)
    async with migrated_engine.begin() as conn:
        await ensure_agent(conn, tenant, agent_id)
    other = AgentSteps(StepStore(migrated_pool, RecentMessages()))  # learns nothing here
    await append(other, tenant, agent_id, user("new one"), user("new two"), user("new three"))

    context = await reader.read_context(tenant=tenant, agent_id=agent_id)

    assert [m.content for m in context.messages] == ["new one", "new two", "new three"]
    assert [m.content for m in recent.newest(agent_id)] == ["new one", "new two", "new three"]


async def test_windows_boundaries_and_appends_in_any_order_read_as_without_kept_messages(
    store, reader, migrated_engine, migrated_pool, tenant, agent_id
):
    call = NewMessage(role=Role.ASSISTANT, tool_calls=(ToolCallRecord("c1", "lookup", "{}"),))
    result = NewMessage(role=Role.TOOL, content="found", tool_call_id="c1")
    await append(store.steps, tenant, agent_id, *(user(f"m{n}") for n in range(1, 6)))
    steps = [
        ("read", 3),
        ("append", [user("m6")]),
        ("read", 3),
        ("read", 5),  # a longer window than what was kept
        ("append", [call, result]),
        ("read", 2),  # starts with the tool result: dropped with its call
        ("boundary", 6),
        ("read", 0),
        ("append_then_read", 2),
        ("read", 0),
        ("boundary", 9),
        ("read", 4),
        ("append_then_read", 0),
    ]
    for kind, value in steps:
        if kind == "append":
            await append(store.steps, tenant, agent_id, *value)
        elif kind == "boundary":
            await store.steps.move_boundary(
                tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=value, summary="s"
            )
        elif kind == "append_then_read":
            _, context = await store.steps.append_then_read(
                tenant=tenant,
                agent_id=agent_id,
                epoch=1,
                run_id="r",
                idempotency_key="",
                new_messages=[user("more")],
                max_messages=value,
            )
            expected = await fresh(migrated_pool).read_context(
                tenant=tenant, agent_id=agent_id, max_messages=value
            )
            assert context == expected, (kind, value)
        else:
            context = await reader.read_context(tenant=tenant, agent_id=agent_id, max_messages=value)
            expected = await fresh(migrated_pool).read_context(
                tenant=tenant, agent_id=agent_id, max_messages=value
            )
            assert context == expected, (kind, value)
