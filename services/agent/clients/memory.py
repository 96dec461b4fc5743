"""The memory service as the agent loop sees it: protobuf on the wire, HistoryMessage inside."""

from __future__ import annotations

from collections.abc import Sequence

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.llm import ToolCall
from services.common.channels import ServiceClient, create_channel
from services.common.protobuf import from_struct, to_struct, tool_calls_to_proto
from services.common.settings import Settings

ROLES = {
    "system": common_pb2.MESSAGE_ROLE_SYSTEM,
    "user": common_pb2.MESSAGE_ROLE_USER,
    "assistant": common_pb2.MESSAGE_ROLE_ASSISTANT,
    "tool": common_pb2.MESSAGE_ROLE_TOOL,
}
ROLE_NAMES = {number: name for name, number in ROLES.items()}


class MemoryClient(ServiceClient):
    """Context reads and fenced appends against the memory service's internal API."""

    @classmethod
    def connect(cls, settings: Settings) -> MemoryClient:
        # Reads are idempotent; appends are made safe to retry by their idempotency key.
        runtime = "agentsuite.memory.v1.MemoryRuntime"
        channel = create_channel(
            settings.memory_addr,
            settings,
            idempotent={runtime: ["GetContext", "AppendMessages", "InitializeAgentMemory"]},
        )
        return cls(channel, settings)

    def __init__(self, channel, settings: Settings):
        super().__init__(channel, settings)
        self._runtime = memory_service_pb2_grpc.MemoryRuntimeStub(channel)
        self._max_messages = settings.context_max_messages

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
        return [history_message(m) for m in response.messages], _snapshot(response.context)

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
        return [history_message(m) for m in response.messages]


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


def _snapshot(response: memory_service_pb2.GetContextResponse) -> ContextSnapshot:
    return ContextSnapshot(
        compiled_memory=response.compiled_memory,
        summary=response.summary,
        messages=tuple(history_message(m) for m in response.messages),
        epoch=response.epoch,
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
