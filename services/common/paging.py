"""Opaque page tokens and page-size rules shared by every List RPC: each list reads and writes its
tokens through one :class:`PageToken`."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.common.errors import InvalidArgument
from services.common.values import value_problem

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_INT64 = range(-(2**63), 2**63)
R = TypeVar("R")


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


class PageToken:
    """The page token of one list: the list's name, which a token carries so that a token of another
    list is refused, and the keys of its position, each with the reader that checks its value.

    Every List RPC pages with one of these::

        RUNS_PAGE = PageToken("runs", before=whole)
        before = RUNS_PAGE.read(request.page_token)          # None on the first page
        rows, token = RUNS_PAGE.page(rows, limit, lambda run: {"before": run.lane_seq})

    ``read`` refuses (INVALID_ARGUMENT naming ``page_token``) a token that is forged, of another list,
    or whose values its readers refuse; a reader raises ValueError, TypeError or KeyError.
    """

    def __init__(self, kind: str, **fields: Callable[[Any], Any]):
        self._kind = kind
        self._fields = fields

    def read(self, token: str) -> dict[str, Any] | None:
        """The position ``token`` stands for, each value as its reader returns it; None for the
        first page."""
        position = decode_token(token)
        if position is None:
            return None
        if position.pop(_KIND, None) != self._kind or position.keys() != self._fields.keys():
            raise _not_ours()
        try:
            return {key: read(position[key]) for key, read in self._fields.items()}
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
            raise _not_ours() from None

    def token(self, **position: Any) -> str:
        """The token of ``position`` (the values as JSON holds them)."""
        return encode_token({_KIND: self._kind, **position})

    def page(self, rows: list[R], limit: int, position: Callable[[R], dict]) -> tuple[list[R], str]:
        """The page of ``rows`` (read with ``limit + 1`` so that one more row tells there is a next
        page) and the token of the next page: empty when there is none."""
        if len(rows) <= limit:
            return rows, ""
        return rows[:limit], self.token(**position(rows[limit - 1]))


_KIND = "k"


def _not_ours() -> InvalidArgument:
    return InvalidArgument.field("page_token", "is not a token this service issued")


def whole(value: Any) -> int:
    """A position that is an integer of 0 or more."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a whole number")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError("not a number")
    return float(value)


def moment(value: Any) -> datetime:
    """A time with its zone (within Python's years), in UTC."""
    found = datetime.fromisoformat(text(value))
    if found.tzinfo is None:
        raise ValueError("no time zone")
    return found.astimezone(UTC)


def uuid_text(value: Any) -> str:
    return str(uuid.UUID(text(value)))
