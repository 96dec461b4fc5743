"""The internal MemoryRuntime: the context read and fenced appends, for the agent service."""

from __future__ import annotations

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.common.call import require_tenant
from services.common.errors import InvalidArgument, Validation
from services.common.protobuf import require_id
from services.common.server import servicer
from services.memory.api.convert import message_to_proto, new_message
from services.memory.store.messages import MessageStore

MAX_APPEND = 1000
MAX_CONTENT = 1_000_000
MAX_KEY = 200
MAX_CONTEXT_MESSAGES = 100_000


@servicer
class MemoryRuntimeApi(memory_service_pb2_grpc.MemoryRuntimeServicer):
    """Internal memory API for the agent service: the context read and fenced appends."""

    def __init__(self, messages: MessageStore):
        self._messages = messages

    async def GetContext(self, request: memory_service_pb2.GetContextRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        _check_context_size(request.max_messages, "max_messages")
        return await self._context(tenant, agent_id, request.max_messages)

    async def _context(
        self, tenant: str, agent_id: str, max_messages: int
    ) -> memory_service_pb2.GetContextResponse:
        agent_context = await self._messages.context(
            tenant=tenant, agent_id=agent_id, max_messages=max_messages
        )
        return memory_service_pb2.GetContextResponse(
            compiled_memory=agent_context.compiled_memory,
            summary=agent_context.summary,
            messages=[message_to_proto(m) for m in agent_context.messages],
            boundary_seq=agent_context.boundary_seq,
            epoch=agent_context.epoch,
            stats=memory_pb2.MemoryStats(
                message_count=agent_context.message_count,
                in_context_message_count=len(agent_context.messages),
            ),
        )

    async def AppendMessages(self, request: memory_service_pb2.AppendMessagesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        check = Validation()
        check.check(
            0 < len(request.messages) <= MAX_APPEND, "messages", f"between 1 and {MAX_APPEND} messages"
        )
        check.check(request.epoch >= 0, "epoch", "must not be negative")
        check.check(
            len(request.idempotency_key) <= MAX_KEY, "idempotency_key", f"at most {MAX_KEY} characters"
        )
        check.check(len(request.run_id) <= MAX_KEY, "run_id", f"at most {MAX_KEY} characters")
        for index, message in enumerate(request.messages):
            check.check(
                message.role != common_pb2.MESSAGE_ROLE_UNSPECIFIED, f"messages[{index}].role", "required"
            )
            check.check(
                len(message.content) <= MAX_CONTENT,
                f"messages[{index}].content",
                f"at most {MAX_CONTENT} characters",
            )
        check.raise_if_any()
        if request.return_context:
            _check_context_size(request.context_max_messages, "context_max_messages")
        result = await self._messages.append(
            tenant=tenant,
            agent_id=agent_id,
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=request.idempotency_key,
            new_messages=[new_message(m) for m in request.messages],
        )
        response = memory_service_pb2.AppendMessagesResponse(
            messages=[message_to_proto(m) for m in result.messages], deduplicated=result.deduplicated
        )
        if request.return_context:
            response.context.CopyFrom(await self._context(tenant, agent_id, request.context_max_messages))
        return response


def _check_context_size(max_messages: int, field: str) -> None:
    if not 0 <= max_messages <= MAX_CONTEXT_MESSAGES:
        raise InvalidArgument.field(field, f"between 0 (all) and {MAX_CONTEXT_MESSAGES}")
