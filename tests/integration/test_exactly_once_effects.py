"""Effects of a run's step applied once however often the step executes (DESIGN §4): keyed block
edits and passage inserts in memory, keyed tool executions in the tools service; and fencing that
holds from the new lease holder's first memory call, even when that call repeats an earlier one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text

from services.common.errors import FailedPrecondition
from services.memory.core.archival import Fence, NewPassage
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.blocks import Append, BlockFields
from services.memory.core.hashing_embedder import HashingEmbedder
from services.memory.core.model import NewMessage, Role
from services.memory.embedding.registry import EmbedderRegistry
from services.memory.store.archives import ArchiveStore
from services.memory.store.blocks import BlockStore
from services.memory.store.passages import PassageStore
from services.tools.core.execution import ExecutionResult, ExecutionStatus
from services.tools.store.executions import ExecutionRecords


@pytest.fixture
def blocks(migrated_engine) -> BlockStore:
    return BlockStore(migrated_engine)


@pytest.fixture
def messages(message_stores):
    return message_stores


@pytest.fixture
def archival(migrated_engine) -> ArchivalMemory:
    registry = EmbedderRegistry(
        {"local": lambda dimension: HashingEmbedder(dimension or 384)}, default="local"
    )
    return ArchivalMemory(ArchiveStore(migrated_engine), PassageStore(migrated_engine), registry)


async def agent_with_human_block(blocks: BlockStore, tenant: str) -> str:
    agent_id = str(uuid.uuid4())
    await blocks.initialize_agent(tenant, agent_id, [BlockFields(label="human", value="Ann", limit=1000)], [])
    return agent_id


async def test_a_keyed_block_edit_repeated_by_a_step_executed_again_is_applied_once(blocks, tenant):
    agent_id = await agent_with_human_block(blocks, tenant)
    edit = dict(edit=Append("likes tea"), agent_id=agent_id, label="human", run_id="r", epoch=1)

    first = await blocks.edit(tenant, **edit, idempotency_key="r:1:call_0")
    again = await blocks.edit(tenant, **edit, idempotency_key="r:1:call_0")
    other = await blocks.edit(tenant, **edit, idempotency_key="r:2:call_0")

    assert first.value.count("likes tea") == 1
    assert again.value == first.value and again.version == first.version, "the repeat changed nothing"
    assert other.value.count("likes tea") == 2, "another call is another edit"
    history = await blocks.history(tenant, first.id, limit=10)
    assert [c.version for c in history] == [3, 2, 1]


async def test_concurrent_tries_of_one_keyed_edit_apply_it_once(blocks, tenant):
    agent_id = await agent_with_human_block(blocks, tenant)
    edit = dict(edit=Append("once"), agent_id=agent_id, label="human", run_id="r")

    results = await asyncio.gather(
        *(blocks.edit(tenant, **edit, epoch=epoch, idempotency_key="r:1:c") for epoch in (0, 0, 1, 1))
    )

    assert {r.value for r in results} == {"Ann\nonce"}


async def test_a_keyed_passage_insert_repeated_inserts_nothing_and_answers_the_first_ids(
    archival, blocks, migrated_engine, tenant
):
    agent_id = await agent_with_human_block(blocks, tenant)
    archive = await archival.create_archive(tenant=tenant, name="notes", agent_id=agent_id)
    insert = dict(
        tenant=tenant,
        archive_id=archive.id,
        passages=[NewPassage(text="the sky is blue")],
        fence=Fence(agent_id=agent_id, epoch=1),
        idempotency_key="r:1:call_0",
    )

    first = await archival.insert(**insert)
    again = await archival.insert(**insert)

    assert again == first
    async with migrated_engine.connect() as conn:
        stored = await conn.execute(
            text(
                "SELECT count(*), max(passage_count) FROM memory.passages p JOIN memory.archives a "
                "ON a.id = p.archive_id WHERE a.id = :id"
            ),
            {"id": archive.id},
        )
        assert tuple(stored.one()) == (1, 1)


async def test_a_new_holders_first_append_fences_the_old_holder_even_when_it_repeats_an_earlier_one(
    messages, tenant, agent_id
):
    run_input = dict(tenant=tenant, agent_id=agent_id, run_id="r", idempotency_key="r:input")
    message = [NewMessage(role=Role.USER, content="hi")]
    await messages.steps.append(**run_input, epoch=1, new_messages=message)

    repeated = await messages.steps.append(
        **run_input, epoch=2, new_messages=message
    )  # the takeover's re-run

    assert repeated.deduplicated
    with pytest.raises(FailedPrecondition) as refused:
        await messages.steps.append(
            tenant=tenant,
            agent_id=agent_id,
            run_id="r",
            idempotency_key="r:step:1",
            epoch=1,
            new_messages=[NewMessage(role=Role.ASSISTANT, content="old holder, still running")],
        )
    assert refused.value.reason == "STALE_EPOCH"


async def test_a_fenced_read_refuses_every_later_write_of_an_older_epoch(messages, blocks, tenant):
    agent_id = await agent_with_human_block(blocks, tenant)
    await messages.step_store.fence(tenant=tenant, agent_id=agent_id, epoch=3)

    with pytest.raises(FailedPrecondition):
        await blocks.edit(tenant, edit=Append("late"), agent_id=agent_id, label="human", epoch=2)
    with pytest.raises(FailedPrecondition):
        await messages.step_store.fence(tenant=tenant, agent_id=agent_id, epoch=2)


async def test_the_messages_of_a_run_record_the_epoch_they_were_stored_under(
    messages, migrated_engine, tenant, agent_id
):
    await messages.steps.append(
        tenant=tenant,
        agent_id=agent_id,
        run_id="r",
        idempotency_key="",
        epoch=7,
        new_messages=[NewMessage(role=Role.USER, content="hi")],
    )
    async with migrated_engine.connect() as conn:
        epochs = await conn.execute(
            text("SELECT epoch FROM memory.messages WHERE agent_id = :a"), {"a": agent_id}
        )
        assert epochs.scalars().all() == [7]


# --- tools: keyed executions ----------------------------------------------------------------------


@pytest.fixture
def records(migrated_engine) -> ExecutionRecords:
    return ExecutionRecords(migrated_engine)


async def test_a_keyed_execution_is_claimed_once_and_then_answered_from_its_stored_result(records, tenant):
    result = ExecutionResult(status=ExecutionStatus.OK, result_json='"a\\u0000b"', stdout="x\x00y")

    first = await records.claim(tenant, "r:1:c", tool_id="t", hold_seconds=30)
    meanwhile = await records.claim(tenant, "r:1:c", tool_id="t", hold_seconds=30)
    await records.finish(tenant, "r:1:c", result)
    after = await records.claim(tenant, "r:1:c", tool_id="t", hold_seconds=30)

    assert first.won
    assert not meanwhile.won and meanwhile.result is None and meanwhile.held_until is not None
    assert after.result == result, "any character of a result survives being stored"


async def test_a_released_or_expired_claim_can_be_claimed_again(records, tenant):
    assert (await records.claim(tenant, "released", tool_id="t", hold_seconds=30)).won
    await records.release(tenant, "released")
    assert (await records.claim(tenant, "released", tool_id="t", hold_seconds=30)).won

    assert (await records.claim(tenant, "expired", tool_id="t", hold_seconds=0.05)).won
    await asyncio.sleep(0.1)
    assert (await records.claim(tenant, "expired", tool_id="t", hold_seconds=30)).won
