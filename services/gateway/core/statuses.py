"""Run statuses and stop reasons as the gateway core knows them; the numbers are those of
``gateway.v1.RunStatus`` and ``common.v1.StopReason`` (pinned by tests/unit/test_proto_numbers.py)."""

from __future__ import annotations

from enum import IntEnum


class RunStatus(IntEnum):
    QUEUED = 1
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4
    CANCELLED = 5
    AWAITING_APPROVAL = 6
