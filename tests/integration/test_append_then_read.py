"""The append that also reads the context in its own statement (every first call of an agent step),
on the real PostgreSQL: it answers exactly what a separate read after the append answers, keeps the
append's invariants, and says when it cannot (a retried key, a concurrent append meanwhile)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import pytest

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.common.call import TENANT_KEY
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.core.blocks import BlockFields
from services.memory.core.model import NewMessage, Role, ToolCallRecord
from services.memory.store.blocks import BlockStore
from services.memory.store.steps import SQL, message_arrays


@pytest.fixture
def store(message_stores):
    return message_stores


@pytest.fixture
def reader(message_stores):
    return message_stores.step_store


def user(text: str) -> NewMessage:
    return NewMessage(role=Role.USER, content=text)


def call(call_id: str) -> NewMessage:
    return NewMessage(role=Role.ASSISTANT, tool_calls=(ToolCallRecord(call_id, "lookup", "{}"),))


def result(call_id: str) -> NewMessage:
    return NewMessage(role=Role.TOOL, content="found", tool_call_id=call_id, metadata={"ok": True})


async def append_then_read(store, tenant, agent_id, *new, epoch=1, key="", max_messages=0):
    return await store.step_store.append(
        tenant=tenant,
        agent_id=agent_id,
        epoch=epoch,
        run_id="r",
        idempotency_key=key,
        new_messages=list(new),
        then_read=True,
        max_messages=max_messages,
    )


@pytest.mark.parametrize("max_messages", [0, 2, 3, 4, 50])
async def test_the_context_is_the_one_a_read_after_the_append_returns(
    store, reader, migrated_engine, tenant, agent_id, max_messages
):
    await BlockStore(migrated_engine).initialize_agent(
        tenant, agent_id, [BlockFields(label="persona", value="helpful")], []
    )
    await store.steps.append(
        tenant=tenant,
        agent_id=agent_id,
        epoch=1,
        run_id="r0",
        idempotency_key="",
        new_messages=[user("old"), user("q"), call("c1")],
    )
    await store.steps.move_boundary(tenant=tenant, agent_id=agent_id, epoch=1, boundary_seq=1, summary="s")

    appended, context = await append_then_read(
        store, tenant, agent_id, result("c1"), user("next"), epoch=2, key="k", max_messages=max_messages
    )

    assert [m.seq for m in appended.messages] == [4, 5]
    assert context == await reader.read_context(tenant=tenant, agent_id=agent_id, max_messages=max_messages)
    assert (context.epoch, context.message_count, context.summary) == (2, 5, "s")
    assert context.messages[-1] == appended.messages[-1]


async def test_the_first_append_of_an_agent_reads_its_own_messages(store, reader, tenant, agent_id):
    appended, context = await append_then_read(store, tenant, agent_id, user("hello"))

    assert context.messages == appended.messages
    assert context == await reader.read_context(tenant=tenant, agent_id=agent_id)


async def test_a_retried_key_answers_the_first_messages_and_leaves_the_read_to_the_caller(
    store, tenant, agent_id
):
    first, _ = await append_then_read(store, tenant, agent_id, user("once"), key="k")

    retry, context = await append_then_read(store, tenant, agent_id, user("once"), key="k")

    assert retry.deduplicated and retry.messages == first.messages
    assert context is None


async def test_stale_epochs_and_other_tenants_are_refused_as_by_append(store, tenant, agent_id):
    await append_then_read(store, tenant, agent_id, user("mine"), epoch=5)

    with pytest.raises(FailedPrecondition):
        await append_then_read(store, tenant, agent_id, user("late"), epoch=4)
    with pytest.raises(NotFound):
        await append_then_read(store, f"t-{uuid.uuid4().hex[:12]}", agent_id, user("sneaky"), epoch=9)
    with pytest.raises(InvalidArgument):
        await append_then_read(store, tenant, agent_id, result("never-called"), epoch=5)
    assert await store.recall.count(tenant=tenant, agent_id=agent_id) == 1


async def test_a_concurrent_append_committed_meanwhile_makes_it_leave_the_read_to_the_caller(
    store, reader, migrated_pool, tenant, agent_id
):
    await append_then_read(store, tenant, agent_id, user("first"))
    new = [user("concurrent")]
    ids = [str(uuid.uuid4())]
    parameters = {
        "agent_id": agent_id,
        "tenant": tenant,
        "epoch": 1,
        "count": 1,
        "key": "",
        "run_id": "other",
        "created_at": datetime.now(UTC),
        **message_arrays(new, ids),
    }
    append = SQL["append"]
    async with migrated_pool.acquire() as conn, conn.transaction():
        await conn.execute(append.sql, *append.arguments(parameters))  # holds the state row until commit
        waiting = asyncio.create_task(append_then_read(store, tenant, agent_id, user("mine")))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "appends to one agent are serialised"

    appended, context = await waiting

    assert [m.seq for m in appended.messages] == [3]
    assert context is None, "its snapshot predates the concurrent message"
    read = await reader.read_context(tenant=tenant, agent_id=agent_id)
    assert [m.content for m in read.messages] == ["first", "concurrent", "mine"]


async def test_through_grpc_a_retried_append_still_returns_the_context(memory_channel):
    runtime = memory_service_pb2_grpc.MemoryRuntimeStub(memory_channel)
    md = ((TENANT_KEY, f"t-{uuid.uuid4().hex[:12]}"),)
    agent_id = str(uuid.uuid4())
    await runtime.InitializeAgentMemory(
        memory_service_pb2.InitializeAgentMemoryRequest(agent_id=agent_id), metadata=md
    )
    request = memory_service_pb2.AppendMessagesRequest(
        agent_id=agent_id,
        epoch=1,
        idempotency_key="k",
        messages=[memory_pb2.MessageInput(role=common_pb2.MESSAGE_ROLE_USER, content="hi")],
        return_context=True,
    )

    first = await runtime.AppendMessages(request, metadata=md)
    retry = await runtime.AppendMessages(request, metadata=md)
    request.idempotency_key, request.epoch = "k2", 0
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await runtime.AppendMessages(request, metadata=md)

    assert not first.deduplicated and retry.deduplicated
    assert first.context == retry.context
    assert [m.content for m in first.context.messages] == ["hi"]
    assert first.context.messages[0] == first.messages[0]
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
