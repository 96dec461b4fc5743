"""Ids: every resource id of the suite is a UUID."""

from __future__ import annotations

import uuid


def is_uuid(value: str) -> bool:
    """Whether ``value`` parses as a UUID (a store answers NOT_FOUND for anything else)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
