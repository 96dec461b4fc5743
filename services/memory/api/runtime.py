"""The internal MemoryRuntime: the context read and fenced appends, for the agent service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.common.call import require_tenant
from services.common.errors import InvalidArgument, Validation
from services.common.metrics import record_messages_appended
from services.common.protobuf import from_struct, require_id
from services.common.server import servicer
from services.common.stored_cache import StoredMessageCache
from services.common.values import has_nul, value_problem
from services.memory.api.convert import (
    add_encoded,
    block_fields,
    block_to_proto,
    new_message,
)
from services.memory.core.agent_setup import AgentSetup
from services.memory.core.blocks import compile_memory
from services.memory.core.model import AgentContext, AppendResult, StoredMessage
from services.memory.core.steps import AgentSteps

MAX_APPEND = 1000
CLOCK_SKEW = timedelta(minutes=5)
MAX_NAME = 200
MAX_CONTENT = 1_000_000
MAX_KEY = 200
MAX_CONTEXT_MESSAGES = 100_000


@servicer
class MemoryRuntimeApi(memory_service_pb2_grpc.MemoryRuntimeServicer):
    """Internal memory API for the agent service: the context read and fenced appends."""

    def __init__(
        self,
        steps: AgentSteps,
        setup: AgentSetup,
        encoded: StoredMessageCache[StoredMessage, bytes],
    ):
        self._steps = steps
        self._setup = setup
        self._encoded = encoded
        """Every step reads the same in-context messages again; each is encoded once (see
        docs/architecture.md, "Caches on the message path")."""

    async def GetContext(self, request: memory_service_pb2.GetContextRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        _check_context_size(request.max_messages, "max_messages")
        if request.epoch < 0:
            raise InvalidArgument.field("epoch", "must not be negative")
        agent_context = await self._steps.context(
            tenant=tenant, agent_id=agent_id, epoch=request.epoch, max_messages=request.max_messages
        )
        response = memory_service_pb2.GetContextResponse()
        self._fill_context(response, agent_context)
        return response

    async def AppendMessages(self, request: memory_service_pb2.AppendMessagesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        check = Validation()
        check.check(
            0 < len(request.messages) <= MAX_APPEND,
            "messages",
            f"must hold between 1 and {MAX_APPEND} messages",
        )
        check.check(request.epoch >= 0, "epoch", "must not be negative")
        check.check(
            len(request.idempotency_key) <= MAX_KEY,
            "idempotency_key",
            f"must be at most {MAX_KEY} characters",
        )
        check.check(len(request.run_id) <= MAX_KEY, "run_id", f"must be at most {MAX_KEY} characters")
        metadatas = []
        for index, message in enumerate(request.messages):
            check.check(
                message.role != common_pb2.MESSAGE_ROLE_UNSPECIFIED, f"messages[{index}].role", "is required"
            )
            check.check(
                message.role != common_pb2.MESSAGE_ROLE_TOOL or bool(message.tool_call_id),
                f"messages[{index}].tool_call_id",
                "required for a tool message: the id of the call it answers",
            )
            metadatas.append(_check_message_values(message, f"messages[{index}]", check))
            if message.HasField("create_time"):
                check.check(
                    request.epoch == 0,
                    f"messages[{index}].create_time",
                    "only a history brought in (epoch 0) has its own times; a run's are stamped when stored",
                )
                check.check(
                    message.create_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC) + CLOCK_SKEW,
                    f"messages[{index}].create_time",
                    "must not be in the future",
                )
        check.raise_if_any()
        if request.return_context:
            _check_context_size(request.context_max_messages, "context_max_messages")
        new_messages = [
            new_message(m, metadata) for m, metadata in zip(request.messages, metadatas, strict=True)
        ]
        if not request.return_context:
            result = await self._steps.append(
                tenant=tenant,
                agent_id=agent_id,
                epoch=request.epoch,
                run_id=request.run_id,
                idempotency_key=request.idempotency_key,
                new_messages=new_messages,
            )
            return self._appended(result)
        result, agent_context = await self._steps.append_then_read(
            tenant=tenant,
            agent_id=agent_id,
            epoch=request.epoch,
            run_id=request.run_id,
            idempotency_key=request.idempotency_key,
            new_messages=new_messages,
            max_messages=request.context_max_messages,
        )
        response = self._appended(result)
        self._fill_context(response.context, agent_context)
        return response

    def _add_messages(self, target, field: str, messages: Sequence[StoredMessage]) -> None:
        encoded = self._encoded
        add_encoded(
            target, field, [encoded.get(m.id, m, len(m.content) + len(m.reasoning)) for m in messages]
        )

    def _appended(self, result: AppendResult) -> memory_service_pb2.AppendMessagesResponse:
        if not result.deduplicated:
            record_messages_appended(len(result.messages))
        response = memory_service_pb2.AppendMessagesResponse(deduplicated=result.deduplicated)
        self._add_messages(response, "messages", result.messages)
        return response

    def _fill_context(
        self, target: memory_service_pb2.GetContextResponse, agent_context: AgentContext
    ) -> None:
        """Set the fields of ``target`` (a response, or the context of one) in place: copying a
        finished context into another message would copy every message again."""
        target.compiled_memory = compile_memory(agent_context.blocks)
        target.blocks.extend(block_to_proto(b) for b in agent_context.blocks)
        target.summary = agent_context.summary
        self._add_messages(target, "messages", agent_context.messages)
        target.boundary_seq = agent_context.boundary_seq
        target.epoch = agent_context.epoch
        stats = target.stats
        stats.message_count = agent_context.message_count
        stats.in_context_message_count = len(agent_context.messages)
        stats.passage_count = agent_context.passage_count
        stats.archive_tags.extend(agent_context.archive_tags)

    async def SetEvictionBoundary(self, request: memory_service_pb2.SetEvictionBoundaryRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        check = Validation()
        check.check(request.epoch >= 0, "epoch", "must not be negative")
        check.check(request.boundary_seq >= 0, "boundary_seq", "must not be negative")
        check.check(
            len(request.summary) <= MAX_CONTENT, "summary", f"must be at most {MAX_CONTENT} characters"
        )
        check.raise_if_any()
        boundary = await self._steps.move_boundary(
            tenant=tenant,
            agent_id=agent_id,
            epoch=request.epoch,
            boundary_seq=request.boundary_seq,
            summary=request.summary,
        )
        return memory_service_pb2.SetEvictionBoundaryResponse(boundary_seq=boundary)

    async def InitializeAgentMemory(self, request: memory_service_pb2.InitializeAgentMemoryRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        existing = [
            require_id(block.id, f"blocks[{index}].id")
            for index, block in enumerate(request.blocks)
            if block.id
        ]
        new = [
            block_fields(block, prefix=f"blocks[{index}].")
            for index, block in enumerate(request.blocks)
            if not block.id
        ]
        blocks, archive_id = await self._setup.initialize(
            tenant=tenant,
            agent_id=agent_id,
            new_blocks=new,
            existing_block_ids=existing,
            create_archive=request.create_archive,
            archive_embedder=request.archive_embedder,
        )
        return memory_service_pb2.InitializeAgentMemoryResponse(
            blocks=[block_to_proto(b) for b in blocks], archive_id=archive_id
        )

    async def DeleteAgentMemory(self, request: memory_service_pb2.DeleteAgentMemoryRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        await self._setup.forget(tenant=tenant, agent_id=agent_id)
        return memory_service_pb2.DeleteAgentMemoryResponse()


def _check_context_size(max_messages: int, field: str) -> None:
    if not 0 <= max_messages <= MAX_CONTEXT_MESSAGES:
        raise InvalidArgument.field(field, f"must be between 0 (all) and {MAX_CONTEXT_MESSAGES}")


def _check_message_values(message: memory_pb2.MessageInput, where: str, check: Validation) -> dict:
    """Sizes, and what PostgreSQL cannot store (NUL characters, numbers that are not finite); the
    message's metadata, converted once for the check and the append."""
    texts = [
        ("content", message.content, MAX_CONTENT),
        ("reasoning", message.reasoning, MAX_CONTENT),
        ("name", message.name, MAX_NAME),
        ("tool_call_id", message.tool_call_id, MAX_NAME),
    ]
    for index, call in enumerate(message.tool_calls):
        texts += [
            (f"tool_calls[{index}].id", call.id, MAX_NAME),
            (f"tool_calls[{index}].name", call.name, MAX_NAME),
            (f"tool_calls[{index}].arguments_json", call.arguments_json, MAX_CONTENT),
        ]
    for field_name, text, limit in texts:
        check.check(len(text) <= limit, f"{where}.{field_name}", f"must be at most {limit} characters")
        check.check(not has_nul(text), f"{where}.{field_name}", "must not contain NUL characters")
    metadata = from_struct(message.metadata, f"{where}.metadata")
    problem = value_problem(metadata)
    check.check(problem is None, f"{where}.metadata", problem or "")
    return metadata
