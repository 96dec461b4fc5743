"""The memory service as the agent loop sees it: protobuf on the wire, HistoryMessage inside."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import grpc

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.agent.core.builtin_tools import BlockEdit, Found
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.llm import ToolCall
from services.common.channels import ServiceClient, create_channel
from services.common.protobuf import from_struct, to_struct, to_timestamp, tool_calls_to_proto
from services.common.settings import Settings
from services.common.stored_cache import StoredMessageCache

ROLES = {
    "system": common_pb2.MESSAGE_ROLE_SYSTEM,
    "user": common_pb2.MESSAGE_ROLE_USER,
    "assistant": common_pb2.MESSAGE_ROLE_ASSISTANT,
    "tool": common_pb2.MESSAGE_ROLE_TOOL,
}
ROLE_NAMES = {number: name for name, number in ROLES.items()}


def memory_channel(settings: Settings) -> grpc.aio.Channel:
    """The agent service's one channel to memory, shared by its clients. Reads are retried; so
    are the writes made safe to repeat: appends by their idempotency key, set-up and removal by
    being idempotent, the boundary by setting the same place."""
    return create_channel(
        settings.memory_addr,
        settings,
        idempotent={
            "agentsuite.memory.v1.MemoryRuntime": [
                "GetContext",
                "AppendMessages",
                "SetEvictionBoundary",
                "InitializeAgentMemory",
                "DeleteAgentMemory",
            ],
            "agentsuite.memory.v1.MemoryService": [
                "SearchPassages",
                "SearchMessages",
                "ListMessages",
                "ListPassages",
                "ListBlocks",
            ],
        },
    )


class MemoryClient(ServiceClient):
    """Context reads and fenced appends against the memory service's internal API."""

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._runtime = memory_service_pb2_grpc.MemoryRuntimeStub(channel)
        self._public = memory_service_pb2_grpc.MemoryServiceStub(channel)
        self._max_messages = settings.context_max_messages
        # Every step reads the same in-context messages again; each is converted once.
        self._history: StoredMessageCache[common_pb2.Message, HistoryMessage] = StoredMessageCache(
            history_message
        )

    async def append_then_read(
        self,
        agent_id: str,
        *,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        messages: Sequence[HistoryMessage],
    ) -> tuple[list[HistoryMessage], ContextSnapshot]:
        request = _append_request(agent_id, epoch, run_id, idempotency_key, messages)
        request.return_context = True
        request.context_max_messages = self._max_messages
        response = await self._unary(self._runtime.AppendMessages, request)
        return self._stored(response.messages), self._snapshot(response.context)

    async def read(self, agent_id: str, *, epoch: int = 0) -> ContextSnapshot:
        """The agent's context as the next model call needs it, fenced by ``epoch``."""
        request = memory_service_pb2.GetContextRequest(
            agent_id=agent_id, max_messages=self._max_messages, epoch=epoch
        )
        return self._snapshot(await self._unary(self._runtime.GetContext, request))

    async def messages_between(
        self, agent_id: str, *, after_seq: int, before_seq: int, limit: int
    ) -> list[HistoryMessage]:
        found: list[HistoryMessage] = []
        token = ""
        while len(found) < limit:
            request = memory_service_pb2.ListMessagesRequest(
                agent_id=agent_id,
                after_seq=after_seq,
                before_seq=before_seq,
                descending=True,
                page_size=min(1000, limit - len(found)),
                page_token=token,
            )
            response = await self._unary(self._public.ListMessages, request)
            found.extend(history_message(m) for m in response.messages)
            token = response.next_page_token
            if not token:
                break
        return found[::-1]

    async def set_eviction_boundary(
        self, agent_id: str, *, epoch: int, boundary_seq: int, summary: str
    ) -> None:
        """Evict every message up to ``boundary_seq`` from the context, replaced by ``summary``."""
        request = memory_service_pb2.SetEvictionBoundaryRequest(
            agent_id=agent_id, epoch=epoch, boundary_seq=boundary_seq, summary=summary
        )
        await self._unary(self._runtime.SetEvictionBoundary, request)

    async def append(
        self,
        agent_id: str,
        *,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        messages: Sequence[HistoryMessage],
    ) -> list[HistoryMessage]:
        request = _append_request(agent_id, epoch, run_id, idempotency_key, messages)
        response = await self._unary(self._runtime.AppendMessages, request)
        return self._stored(response.messages)

    def _stored(self, messages: Sequence[common_pb2.Message]) -> list[HistoryMessage]:
        history = self._history
        return [
            history.known(m.id) or history.get(m.id, m, len(m.content) + len(m.reasoning)) for m in messages
        ]

    def _snapshot(self, response: memory_service_pb2.GetContextResponse) -> ContextSnapshot:
        return ContextSnapshot(
            boundary_seq=response.boundary_seq,
            compiled_memory=response.compiled_memory,
            summary=response.summary,
            messages=tuple(self._stored(response.messages)),
            epoch=response.epoch,
        )

    # The built-in tools' side of memory (services.agent.core.builtin_tools.MemoryTools).

    async def edit_block(
        self, agent_id: str, label: str, edit: BlockEdit, *, run_id: str, epoch: int, key: str
    ) -> str:
        request = memory_service_pb2.EditBlockRequest(
            agent_id=agent_id,
            label=label,
            edit=_block_edit(edit),
            run_id=run_id,
            epoch=epoch,
            idempotency_key=key,
        )
        response = await self._unary(self._public.EditBlock, request)
        return response.block.value

    async def insert_passage(
        self, archive_id: str, text: str, tags: Sequence[str], *, agent_id: str, epoch: int, key: str
    ) -> str:
        request = memory_service_pb2.InsertPassagesRequest(
            archive_id=archive_id,
            passages=[memory_pb2.PassageInput(text=text, tags=list(tags))],
            agent_id=agent_id,
            epoch=epoch,
            idempotency_key=key,
        )
        response = await self._unary(self._public.InsertPassages, request)
        return response.passage_ids[0]

    async def search_passages(
        self,
        agent_id: str,
        query: str,
        *,
        tags: Sequence[str],
        match_all: bool,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Found]:
        request = memory_service_pb2.SearchPassagesRequest(
            agent_id=agent_id,
            query=query,
            tags=list(tags),
            tag_match=common_pb2.TAG_MATCH_ALL if match_all else common_pb2.TAG_MATCH_ANY,
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
            page_size=limit,
        )
        response = await self._unary(self._public.SearchPassages, request)
        return [
            Found(
                text=hit.passage.text,
                score=hit.score,
                when=hit.passage.create_time.ToDatetime(tzinfo=UTC),
                tags=tuple(hit.passage.tags),
            )
            for hit in response.results
        ]

    async def search_messages(
        self,
        agent_id: str,
        query: str,
        *,
        roles: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[Found]:
        request = memory_service_pb2.SearchMessagesRequest(
            agent_id=agent_id,
            query=query,
            roles=[ROLES[role] for role in roles],
            start_time=to_timestamp(start),
            end_time=to_timestamp(end),
            page_size=limit,
        )
        response = await self._unary(self._public.SearchMessages, request)
        return [
            Found(
                text=hit.message.content,
                score=hit.score,
                when=hit.message.create_time.ToDatetime(tzinfo=UTC),
                role=ROLE_NAMES.get(hit.message.role, ""),
            )
            for hit in response.results
        ]


def _append_request(
    agent_id: str, epoch: int, run_id: str, idempotency_key: str, messages: Sequence[HistoryMessage]
) -> memory_service_pb2.AppendMessagesRequest:
    return memory_service_pb2.AppendMessagesRequest(
        agent_id=agent_id,
        epoch=epoch,
        run_id=run_id,
        idempotency_key=idempotency_key,
        messages=[_message_input(m) for m in messages],
    )


def _message_input(message: HistoryMessage) -> memory_pb2.MessageInput:
    return memory_pb2.MessageInput(
        role=ROLES[message.role],
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tool_calls_to_proto(message.tool_calls),
        tool_call_id=message.tool_call_id,
        name=message.name,
        step=message.step,
        metadata=to_struct(message.metadata),
    )


def history_message(message: common_pb2.Message) -> HistoryMessage:
    return HistoryMessage(
        role=ROLE_NAMES.get(message.role, "user"),
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tuple(
            ToolCall(id=c.id, name=c.name, arguments=c.arguments_json) for c in message.tool_calls
        ),
        tool_call_id=message.tool_call_id,
        name=message.name,
        step=message.step,
        metadata=from_struct(message.metadata),
        seq=message.seq,
        id=message.id,
        run_id=message.run_id,
    )


def _block_edit(edit: BlockEdit) -> memory_pb2.BlockEdit:
    match edit.kind:
        case "append":
            return memory_pb2.BlockEdit(append=memory_pb2.AppendEdit(text=edit.text))
        case "replace":
            return memory_pb2.BlockEdit(
                replace=memory_pb2.ReplaceEdit(old_text=edit.old_text, new_text=edit.text)
            )
        case "insert":
            return memory_pb2.BlockEdit(insert=memory_pb2.InsertEdit(line=edit.line, text=edit.text))
        case "rewrite":
            return memory_pb2.BlockEdit(rewrite=memory_pb2.RewriteEdit(value=edit.text))
    raise ValueError(f"unknown block edit {edit.kind!r}")
