"""Conversions between the memory contract's messages and the core's dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2
from services.common.errors import InvalidArgument, Validation
from services.common.protobuf import from_struct, to_struct, to_timestamp, tool_calls_to_proto
from services.memory.core.blocks import (
    DEFAULT_LIMIT,
    Append,
    Block,
    BlockChange,
    BlockFields,
    Edit,
    Insert,
    Replace,
    Rewrite,
    require_valid,
)
from services.memory.core.model import NewMessage, Role, StoredMessage, ToolCallRecord


def role(value: int, field: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidArgument.field(field, f"unknown role {value}") from None


def new_message(message: memory_pb2.MessageInput) -> NewMessage:
    return NewMessage(
        role=role(message.role, "messages.role"),
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tuple(ToolCallRecord(c.id, c.name, c.arguments_json) for c in message.tool_calls),
        tool_call_id=message.tool_call_id,
        name=message.name,
        step=message.step,
        metadata=from_struct(message.metadata),
    )


def message_to_proto(message: StoredMessage) -> common_pb2.Message:
    return common_pb2.Message(
        id=message.id,
        agent_id=message.agent_id,
        seq=message.seq,
        role=int(message.role),
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tool_calls_to_proto(message.tool_calls),
        tool_call_id=message.tool_call_id,
        name=message.name,
        run_id=message.run_id,
        step=message.step,
        create_time=to_timestamp(message.created_at),
        metadata=to_struct(message.metadata),
    )


def block_to_proto(block: Block) -> memory_pb2.Block:
    return memory_pb2.Block(
        id=block.id,
        label=block.label,
        value=block.value,
        limit=block.limit,
        read_only=block.read_only,
        description=block.description,
        metadata=to_struct(block.metadata),
        version=block.version,
        agent_ids=block.agent_ids,
        create_time=to_timestamp(block.created_at),
        update_time=to_timestamp(block.updated_at),
    )


def block_fields(block: memory_pb2.Block, *, prefix: str = "block.", checked: bool = True) -> BlockFields:
    """The settable fields of ``block``, validated unless not ``checked``; a limit of 0 means the
    default."""
    fields = BlockFields(
        label=block.label,
        value=block.value,
        limit=block.limit or DEFAULT_LIMIT,
        read_only=block.read_only,
        description=block.description,
        metadata=from_struct(block.metadata),
    )
    if checked:
        require_valid(fields, prefix=prefix)
    return fields


def block_edit(edit: memory_pb2.BlockEdit) -> Edit:
    match edit.WhichOneof("edit"):
        case "append":
            return Append(edit.append.text)
        case "replace":
            return Replace(edit.replace.old_text, edit.replace.new_text)
        case "insert":
            return Insert(edit.insert.line, edit.insert.text)
        case "rewrite":
            return Rewrite(edit.rewrite.value)
    raise InvalidArgument.field("edit", "one of append, replace, insert or rewrite is required")


def block_change_to_proto(change: BlockChange) -> memory_pb2.BlockHistoryEntry:
    return memory_pb2.BlockHistoryEntry(
        block_id=change.block_id,
        version=change.version,
        value_before=change.value_before,
        value_after=change.value_after,
        agent_id=change.agent_id,
        run_id=change.run_id,
        create_time=to_timestamp(change.created_at),
    )


def time_range(request, check: Validation) -> tuple[datetime | None, datetime | None]:
    """The [start_time, end_time) of a search request, unset bounds None; a reversed range is
    recorded in ``check``."""
    start = request.start_time.ToDatetime(tzinfo=UTC) if request.HasField("start_time") else None
    end = request.end_time.ToDatetime(tzinfo=UTC) if request.HasField("end_time") else None
    check.check(start is None or end is None or start < end, "end_time", "must be after start_time")
    return start, end
