"""The checks every request message gets at the edge, whatever its type: what a field of a given
type can hold that no service can store or act on. Field-specific rules (sizes, ids, required
fields) stay with the handlers; these are the ones every field of a type shares."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import FieldViolation
from services.common.values import MAX_DEPTH, has_nul

MIN_TIMESTAMP_SECONDS = -62_135_596_800
"""0001-01-01T00:00:00Z, the first second protobuf's Timestamp (and Python's datetime) allows."""
MAX_TIMESTAMP_SECONDS = 253_402_300_799
"""9999-12-31T23:59:59Z, the last one."""
MAX_DURATION_SECONDS = 315_576_000_000
"""About 10,000 years, protobuf's bound for a Duration."""
MAX_VIOLATIONS = 10
"""Violations listed per request: a status travels in headers, which gRPC caps at a few KiB."""
_MAX_KEY_IN_PATH = 40

_FINITE_TYPES = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)


def message_violations(message: Message) -> list[FieldViolation]:
    """The fields of ``message``, at any depth, that hold what no service can take: NUL characters
    in text (map keys and ``Struct`` values too), enum numbers the contract does not define, numbers
    that are not finite, times and durations outside protobuf's range, and ``Struct`` values nested
    deeper than ``MAX_DEPTH``. At most ``MAX_VIOLATIONS`` of them."""
    found: list[FieldViolation] = []
    _check_message(message, "", found)
    return found[:MAX_VIOLATIONS]


def _check_message(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    special = _SPECIAL.get(message.DESCRIPTOR.full_name)
    if special is not None:
        special(message, prefix.removesuffix("."), found)
        return
    for field, value in message.ListFields():
        if len(found) >= MAX_VIOLATIONS:
            return
        path = prefix + field.name
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                _check_value(field.message_type.fields_by_name["key"], key, f"{path} key", found)
                _check_value(value_field, item, f"{path}[{_key_in_path(key)}]", found)
        elif field.is_repeated:
            for index, item in enumerate(value):
                _check_value(field, item, f"{path}[{index}]", found)
        else:
            _check_value(field, value, path, found)


def _check_value(field: FieldDescriptor, value: Any, path: str, found: list[FieldViolation]) -> None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if has_nul(value):
            found.append(FieldViolation(path, "must not contain NUL characters"))
    elif kind == FieldDescriptor.TYPE_MESSAGE:
        _check_message(value, path + ".", found)
    elif kind == FieldDescriptor.TYPE_ENUM:
        if field.enum_type.values_by_number.get(value) is None:
            found.append(FieldViolation(path, f"{value} is not a value of {field.enum_type.name}"))
    elif kind in _FINITE_TYPES and not math.isfinite(value):
        found.append(FieldViolation(path, "must be a finite number"))


def _is_map(field: FieldDescriptor, _cache: dict = {}) -> bool:  # noqa: B006 - a cache on purpose
    known = _cache.get(field)
    if known is None:
        message_type = field.message_type
        known = _cache[field] = bool(
            field.is_repeated and message_type is not None and message_type.GetOptions().map_entry
        )
    return known


def _key_in_path(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= _MAX_KEY_IN_PATH else text[: _MAX_KEY_IN_PATH - 4] + "...'"


def _check_timestamp(stamp: Message, path: str, found: list[FieldViolation]) -> None:
    if not (MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS and 0 <= stamp.nanos < 10**9):
        found.append(
            FieldViolation(path, "must be a time from 0001-01-01 to 9999-12-31 (nanos 0 to 999999999)")
        )


def _check_duration(duration: Message, path: str, found: list[FieldViolation]) -> None:
    seconds, nanos = duration.seconds, duration.nanos
    if not (
        abs(seconds) <= MAX_DURATION_SECONDS
        and abs(nanos) < 10**9
        and (seconds == 0 or nanos == 0 or (seconds > 0) == (nanos > 0))
    ):
        found.append(
            FieldViolation(path, "must be a duration of at most 10,000 years (nanos of the same sign)")
        )


def _check_struct(struct: Message, path: str, found: list[FieldViolation]) -> None:
    _check_json_fields(struct.fields, path, 0, found)


def _check_json_value(value: Message, path: str, found: list[FieldViolation], depth: int = 0) -> None:
    kind = value.WhichOneof("kind")
    if depth >= MAX_DEPTH:  # as values.value_problem counts: the Struct's own values are level 1
        found.append(FieldViolation(path, f"nested deeper than {MAX_DEPTH} levels"))
    elif kind == "string_value":
        if has_nul(value.string_value):
            found.append(FieldViolation(path, "contains a NUL character"))
    elif kind == "number_value":
        if not math.isfinite(value.number_value):
            found.append(FieldViolation(path, "contains a number that is not finite"))
    elif kind == "struct_value":
        _check_json_fields(value.struct_value.fields, path, depth + 1, found)
    elif kind == "list_value":
        for index, item in enumerate(value.list_value.values):
            if len(found) >= MAX_VIOLATIONS:
                return
            _check_json_value(item, f"{path}[{index}]", found, depth + 1)


def _check_json_fields(fields, path: str, depth: int, found: list[FieldViolation]) -> None:
    for key, item in fields.items():
        if len(found) >= MAX_VIOLATIONS:
            return
        if has_nul(key):
            found.append(FieldViolation(path, "contains a NUL character in a key"))
        _check_json_value(item, f"{path}[{_key_in_path(key)}]", found, depth)


def _check_list(values: Message, path: str, found: list[FieldViolation]) -> None:
    for index, item in enumerate(values.values):
        _check_json_value(item, f"{path}[{index}]", found, 1)


_SPECIAL = {
    "google.protobuf.Timestamp": _check_timestamp,
    "google.protobuf.Duration": _check_duration,
    "google.protobuf.Struct": _check_struct,
    "google.protobuf.Value": _check_json_value,
    "google.protobuf.ListValue": _check_list,
}
