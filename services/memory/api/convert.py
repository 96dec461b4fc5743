"""Conversions between the memory contract's messages and the core's dataclasses."""

from __future__ import annotations

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2
from services.common.errors import InvalidArgument
from services.common.protobuf import from_struct, to_struct, to_timestamp, tool_calls_to_proto
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
