"""Conversions between the memory contract's messages and the core's dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2
from services.common.errors import InvalidArgument, Validation
from services.common.protobuf import as_utc, from_struct, to_struct, to_timestamp, tool_calls_to_proto
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
        raise InvalidArgument.field(
            field, f"must be a MessageRole other than UNSPECIFIED, not {value}"
        ) from None


def new_message(message: memory_pb2.MessageInput, metadata: dict | None = None) -> NewMessage:
    """The message to append; ``metadata`` is its metadata already converted (by validation)."""
    return NewMessage(
        role=role(message.role, "messages.role"),
        content=message.content,
        reasoning=message.reasoning,
        tool_calls=tuple(ToolCallRecord(c.id, c.name, c.arguments_json) for c in message.tool_calls),
        tool_call_id=message.tool_call_id,
        name=message.name,
        step=message.step,
        metadata=from_struct(message.metadata) if metadata is None else metadata,
        created_at=message.create_time.ToDatetime(tzinfo=UTC) if message.HasField("create_time") else None,
    )


def message_to_proto(message: StoredMessage) -> common_pb2.Message:
    # Hot: every in-context message of every step. Sub-messages are filled in place (not built
    # and copied) and the time set as seconds and nanos, which is three times cheaper than
    # Timestamp.FromDatetime; the result is the same message.
    proto = common_pb2.Message(
        id=message.id,
        agent_id=message.agent_id,
        seq=message.seq,
        role=message.role,
        content=message.content,
        reasoning=message.reasoning,
        tool_call_id=message.tool_call_id,
        name=message.name,
        run_id=message.run_id,
        step=message.step,
    )
    if message.tool_calls:
        proto.tool_calls.extend(tool_calls_to_proto(message.tool_calls))
    if message.metadata:
        proto.metadata.update(message.metadata)
    else:
        proto.metadata.SetInParent()
    _set_time(proto.create_time, message.created_at)
    return proto


def encoded_message(message: StoredMessage) -> bytes:
    """``message`` as the bytes a repeated ``common.v1.Message`` field holds after its tag: its
    length, then the message serialized (see ``add_encoded``)."""
    data = message_to_proto(message).SerializeToString()
    return _varint(len(data)) + data


def add_encoded(target: Message, field: str, encoded: Sequence[bytes]) -> None:
    """Append messages to the repeated field ``field`` of ``target`` from their ``encoded_message``.

    Protobuf merges concatenated serializations, and a merge appends to a repeated field; parsing
    the bytes costs a third of copying message objects into the field (a context's hundred
    messages, on every step)."""
    if encoded:
        tag = _varint(target.DESCRIPTOR.fields_by_name[field].number << 3 | _LENGTH_DELIMITED)
        target.MergeFromString(tag + tag.join(encoded))


_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _set_time(stamp: timestamp_pb2.Timestamp, moment: datetime) -> None:
    since = as_utc(moment) - _EPOCH  # exact, and right for any time zone or a time before 1970
    stamp.seconds = since.days * 86_400 + since.seconds
    stamp.nanos = since.microseconds * 1_000


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
