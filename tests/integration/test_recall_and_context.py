"""Recall search, message counts, the eviction boundary and the context read on the real
PostgreSQL (DESIGN §7): search ranks and filters in SQL (a date range that works, unlike Letta's),
a boundary never splits a tool call from its return, and removal forgets an agent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.core.blocks import BlockFields
from services.memory.core.model import NewMessage, Role, ToolCallRecord
from services.memory.store.blocks import BlockStore
from services.memory.store.tables import messages


@pytest.fixture
def store(message_stores):
    return message_stores


@pytest.fixture
def reader(message_stores):
    return message_stores.step_store


async def say(store, tenant: str, agent_id: str, *items, epoch: int = 1):
    """Append messages given as text (user) or (role, text) pairs, or NewMessages."""
    new = []
    for item in items:
        if isinstance(item, NewMessage):
            new.append(item)
        elif isinstance(item, tuple):
            new.append(NewMessage(role=item[0], content=item[1]))
        else:
            new.append(NewMessage(role=Role.USER, content=item))
    return await store.steps.append(
        tenant=tenant, agent_id=agent_id, epoch=epoch, run_id="r", idempotency_key="", new_messages=new
    )


async def backdate(engine, agent_id: str, seq: int, when: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(messages)
            .where(messages.c.agent_id == agent_id, messages.c.seq == seq)
            .values(created_at=when)
        )


async def test_search_ranks_closer_matches_first_and_scores_them(store, tenant, agent_id):
    await say(
        store,
        tenant,
        agent_id,
        "the weather in Oslo is cold",
        "I booked a flight to Oslo next week, the flight leaves early",
        "nothing relevant here",
    )

    found = await store.recall.search(tenant=tenant, agent_id=agent_id, query="flight Oslo", limit=10)

    assert [f.message.seq for f in found] == [2]
    assert found[0].score > 0
    broad = await store.recall.search(tenant=tenant, agent_id=agent_id, query="Oslo", limit=10)
    assert {f.message.seq for f in broad} == {1, 2}
    assert broad[0].score >= broad[1].score


async def test_search_matches_word_forms_and_supports_or_and_phrases(store, tenant, agent_id):
    await say(store, tenant, agent_id, "she was running late", "cats and dogs", "dogs and cats")

    assert [
        f.message.seq
        for f in await store.recall.search(tenant=tenant, agent_id=agent_id, query="runs", limit=5)
    ] == [1]
    either = await store.recall.search(tenant=tenant, agent_id=agent_id, query="running or cats", limit=5)
    assert {f.message.seq for f in either} == {1, 2, 3}
    phrase = await store.recall.search(tenant=tenant, agent_id=agent_id, query='"dogs and cats"', limit=5)
    assert [f.message.seq for f in phrase] == [3]


async def test_search_date_range_keeps_only_messages_inside_it(store, migrated_engine, tenant, agent_id):
    await say(store, tenant, agent_id, "budget meeting", "budget review", "budget approved")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for seq, days in ((1, -10), (2, 5), (3, 40)):
        await backdate(migrated_engine, agent_id, seq, start + timedelta(days=days))

    found = await store.recall.search(
        tenant=tenant,
        agent_id=agent_id,
        query="budget",
        limit=10,
        start=start,
        end=start + timedelta(days=30),
    )

    assert [f.message.seq for f in found] == [2]


async def test_search_filters_roles_before_the_limit(store, tenant, agent_id):
    await say(
        store, tenant, agent_id, *[(Role.USER, "pizza order")] * 5, (Role.ASSISTANT, "pizza is on its way")
    )

    found = await store.recall.search(
        tenant=tenant, agent_id=agent_id, query="pizza", limit=1, roles=[Role.ASSISTANT]
    )

    assert [f.message.role for f in found] == [Role.ASSISTANT]


async def test_search_pages_follow_the_ranking_without_gaps_or_repeats(store, tenant, agent_id):
    await say(store, tenant, agent_id, *[f"note {n} about apples" + " apples" * (n % 3) for n in range(7)])

    seen, after = [], None
    while True:
        page = await store.recall.search(
            tenant=tenant, agent_id=agent_id, query="apples", limit=3, after=after
        )
        seen.extend(page)
        if len(page) < 3:
            break
        after = (page[-1].score, page[-1].message.seq)

    everything = await store.recall.search(tenant=tenant, agent_id=agent_id, query="apples", limit=100)
    assert [f.message.seq for f in seen] == [f.message.seq for f in everything]
    assert len(everything) == 7


async def test_search_of_an_unknown_or_foreign_agent_is_not_found(store, tenant, agent_id):
    await say(store, tenant, agent_id, "private words")

    with pytest.raises(NotFound):
        await store.recall.search(tenant="intruder", agent_id=agent_id, query="private", limit=5)
    with pytest.raises(NotFound):
        await store.recall.search(tenant=tenant, agent_id=str(uuid.uuid4()), query="private", limit=5)


async def test_count_is_the_whole_history_or_only_some_roles(store, tenant, agent_id):
    await say(store, tenant, agent_id, "a", (Role.ASSISTANT, "b"), "c")

    assert await store.recall.count(tenant=tenant, agent_id=agent_id) == 3
    assert await store.recall.count(tenant=tenant, agent_id=agent_id, roles=[Role.USER]) == 2
    with pytest.raises(NotFound):
        await store.recall.count(tenant="intruder", agent_id=agent_id)


def call(*call_ids: str) -> NewMessage:
    return NewMessage(
        role=Role.ASSISTANT, tool_calls=tuple(ToolCallRecord(c, "lookup", "{}") for c in call_ids)
    )


def result(call_id: str) -> NewMessage:
    return NewMessage(role=Role.TOOL, tool_call_id=call_id, name="lookup", content="42")


async def test_moving_the_boundary_evicts_and_stores_the_summary_atomically(store, reader, tenant, agent_id):
    await say(store, tenant, agent_id, "one", "two", "three")

    moved = await store.steps.move_boundary(
        tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=2, summary="1, 2"
    )

    context = await reader.read_context(tenant=tenant, agent_id=agent_id)
    assert moved == 2
    assert (context.boundary_seq, context.summary, [m.content for m in context.messages]) == (
        2,
        "1, 2",
        ["three"],
    )
    assert context.message_count == 3


@pytest.mark.parametrize("boundary", [2, 3])
async def test_a_boundary_between_a_tool_call_and_its_return_is_refused(
    store, reader, tenant, agent_id, boundary
):
    # Two parallel calls: 2 is between the calls and their returns, 3 between the two returns.
    await say(store, tenant, agent_id, "look up both", call("c1", "c2"), result("c1"), result("c2"))

    with pytest.raises(FailedPrecondition) as caught:
        await store.steps.move_boundary(
            tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=boundary, summary="x"
        )

    assert caught.value.reason == "BOUNDARY_SPLITS_TOOL_CALL"
    assert (await reader.read_context(tenant=tenant, agent_id=agent_id)).boundary_seq == 0


async def test_a_boundary_right_after_a_tool_return_is_accepted(store, tenant, agent_id):
    await say(store, tenant, agent_id, "look it up", call("c1"), result("c1"), (Role.ASSISTANT, "it is 42"))

    assert (
        await store.steps.move_boundary(
            tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=3, summary="s"
        )
        == 3
    )


@pytest.mark.parametrize("boundary", [1, 9])
async def test_a_boundary_behind_the_current_one_or_past_the_last_message_is_invalid(
    store, tenant, agent_id, boundary
):
    await say(store, tenant, agent_id, "one", "two", "three")
    await store.steps.move_boundary(tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=2, summary="s")

    with pytest.raises(InvalidArgument) as caught:
        await store.steps.move_boundary(
            tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=boundary, summary="x"
        )

    assert "between the current boundary 2 and the last message 3" in str(caught.value)


async def test_a_stale_epoch_cannot_move_the_boundary(store, reader, tenant, agent_id):
    await say(store, tenant, agent_id, "one", "two", epoch=3)

    with pytest.raises(FailedPrecondition) as caught:
        await store.steps.move_boundary(
            tenant=tenant, agent_id=agent_id, epoch=2, boundary_seq=1, summary="x"
        )

    assert caught.value.reason == "STALE_EPOCH"
    assert (await reader.read_context(tenant=tenant, agent_id=agent_id)).summary == ""


async def test_context_carries_the_agents_blocks_in_label_order(
    store, reader, migrated_engine, tenant, agent_id
):
    await BlockStore(migrated_engine).initialize_agent(
        tenant,
        agent_id,
        [BlockFields(label="persona", value="helpful"), BlockFields(label="human", value="Ann")],
        [],
    )
    await say(store, tenant, agent_id, "hi")

    context = await reader.read_context(tenant=tenant, agent_id=agent_id)

    assert [(b.label, b.value, b.version) for b in context.blocks] == [
        ("human", "Ann", 1),
        ("persona", "helpful", 1),
    ]
    assert context.blocks[0].agent_ids == (agent_id,)
    assert [m.content for m in context.messages] == ["hi"]


async def test_context_window_never_starts_with_an_orphaned_tool_return(store, reader, tenant, agent_id):
    await say(store, tenant, agent_id, "q", call("c1"), result("c1"), (Role.ASSISTANT, "done"))

    context = await reader.read_context(tenant=tenant, agent_id=agent_id, max_messages=2)

    assert [m.seq for m in context.messages] == [4]


async def test_a_tool_result_must_answer_a_call_of_the_append_or_of_a_recent_message(store, tenant, agent_id):
    await say(store, tenant, agent_id, "look it up", call("c1"))

    later = await say(store, tenant, agent_id, result("c1"))  # after an approval, say
    with pytest.raises(InvalidArgument) as caught:
        await say(store, tenant, agent_id, result("never-called"))

    assert later.messages[0].seq == 3
    assert "never-called" in str(caught.value)
    assert await store.recall.count(tenant=tenant, agent_id=agent_id) == 3


async def test_search_ranks_only_the_newest_window_of_matches(store, tenant, agent_id, monkeypatch):
    monkeypatch.setattr("services.memory.store.recall.RECALL_WINDOW", 2)
    await say(store, tenant, agent_id, "tea tea tea tea", "tea once", "tea again", "coffee")

    found = await store.recall.search(tenant=tenant, agent_id=agent_id, query="tea", limit=10)

    assert sorted(f.message.seq for f in found) == [2, 3]
