"""Recall memory on the real PostgreSQL: gapless per-agent sequence numbers, fenced and idempotent
appends, tenant isolation, pagination and the context read (DESIGN §4, §7, §11)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from services.common.errors import FailedPrecondition, NotFound
from services.memory.core.model import NewMessage, Role, ToolCallRecord
from services.memory.store.agents import ensure_agent
from services.memory.store.removal import AgentRemoval
from services.memory.store.tables import agent_state, messages


@pytest.fixture
def store(message_stores):
    return message_stores


@pytest.fixture
def reader(message_stores):
    return message_stores.step_store


def user(text: str) -> NewMessage:
    return NewMessage(role=Role.USER, content=text)


def assistant(text: str) -> NewMessage:
    return NewMessage(role=Role.ASSISTANT, content=text)


async def append(store, tenant: str, agent_id: str, *texts: str, epoch: int = 1, key: str = ""):
    return await store.steps.append(
        tenant=tenant,
        agent_id=agent_id,
        epoch=epoch,
        run_id="run-1",
        idempotency_key=key,
        new_messages=[user(text) for text in texts],
    )


async def stored_count(engine, agent_id: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(func.count()).select_from(messages).where(messages.c.agent_id == agent_id)
            )
        ).scalar_one()


async def test_append_numbers_messages_per_agent_without_gaps(store, tenant, agent_id, migrated_engine):
    other_agent = str(uuid.uuid4())
    async with migrated_engine.begin() as conn:
        await ensure_agent(conn, tenant, other_agent)

    first = await append(store, tenant, agent_id, "a", "b")
    await append(store, tenant, other_agent, "x")
    second = await append(store, tenant, agent_id, "c")

    assert [m.seq for m in first.messages] == [1, 2]
    assert [m.seq for m in second.messages] == [3]
    assert [m.content for m in (*first.messages, *second.messages)] == ["a", "b", "c"]
    listed = await store.recall.list(tenant=tenant, agent_id=other_agent, limit=10)
    assert [m.seq for m in listed] == [1]


async def test_append_stores_every_field_of_a_message(store, tenant, agent_id):
    message = NewMessage(
        role=Role.ASSISTANT,
        content="calling",
        reasoning="need data",
        tool_calls=(ToolCallRecord("call-1", "lookup", '{"q": "x"}'),),
        name="helper",
        step=2,
        metadata={"source": "test", "n": 1},
    )

    result = await store.steps.append(
        tenant=tenant, agent_id=agent_id, epoch=1, run_id="run-9", idempotency_key="k", new_messages=[message]
    )
    (listed,) = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=10)

    (stored,) = result.messages
    assert listed == stored
    assert stored.agent_id == agent_id and stored.run_id == "run-9"
    assert (stored.role, stored.content, stored.reasoning, stored.name, stored.step) == (
        Role.ASSISTANT,
        "calling",
        "need data",
        "helper",
        2,
    )
    assert stored.tool_calls == (ToolCallRecord("call-1", "lookup", '{"q": "x"}'),)
    assert stored.metadata == {"source": "test", "n": 1}
    assert stored.created_at is not None


async def test_retried_append_is_stored_once_and_answers_the_first_messages(
    store, migrated_engine, tenant, agent_id
):
    first = await append(store, tenant, agent_id, "hello", "world", key="run-1:step:1")

    retry = await append(store, tenant, agent_id, "hello", "world", key="run-1:step:1")
    after = await append(store, tenant, agent_id, "next", key="run-1:step:2")

    assert not first.deduplicated
    assert retry.deduplicated
    assert retry.messages == first.messages
    assert [m.seq for m in after.messages] == [3], "a deduplicated retry must not consume sequence numbers"
    assert await stored_count(migrated_engine, agent_id) == 3


async def test_appends_without_a_key_are_never_deduplicated(store, migrated_engine, tenant, agent_id):
    await append(store, tenant, agent_id, "same")
    second = await append(store, tenant, agent_id, "same")

    assert not second.deduplicated
    assert await stored_count(migrated_engine, agent_id) == 2


async def test_stale_epoch_is_refused_and_writes_nothing(reader, store, migrated_engine, tenant, agent_id):
    await append(store, tenant, agent_id, "from epoch 5", epoch=5)

    with pytest.raises(FailedPrecondition) as caught:
        await append(store, tenant, agent_id, "from epoch 4", epoch=4, key="late")

    assert caught.value.reason == "STALE_EPOCH"
    assert caught.value.metadata == {"agent_id": agent_id, "epoch": "4"}
    assert await stored_count(migrated_engine, agent_id) == 1
    context = await reader.read_context(tenant=tenant, agent_id=agent_id)
    assert (context.epoch, context.message_count) == (5, 1)


async def test_higher_epoch_takes_over_and_the_old_holder_is_then_refused(reader, store, tenant, agent_id):
    await append(store, tenant, agent_id, "old holder", epoch=1)
    await append(store, tenant, agent_id, "old holder again", epoch=1)

    taken_over = await append(store, tenant, agent_id, "new holder", epoch=2)
    with pytest.raises(FailedPrecondition):
        await append(store, tenant, agent_id, "old holder, paused too long", epoch=1)
    same_epoch = await append(store, tenant, agent_id, "new holder again", epoch=2)

    assert [m.seq for m in taken_over.messages] == [3]
    assert [m.seq for m in same_epoch.messages] == [4]
    assert (await reader.read_context(tenant=tenant, agent_id=agent_id)).epoch == 2


async def test_concurrent_appends_to_one_agent_get_gapless_unique_sequence_numbers(store, tenant, agent_id):
    results = await asyncio.gather(
        *(append(store, tenant, agent_id, f"m{i}a", f"m{i}b", key=f"k{i}") for i in range(20))
    )

    seqs = sorted(m.seq for result in results for m in result.messages)
    assert seqs == list(range(1, 41))
    for result in results:
        first, second = result.messages
        assert second.seq == first.seq + 1, "one append's messages must be contiguous"
    listed = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=100)
    assert [m.seq for m in listed] == list(range(1, 41))


async def test_concurrent_retries_of_one_append_store_it_once(store, migrated_engine, tenant, agent_id):
    results = await asyncio.gather(
        *(append(store, tenant, agent_id, "once", key="same-key") for _ in range(8))
    )

    assert sum(not r.deduplicated for r in results) == 1
    assert {r.messages[0].id for r in results} == {results[0].messages[0].id}
    assert await stored_count(migrated_engine, agent_id) == 1


async def test_another_tenants_agent_is_not_found_on_append_list_and_context(
    reader, store, migrated_engine, tenant, agent_id
):
    await append(store, tenant, agent_id, "private")
    intruder = f"t-{uuid.uuid4().hex[:12]}"

    with pytest.raises(NotFound):
        await append(store, intruder, agent_id, "sneaky", epoch=99)

    with pytest.raises(NotFound):
        await store.recall.list(tenant=intruder, agent_id=agent_id, limit=10)
    with pytest.raises(NotFound):
        await reader.read_context(tenant=intruder, agent_id=agent_id)
    async with migrated_engine.connect() as conn:
        state = (await conn.execute(select(agent_state).where(agent_state.c.agent_id == agent_id))).one()
    assert (state.tenant, state.max_epoch, state.last_seq) == (tenant, 1, 1)


async def test_list_pages_forwards_and_backwards_with_exclusive_bounds(store, tenant, agent_id):
    await append(store, tenant, agent_id, *(f"m{i}" for i in range(1, 8)))

    forward = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=3)
    forward_next = await store.recall.list(
        tenant=tenant, agent_id=agent_id, limit=3, after_seq=forward[-1].seq
    )
    backward = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=3, descending=True)
    backward_next = await store.recall.list(
        tenant=tenant, agent_id=agent_id, limit=3, descending=True, before_seq=backward[-1].seq
    )
    window = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=10, after_seq=2, before_seq=6)

    assert [m.seq for m in forward] == [1, 2, 3]
    assert [m.seq for m in forward_next] == [4, 5, 6]
    assert [m.seq for m in backward] == [7, 6, 5]
    assert [m.seq for m in backward_next] == [4, 3, 2]
    assert [m.seq for m in window] == [3, 4, 5]


async def test_list_filters_by_role(store, tenant, agent_id):
    await store.steps.append(
        tenant=tenant,
        agent_id=agent_id,
        epoch=1,
        run_id="r",
        idempotency_key="",
        new_messages=[user("q1"), assistant("a1"), user("q2"), assistant("a2")],
    )

    answers = await store.recall.list(tenant=tenant, agent_id=agent_id, limit=10, roles=[Role.ASSISTANT])
    both = await store.recall.list(
        tenant=tenant, agent_id=agent_id, limit=10, roles=[Role.USER, Role.ASSISTANT]
    )

    assert [(m.seq, m.content) for m in answers] == [(2, "a1"), (4, "a2")]
    assert len(both) == 4


async def test_context_returns_messages_after_the_boundary_in_order_with_epoch_and_count(
    reader, store, migrated_engine, tenant, agent_id
):
    await append(store, tenant, agent_id, "one", "two", "three", "four", epoch=3)
    async with migrated_engine.begin() as conn:
        await conn.execute(
            agent_state.update()
            .where(agent_state.c.agent_id == agent_id)
            .values(boundary_seq=2, summary="they said one and two")
        )

    context = await reader.read_context(tenant=tenant, agent_id=agent_id)

    assert [(m.seq, m.content) for m in context.messages] == [(3, "three"), (4, "four")]
    assert (context.boundary_seq, context.epoch, context.message_count) == (2, 3, 4)
    assert context.summary == "they said one and two"


async def test_context_of_an_agent_with_every_message_evicted_has_state_but_no_messages(
    reader, store, migrated_engine, tenant, agent_id
):
    await append(store, tenant, agent_id, "one", epoch=2)
    async with migrated_engine.begin() as conn:
        await conn.execute(
            agent_state.update().where(agent_state.c.agent_id == agent_id).values(boundary_seq=1)
        )

    context = await reader.read_context(tenant=tenant, agent_id=agent_id)

    assert (context.messages, context.epoch, context.message_count) == ((), 2, 1)


async def test_context_of_an_agent_never_written_is_empty_at_epoch_zero(reader, store, tenant, agent_id):
    context = await reader.read_context(tenant=tenant, agent_id=agent_id)

    assert (
        context.messages,
        context.summary,
        context.boundary_seq,
        context.epoch,
        context.message_count,
    ) == (
        (),
        "",
        0,
        0,
        0,
    )


async def test_a_run_still_in_flight_cannot_bring_a_forgotten_agent_back(
    store, tenant, agent_id, migrated_engine
):
    await append(store, tenant, agent_id, "before")
    await AgentRemoval(migrated_engine).forget(tenant, agent_id)

    with pytest.raises(NotFound):
        await append(store, tenant, agent_id, "too late")  # e.g. an older lease holder's last step

    assert await stored_count(migrated_engine, agent_id) == 0
