"""Core memory and recall through the gateway, with real processes: an agent created with blocks
sees them in its prompt, an edit through the API shows in the next prompt, and refusals arrive with
the right code and details (DESIGN §7, §11, §13)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from e2e_client import create_agent, user
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from agentsuite.agent.v1 import agent_pb2
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc


@pytest.fixture
def memory(gateway) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(gateway)


async def agent_with_blocks(gateway, tenant, running_suite, *replies: str) -> tuple[str, str]:
    model = f"m-{uuid.uuid4().hex}"
    running_suite.llm.script(model, [{"content": reply} for reply in replies])
    agent = await create_agent(
        gateway,
        tenant,
        model,
        blocks=(
            agent_pb2.BlockSpec(label="human", value="Name: Ann", limit=60),
            agent_pb2.BlockSpec(label="persona", value="A terse helper.", read_only=True),
        ),
    )
    return agent.id, model


async def send(gateway, tenant, agent_id: str, text: str):
    conversation = gateway_service_pb2_grpc.ConversationServiceStub(gateway)
    return await conversation.SendMessage(
        gateway_service_pb2.SendMessageRequest(agent_id=agent_id, messages=[user(text)]), metadata=tenant
    )


async def test_blocks_given_at_creation_are_in_the_prompt_and_an_api_edit_is_in_the_next_one(
    gateway, tenant, running_suite, memory
):
    agent_id, model = await agent_with_blocks(gateway, tenant, running_suite, "hi Ann", "hi Anne")
    await send(gateway, tenant, agent_id, "hello")

    edited = await memory.EditBlock(
        memory_service_pb2.EditBlockRequest(
            agent_id=agent_id,
            label="human",
            edit=memory_pb2.BlockEdit(replace=memory_pb2.ReplaceEdit(old_text="Ann", new_text="Anne")),
        ),
        metadata=tenant,
    )
    await send(gateway, tenant, agent_id, "hello again")

    first, second = (request["messages"][0]["content"] for request in running_suite.llm.requests(model))
    assert "<human>" in first and "Name: Ann\n" in first and "A terse helper." in first
    assert "Name: Anne" in second
    assert edited.block.version == 2
    blocks = await memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent_id), metadata=tenant)
    assert [(b.label, b.read_only) for b in blocks.blocks] == [("human", False), ("persona", True)]


async def test_an_edit_over_the_limit_is_invalid_argument_with_a_field_violation(
    gateway, tenant, running_suite, memory
):
    agent_id, _ = await agent_with_blocks(gateway, tenant, running_suite)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await memory.EditBlock(
            memory_service_pb2.EditBlockRequest(
                agent_id=agent_id,
                label="human",
                edit=memory_pb2.BlockEdit(append=memory_pb2.AppendEdit(text="x" * 100)),
            ),
            metadata=tenant,
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit of 60" in raised.value.details()
    status = rpc_status.from_call(raised.value)
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert bad_request.field_violations[0].field == "edit"


async def test_a_stale_version_is_aborted_and_the_history_lists_every_version(
    gateway, tenant, running_suite, memory
):
    agent_id, _ = await agent_with_blocks(gateway, tenant, running_suite)
    [human] = (
        await memory.ListBlocks(
            memory_service_pb2.ListBlocksRequest(agent_id=agent_id, label="human"), metadata=tenant
        )
    ).blocks
    updated = await memory.UpdateBlock(
        memory_service_pb2.UpdateBlockRequest(
            block=memory_pb2.Block(id=human.id, value="Name: Bo"),
            update_mask=field_mask_pb2.FieldMask(paths=["value"]),
            expected_version=1,
        ),
        metadata=tenant,
    )

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await memory.UpdateBlock(
            memory_service_pb2.UpdateBlockRequest(
                block=memory_pb2.Block(id=human.id, value="Name: Cy"),
                update_mask=field_mask_pb2.FieldMask(paths=["value"]),
                expected_version=1,
            ),
            metadata=tenant,
        )

    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert (updated.block.version, updated.block.limit) == (2, 60)
    history = await memory.ListBlockHistory(
        memory_service_pb2.ListBlockHistoryRequest(block_id=human.id), metadata=tenant
    )
    assert [(e.version, e.value_after) for e in history.entries] == [(2, "Name: Bo"), (1, "Name: Ann")]
    restored = await memory.RestoreBlockVersion(
        memory_service_pb2.RestoreBlockVersionRequest(block_id=human.id, version=1), metadata=tenant
    )
    assert (restored.block.version, restored.block.value) == (3, "Name: Ann")


async def test_recall_search_and_count_through_the_gateway(gateway, tenant, running_suite, memory):
    agent_id, _ = await agent_with_blocks(gateway, tenant, running_suite, "Noted.", "Sure.")
    await send(gateway, tenant, agent_id, "my cat is called Pixel")
    await send(gateway, tenant, agent_id, "what is the weather")

    found = await memory.SearchMessages(
        memory_service_pb2.SearchMessagesRequest(agent_id=agent_id, query="cat Pixel"), metadata=tenant
    )
    count = await memory.CountMessages(
        memory_service_pb2.CountMessagesRequest(agent_id=agent_id), metadata=tenant
    )

    assert [r.message.content for r in found.results] == ["my cat is called Pixel"]
    assert found.results[0].score > 0
    assert count.count == 4


async def test_another_tenants_blocks_and_messages_are_not_found(gateway, tenant, running_suite, memory):
    agent_id, _ = await agent_with_blocks(gateway, tenant, running_suite)
    [block, _] = (
        await memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent_id), metadata=tenant)
    ).blocks
    intruder = (("authorization", f"Bearer {await running_suite.new_key('intruder')}"),)

    for call in (
        memory.GetBlock(memory_service_pb2.GetBlockRequest(block_id=block.id), metadata=intruder),
        memory.ListBlocks(memory_service_pb2.ListBlocksRequest(agent_id=agent_id), metadata=intruder),
        memory.CountMessages(memory_service_pb2.CountMessagesRequest(agent_id=agent_id), metadata=intruder),
        memory.SearchMessages(
            memory_service_pb2.SearchMessagesRequest(agent_id=agent_id, query="x"), metadata=intruder
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
