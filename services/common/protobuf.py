"""Small conversions between protobuf well-known types and Python values, for API layers."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from google.protobuf import struct_pb2, timestamp_pb2

from agentsuite.common.v1 import common_pb2
from services.common.errors import InvalidArgument
from services.common.request_values import struct_violations


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
    """The Struct as a dict; InvalidArgument naming the path under ``field`` of a number that is
    not finite (JSON, and so JSONB, has none) or a Value with no kind set (never stored as null)."""
    if not struct.fields:  # the common case
        return {}
    try:
        return _fields_to_dict(struct.fields)
    except ValueError:
        raise InvalidArgument(struct_violations(struct, field)) from None


# What json_format.MessageToDict makes of a Struct (numbers stay floats), at a fifth of its cost:
# every in-context message of every step goes through here. A number that is not finite, or a Value
# with no kind set, is a ValueError.


def _fields_to_dict(fields) -> dict:
    return {key: _value(value) for key, value in fields.items()}


def _value(value: struct_pb2.Value):
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise ValueError("not finite")
        return number
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _fields_to_dict(value.struct_value.fields)
    if kind == "list_value":
        return [_value(item) for item in value.list_value.values]
    if kind == "null_value":
        return None
    raise ValueError("a Value with no kind set")


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(as_utc(moment))
    return stamp


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC. A naive one is the database's: asyncpg writes the first and last instants
    a Timestamp can hold (``datetime.min`` and ``max``) as PostgreSQL's -infinity and infinity, and
    reads those back as naive ``datetime.min`` and ``max``."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def require_id(value: str, field: str) -> str:
    """``value`` when it is a canonical UUID; InvalidArgument naming ``field`` otherwise."""
    if not value:
        raise InvalidArgument.field(field, "is required")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.field(field, f"{value[:64]!r} is not a valid id (a UUID)") from None
    return str(parsed)


MAX_IDEMPOTENCY_KEY = 200


def idempotency_key(value: str, field: str = "idempotency_key") -> str:
    """``value`` when it can key a write (at most 200 characters, no NUL); InvalidArgument otherwise."""
    if len(value) > MAX_IDEMPOTENCY_KEY:
        raise InvalidArgument.field(field, f"must be at most {MAX_IDEMPOTENCY_KEY} characters")
    if "\x00" in value:
        raise InvalidArgument.field(field, "must not contain NUL characters")
    return value
