"""The memory service as AgentService sees it: an agent's memory set up, removed, exported and
restored (the agent loop's reads and fenced appends are :mod:`services.agent.clients.memory`,
whose ``memory_channel`` both use)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC

from google.protobuf import timestamp_pb2

from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.agent.clients.memory import ROLE_NAMES, ROLES
from services.agent.core.agent_file import FileMessage, FilePassage, FileToolCall
from services.agent.core.agents import InitialBlock
from services.agent.core.lifecycle import MemorySnapshot
from services.common.channels import ServiceClient
from services.common.paging import MAX_PAGE_SIZE
from services.common.protobuf import from_struct, to_struct, to_timestamp, tool_calls_to_proto
from services.common.settings import Settings

IMPORT_EPOCH = 0
"""Epoch of an import's writes: the agent is new, no lease has been taken on it yet."""


class MemoryLifecycleClient(ServiceClient):
    """Set-up, removal, export reads and import writes of one agent's memory."""

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._public = memory_service_pb2_grpc.MemoryServiceStub(channel)
        self._runtime = memory_service_pb2_grpc.MemoryRuntimeStub(channel)

    async def initialize(self, agent_id: str, blocks: Sequence[InitialBlock]) -> str:
        response = await self._unary(
            self._runtime.InitializeAgentMemory,
            memory_service_pb2.InitializeAgentMemoryRequest(
                agent_id=agent_id,
                blocks=[
                    memory_pb2.Block(
                        id=b.block_id,
                        label=b.label,
                        value=b.value,
                        limit=b.limit,
                        read_only=b.read_only,
                        description=b.description,
                        metadata=to_struct(b.metadata),
                    )
                    for b in blocks
                ],
                create_archive=True,
            ),
        )
        return response.archive_id

    async def forget(self, agent_id: str) -> None:
        await self._unary(
            self._runtime.DeleteAgentMemory, memory_service_pb2.DeleteAgentMemoryRequest(agent_id=agent_id)
        )

    async def block_ids(self, agent_id: str) -> tuple[str, ...]:
        ids: list[str] = []
        token = ""
        while True:
            request = memory_service_pb2.ListBlocksRequest(
                agent_id=agent_id, page_size=1000, page_token=token
            )
            response = await self._unary(self._public.ListBlocks, request)
            ids.extend(block.id for block in response.blocks)
            token = response.next_page_token
            if not token:
                return tuple(ids)

    async def snapshot(self, agent_id: str) -> MemorySnapshot:
        # One message is the least a context read returns; blocks and the summary are what we want.
        context = await self._unary(
            self._runtime.GetContext, memory_service_pb2.GetContextRequest(agent_id=agent_id, max_messages=1)
        )
        return MemorySnapshot(
            blocks=tuple(
                InitialBlock(
                    label=b.label,
                    value=b.value,
                    limit=b.limit,
                    read_only=b.read_only,
                    description=b.description,
                    metadata=from_struct(b.metadata),
                )
                for b in context.blocks
            ),
            summary=context.summary,
            boundary_seq=context.boundary_seq,
            last_seq=context.stats.message_count,  # sequence numbers have no gaps
        )

    async def messages(self, agent_id: str, *, before_seq: int) -> AsyncIterator[list[FileMessage]]:
        request = memory_service_pb2.ListMessagesRequest(
            agent_id=agent_id, page_size=MAX_PAGE_SIZE, before_seq=before_seq
        )
        while True:
            page = await self._unary(self._public.ListMessages, request)
            yield [_file_message(m) for m in page.messages]
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def passages(self, archive_id: str) -> AsyncIterator[list[FilePassage]]:
        request = memory_service_pb2.ListPassagesRequest(archive_id=archive_id, page_size=MAX_PAGE_SIZE)
        while True:
            page = await self._unary(self._public.ListPassages, request)
            yield [
                FilePassage(
                    text=p.text,
                    tags=tuple(p.tags),
                    metadata=from_struct(p.metadata),
                    create_time=_time(p.create_time) if p.HasField("create_time") else None,
                )
                for p in page.passages
            ]
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def append(self, agent_id: str, *, key: str, messages: Sequence[FileMessage]) -> list[int]:
        response = await self._unary(
            self._runtime.AppendMessages,
            memory_service_pb2.AppendMessagesRequest(
                agent_id=agent_id,
                epoch=IMPORT_EPOCH,
                idempotency_key=key,
                messages=[
                    memory_pb2.MessageInput(
                        role=ROLES[m.role],
                        content=m.content,
                        reasoning=m.reasoning,
                        tool_calls=tool_calls_to_proto(m.tool_calls),
                        tool_call_id=m.tool_call_id,
                        name=m.name,
                        step=m.step,
                        metadata=to_struct(m.metadata),
                        create_time=to_timestamp(m.create_time),
                    )
                    for m in messages
                ],
            ),
        )
        return [m.seq for m in response.messages]

    async def set_boundary(self, agent_id: str, *, boundary_seq: int, summary: str) -> None:
        await self._unary(
            self._runtime.SetEvictionBoundary,
            memory_service_pb2.SetEvictionBoundaryRequest(
                agent_id=agent_id, epoch=IMPORT_EPOCH, boundary_seq=boundary_seq, summary=summary
            ),
        )

    async def insert_passages(self, archive_id: str, passages: Sequence[FilePassage]) -> None:
        await self._unary(
            self._public.InsertPassages,
            memory_service_pb2.InsertPassagesRequest(
                archive_id=archive_id,
                passages=[
                    memory_pb2.PassageInput(
                        text=p.text,
                        tags=p.tags,
                        metadata=to_struct(p.metadata),
                        create_time=to_timestamp(p.create_time),
                    )
                    for p in passages
                ],
            ),
        )


def _file_message(message) -> FileMessage:
    return FileMessage(
        role=ROLE_NAMES.get(message.role, "user"),
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tuple(
            FileToolCall(id=c.id, name=c.name, arguments=c.arguments_json) for c in message.tool_calls
        ),
        tool_call_id=message.tool_call_id,
        name=message.name,
        step=message.step,
        metadata=from_struct(message.metadata),
        create_time=_time(message.create_time) if message.HasField("create_time") else None,
        seq=message.seq,
    )


def _time(stamp: timestamp_pb2.Timestamp):
    return stamp.ToDatetime(tzinfo=UTC)
