"""Small conversions between protobuf well-known types and Python values, for API layers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from services.common.errors import InvalidArgument


def to_struct(value: dict | None) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if value:
        struct.update(value)
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(struct)


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
