"""What PostgreSQL and protobuf cannot hold, checked at the edge so it is INVALID_ARGUMENT and never
INTERNAL: NUL characters in text, numbers that are not finite, integers past 32 bits, nesting past
the protobuf parser's depth (``services.common.request_values`` applies them to whole requests)."""

from __future__ import annotations

import math
from typing import Any

MAX_INT32 = 2**31 - 1
MAX_DEPTH = 32
"""Deepest nesting of a JSON value (metadata, an agent document's parts); protobuf's own limit is
100 for a whole message."""


def has_nul(text: str) -> bool:
    return "\x00" in text


def value_problem(value: Any, *, depth: int = 0) -> str | None:
    """Why a JSON-like value cannot be stored (as JSONB or a protobuf Struct), or None."""
    if depth > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        return "contains a NUL character" if has_nul(value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "contains a number that is not finite"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and has_nul(key):
                return "contains a NUL character"
            if problem := value_problem(item, depth=depth + 1):
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            if problem := value_problem(item, depth=depth + 1):
                return problem
    return None
