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


class RunStopReason(IntEnum):
    """Why a run stopped (``common.v1.StopReason``)."""

    END_TURN = 1
    TERMINAL_TOOL = 2
    MAX_STEPS = 3
    APPROVAL_REQUIRED = 4
    CANCELLED = 5
    CONTEXT_OVERFLOW = 6
    LLM_ERROR = 7
    INVALID_TOOL_CALL = 8
    ERROR = 9
