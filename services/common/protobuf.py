"""Small conversions between protobuf well-known types and Python values, for API layers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from agentsuite.common.v1 import common_pb2
from services.common.errors import InvalidArgument


class _ToolCallLike(Protocol):
    id: str
    name: str
    arguments: str


def tool_calls_to_proto(calls: Iterable[_ToolCallLike]) -> list[common_pb2.ToolCall]:
    """Tool calls of any layer (id, name, raw JSON arguments) as ``common.v1.ToolCall``."""
    return [common_pb2.ToolCall(id=c.id, name=c.name, arguments_json=c.arguments) for c in calls]


def to_struct(value: dict | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value:
        struct.update(value)
    return struct


def from_struct(struct: struct_pb2.Struct, field: str = "metadata") -> dict:
    """The Struct as a dict; InvalidArgument naming ``field`` when it holds a number that is not
    finite (JSON, and so JSONB, has none)."""
    if not struct.fields:  # the common case, and MessageToDict is slow even for nothing
        return {}
    try:
        return json_format.MessageToDict(struct)
    except ValueError:
        raise InvalidArgument.field(field, "contains a number that is not finite") from None


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def require_id(value: str, field: str) -> str:
    """``value`` when it is a canonical UUID; InvalidArgument naming ``field`` otherwise."""
    if not value:
        raise InvalidArgument.field(field, "required")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field(field, f"{value[:64]!r} is not a valid id (a UUID)") from None
    return str(parsed)
