"""The internal MemoryRuntime through gRPC on the real database: an agent's memory is set up once,
its context counts its archives from the counters, and removal forgets what is the agent's alone
(DESIGN §7)."""

from __future__ import annotations

import uuid

import grpc
import pytest

from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.common.call import TENANT_KEY
from services.common.status import from_rpc_error

pb = memory_service_pb2


@pytest.fixture
def runtime(memory_channel) -> memory_service_pb2_grpc.MemoryRuntimeStub:
    return memory_service_pb2_grpc.MemoryRuntimeStub(memory_channel)


@pytest.fixture
def memory(memory_channel) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(memory_channel)


@pytest.fixture
def md() -> tuple:
    return ((TENANT_KEY, f"t-{uuid.uuid4().hex[:12]}"),)


async def initialize(runtime, md, agent_id: str, **fields) -> pb.InitializeAgentMemoryResponse:
    return await runtime.InitializeAgentMemory(
        pb.InitializeAgentMemoryRequest(agent_id=agent_id, **fields), metadata=md
    )


async def test_initializing_twice_returns_the_same_blocks_and_archive(runtime, md):
    agent_id = str(uuid.uuid4())
    blocks = [memory_pb2.Block(label="human", value="Ann")]

    first = await initialize(runtime, md, agent_id, blocks=blocks, create_archive=True)
    again = await initialize(runtime, md, agent_id, blocks=blocks, create_archive=True)

    assert first.archive_id and again.archive_id == first.archive_id
    assert [b.id for b in again.blocks] == [b.id for b in first.blocks]


async def test_two_new_blocks_with_one_label_are_refused(runtime, md):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await initialize(
            runtime, md, str(uuid.uuid4()), blocks=[memory_pb2.Block(label="x"), memory_pb2.Block(label="x")]
        )

    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_context_stats_count_the_agents_passages_and_tags(runtime, memory, md):
    agent_id = str(uuid.uuid4())
    archive_id = (await initialize(runtime, md, agent_id, create_archive=True)).archive_id
    await memory.InsertPassages(
        pb.InsertPassagesRequest(
            archive_id=archive_id,
            passages=[
                memory_pb2.PassageInput(text="tea at five", tags=["habits"]),
                memory_pb2.PassageInput(text="Oslo trip", tags=["travel", "habits"]),
            ],
        ),
        metadata=md,
    )

    context = await runtime.GetContext(pb.GetContextRequest(agent_id=agent_id), metadata=md)

    assert context.stats.passage_count == 2
    assert list(context.stats.archive_tags) == ["habits", "travel"]


async def test_deleting_agent_memory_forgets_its_own_and_keeps_what_it_shares(runtime, memory, md):
    leaving, staying = str(uuid.uuid4()), str(uuid.uuid4())
    own = await initialize(
        runtime, md, leaving, blocks=[memory_pb2.Block(label="human")], create_archive=True
    )
    await initialize(runtime, md, staying)
    shared = (
        await memory.CreateBlock(
            pb.CreateBlockRequest(block=memory_pb2.Block(label="team"), agent_id=leaving), metadata=md
        )
    ).block
    await memory.AttachBlock(pb.AttachBlockRequest(block_id=shared.id, agent_id=staying), metadata=md)
    await runtime.AppendMessages(
        pb.AppendMessagesRequest(
            agent_id=leaving, epoch=1, messages=[memory_pb2.MessageInput(role=2, content="bye")]
        ),
        metadata=md,
    )

    await runtime.DeleteAgentMemory(pb.DeleteAgentMemoryRequest(agent_id=leaving), metadata=md)
    await runtime.DeleteAgentMemory(pb.DeleteAgentMemoryRequest(agent_id=leaving), metadata=md)  # retry

    for call in (
        memory.GetBlock(pb.GetBlockRequest(block_id=own.blocks[0].id), metadata=md),
        memory.GetArchive(pb.GetArchiveRequest(archive_id=own.archive_id), metadata=md),
        memory.ListMessages(pb.ListMessagesRequest(agent_id=leaving), metadata=md),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    kept = (await memory.GetBlock(pb.GetBlockRequest(block_id=shared.id), metadata=md)).block
    assert list(kept.agent_ids) == [staying]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (memory_pb2.MessageInput(role=2, content="nul \x00 inside"), "messages[0].content"),
        (memory_pb2.MessageInput(role=3, reasoning="\x00"), "messages[0].reasoning"),
        (memory_pb2.MessageInput(role=2, content="hi", name="n" * 201), "messages[0].name"),
    ],
)
async def test_what_postgres_cannot_store_is_a_field_violation_not_internal(runtime, md, message, field):
    agent_id = str(uuid.uuid4())
    await initialize(runtime, md, agent_id)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await runtime.AppendMessages(
            pb.AppendMessagesRequest(agent_id=agent_id, epoch=1, messages=[message]), metadata=md
        )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = from_rpc_error(caught.value)
    assert [v.field for v in status.violations] == [field]


async def test_a_metadata_number_that_is_not_finite_is_refused(runtime, md):
    agent_id = str(uuid.uuid4())
    await initialize(runtime, md, agent_id)
    message = memory_pb2.MessageInput(role=2, content="hi")
    message.metadata.update({"score": float("inf")})

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await runtime.AppendMessages(
            pb.AppendMessagesRequest(agent_id=agent_id, epoch=1, messages=[message]), metadata=md
        )

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_imported_history_keeps_its_times_and_a_run_cannot_backdate(runtime, memory, md):
    agent_id = str(uuid.uuid4())
    await initialize(runtime, md, agent_id)
    message = memory_pb2.MessageInput(role=2, content="said long ago")
    message.create_time.FromSeconds(1_600_000_000)  # September 2020

    stored = await runtime.AppendMessages(
        pb.AppendMessagesRequest(agent_id=agent_id, epoch=0, idempotency_key="import-1", messages=[message]),
        metadata=md,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await runtime.AppendMessages(
            pb.AppendMessagesRequest(agent_id=agent_id, epoch=3, messages=[message]), metadata=md
        )

    assert stored.messages[0].create_time.ToSeconds() == 1_600_000_000
    listed = await memory.ListMessages(pb.ListMessagesRequest(agent_id=agent_id), metadata=md)
    assert listed.messages[0].create_time.ToSeconds() == 1_600_000_000
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in from_rpc_error(caught.value).violations] == ["messages[0].create_time"]
