"""The checks every request message gets at the edge, whatever its type: what a field of a given
type can hold that no service can store or act on. Field-specific rules (sizes, ids, required
fields) stay with the handlers; these are the ones every field of a type shares."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
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
NO_KIND = "is a Value with no kind set (send null_value for a null)"
"""A ``google.protobuf.Value`` that is none of null, number, string, bool, struct or list: what a JSON
mapping that does not know the field names makes of ``{"string_value": "x"}``. Refused, so a client's
mistake is never stored as null without a word."""


def message_violations(message: Message) -> list[FieldViolation]:
    """The fields of ``message``, at any depth, that hold what no service can take: NUL characters
    in text (map keys and ``Struct`` values too), enum numbers the contract does not define, numbers
    that are not finite, times and durations outside protobuf's range, ``Struct`` values nested
    deeper than ``MAX_DEPTH`` or with no kind set. At most ``MAX_VIOLATIONS`` of them."""
    found: list[FieldViolation] = []
    _check_message(message, "", found)
    return found[:MAX_VIOLATIONS]


def struct_violations(struct: Message, path: str) -> list[FieldViolation]:
    """What in ``struct`` (a ``google.protobuf.Struct`` at field ``path``) no service can take."""
    found: list[FieldViolation] = []
    _check_struct(struct, path, found)
    return found[:MAX_VIOLATIONS]


def _check_message(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    # Reading the fields that can hold something wrong one by one is several times faster than
    # ListFields() with upb, and most requests are a few such fields.
    special, plans = _plans_of(message.DESCRIPTOR)
    if special is not None:
        special(message, prefix.removesuffix("."), found)
        return
    for plan in plans:
        if len(found) >= MAX_VIOLATIONS:
            return
        if plan.is_map:
            for key, item in getattr(message, plan.name).items():
                _check_value(plan.key, key, prefix + plan.name, " key", found)
                _check_value(plan.value, item, prefix + plan.name, f"[{_key_in_path(key)}]", found)
        elif plan.repeated:
            for index, item in enumerate(getattr(message, plan.name)):
                _check_value(plan, item, prefix + plan.name, f"[{index}]", found)
        elif plan.kind is not _Kind.MESSAGE or message.HasField(plan.name):
            _check_value(plan, getattr(message, plan.name), prefix + plan.name, "", found)


class _Kind(enum.Enum):
    STRING = 1
    MESSAGE = 2
    ENUM = 3
    FLOAT = 4
    OTHER = 5


@dataclass(frozen=True)
class _Plan:
    """What to check in one field, worked out once per field of the contract."""

    name: str
    kind: _Kind
    repeated: bool
    is_map: bool = False
    enum_numbers: frozenset[int] = frozenset()
    enum_name: str = ""
    key: _Plan | None = None
    value: _Plan | None = None


_PLANS: dict[FieldDescriptor, _Plan] = {}
_PLANS_BY_TYPE: dict[Descriptor, tuple[Any, tuple[_Plan, ...]]] = {}


def _plan_of(field: FieldDescriptor) -> _Plan:
    plan = _PLANS.get(field)
    if plan is None:
        plan = _PLANS[field] = _make_plan(field)
    return plan


def _make_plan(field: FieldDescriptor) -> _Plan:
    kind = {
        FieldDescriptor.TYPE_STRING: _Kind.STRING,
        FieldDescriptor.TYPE_MESSAGE: _Kind.MESSAGE,
        FieldDescriptor.TYPE_ENUM: _Kind.ENUM,
        FieldDescriptor.TYPE_DOUBLE: _Kind.FLOAT,
        FieldDescriptor.TYPE_FLOAT: _Kind.FLOAT,
    }.get(field.type, _Kind.OTHER)
    entry = field.message_type
    if field.is_repeated and entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return _Plan(field.name, kind, True, True, key=_plan_of(key), value=_plan_of(value))
    if kind is _Kind.ENUM:
        numbers = frozenset(value.number for value in field.enum_type.values)
        return _Plan(
            field.name, kind, field.is_repeated, enum_numbers=numbers, enum_name=field.enum_type.name
        )
    return _Plan(field.name, kind, field.is_repeated)


def _plans_of(descriptor: Descriptor) -> tuple[Any, tuple[_Plan, ...]]:
    """A well-known type's own check, or the plans of the fields that need one (no integers,
    booleans or bytes: any value of those is fine)."""
    known = _PLANS_BY_TYPE.get(descriptor)
    if known is None:
        plans = tuple(p for p in map(_plan_of, descriptor.fields) if p.kind is not _Kind.OTHER)
        known = _PLANS_BY_TYPE[descriptor] = (_SPECIAL.get(descriptor.full_name), plans)
    return known


def _check_value(plan: _Plan, value: Any, path: str, suffix: str, found: list[FieldViolation]) -> None:
    kind = plan.kind
    if kind is _Kind.STRING:
        if has_nul(value):
            found.append(FieldViolation(path + suffix, "must not contain NUL characters"))
    elif kind is _Kind.MESSAGE:
        _check_message(value, path + suffix + ".", found)
    elif kind is _Kind.ENUM:
        if value not in plan.enum_numbers:
            found.append(FieldViolation(path + suffix, f"{value} is not a value of {plan.enum_name}"))
    elif kind is _Kind.FLOAT and not math.isfinite(value):
        found.append(FieldViolation(path + suffix, "must be a finite number"))


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
        found.append(FieldViolation(path, f"is nested deeper than {MAX_DEPTH} levels"))
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
    elif kind is None:
        found.append(FieldViolation(path, NO_KIND))


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
