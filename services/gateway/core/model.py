"""The gateway core's own records of runs and leases (the stores return and take these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunRow:
    """A run as stored."""

    id: str
    tenant: str
    agent_id: str
    status: int
    """A ``RunStatus``."""
    idempotency_key: str | None
    step_request: bytes
    deltas: bool
    call_chain: str
    parent_run_id: str | None
    epoch: int
    cancel_requested: bool
    stop_reason: int
    stop_detail: str
    result: bytes | None
    lane_seq: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_seq: int


@dataclass(frozen=True)
class StartOffer:
    """This gateway offers to start a run at once: its lane of the agent is idle and holds the lease
    under ``epoch``, or (``epoch`` None) it has no lane of the agent and takes the lease if free."""

    holder: str
    epoch: int | None
    ttl_seconds: float


@dataclass(frozen=True)
class Acceptance:
    """What acceptance found: the new run, or why there is none."""

    accepted_id: str | None
    existing_id: str | None
    """The run an earlier request with the same idempotency key created."""
    ahead: int
    """Runs of the agent queued or running before this one."""
    queued: int
    running_id: str | None
    """The agent's running run (or its oldest queued one), for a rejection."""
    interrupted: tuple[str, ...]
    lease_epoch: int | None = None
    """The epoch of the lease the offer held or took, when it was taken up."""
    started: RunRow | None = None
    """The run, when it was recorded as already claimed under ``lease_epoch``."""


@dataclass(frozen=True)
class FinishRow:
    run_id: str
    epoch: int
    status: int
    stop_reason: int
    stop_detail: str
    result: bytes
    finished_at: datetime


@dataclass(frozen=True)
class StoredBatch:
    stored: frozenset[str]
    """Runs whose events were stored (their epoch still current)."""
    finished: frozenset[str]
