"""Opaque page tokens and page-size rules shared by every List RPC."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from services.common.errors import InvalidArgument
from services.common.values import value_problem

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_INT64 = range(-(2**63), 2**63)


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """The page size to use: ``default`` for 0, refused when negative, capped at ``maximum``."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or default, maximum)


def encode_token(position: dict) -> str:
    """An opaque token for the position after the last item of a page."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict | None:
    """The position a token stands for; None for the first page; InvalidArgument when forged.

    Tokens are not signed, so whatever a caller sends is refused here unless it is a JSON object
    every value of which a statement can take: text without NUL, finite numbers, integers of 64 bits.
    What each key must hold is the caller's to check.
    """
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidArgument.field("page_token", "is not a token this service issued") from None
    if not isinstance(position, dict) or value_problem(position) or not _fits_int64(position):
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return position


def _fits_int64(value) -> bool:
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, dict):
        return all(_fits_int64(item) for item in value.values())
    if isinstance(value, list):
        return all(_fits_int64(item) for item in value)
    return True


def time_id_token(created_at: datetime, item_id: str) -> str:
    """A keyset page token: the (time, id) of the last item of a page."""
    return encode_token({"t": created_at.isoformat(), "id": item_id})


def decode_time_id_token(token: str) -> tuple[datetime, str] | None:
    """The (time, id) of :func:`time_id_token`; None for the first page; InvalidArgument unless the
    token holds a time with its zone (within Python's years) and a UUID."""
    position = decode_token(token)
    if position is None:
        return None
    try:
        moment = datetime.fromisoformat(position["t"])
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment.astimezone(UTC), str(uuid.UUID(position["id"]))
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        raise InvalidArgument.field("page_token", "is not a token this service issued") from None
