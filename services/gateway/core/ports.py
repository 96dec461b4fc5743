"""What the gateway core needs from the outside, as interfaces: the runs and their events, the
agent leases, and the agent service. The real ones are ``services.gateway.store.runs.RunStore``,
``services.gateway.store.runs.LeaseStore`` and ``services.gateway.clients.agent.AgentRuntimeClient``;
the unit tests use fakes (tests/unit/gateway_fakes.py)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.gateway.core.model import Acceptance, FinishRow, RunRow, StartOffer, StoredBatch


class RunRepository(Protocol):
    """Runs, their stored events, and the notifications between replicas about them."""

    async def accept(
        self,
        *,
        run_id: str,
        tenant: str,
        agent_id: str,
        idempotency_key: str | None,
        step_request: bytes,
        deltas: bool,
        call_chain: str,
        event_head: bytes,
        max_queued: int,
        parent_run_id: str | None = None,
        priority: int = 0,
        reject_if_busy: bool = False,
        interrupt: bool = False,
        offer: StartOffer | None = None,
    ) -> Acceptance:
        """Record a queued run and its queued event, unless the key was seen, the queue is full, or
        the agent is busy and ``reject_if_busy``; recorded as started instead when ``offer`` can be
        taken up and nothing is ahead of it. Acceptances of one agent are serialized."""
        ...

    async def claim(self, tenant: str, agent_id: str, holder: str, epoch: int) -> tuple[RunRow, int] | None:
        """Start the agent's next run under this lease; with the number still waiting."""
        ...

    async def store(
        self, events: Sequence[tuple[str, int, int, bytes]], finishes: Sequence[FinishRow]
    ) -> StoredBatch:
        """Store (run id, epoch, seq, event) rows and finish runs, each only under the run's epoch."""
        ...

    async def get(self, tenant: str, run_id: str) -> RunRow | None: ...

    async def list(
        self, tenant: str, *, agent_id: str, statuses: Sequence[int], before: int | None, limit: int
    ) -> builtins.list[RunRow]: ...

    async def events_after(
        self, run_id: str, after: int, limit: int = 500
    ) -> builtins.list[tuple[int, bytes]]:
        """Stored (seq, serialized event) of a run after ``after``, in order."""
        ...

    async def awaiting_approval(self, tenant: str, agent_id: str) -> RunRow | None: ...

    async def continue_run(
        self, tenant: str, run_id: str, step_request: bytes, deltas: bool, seq: int, event: bytes
    ) -> bool: ...

    async def cancel_waiting(
        self, tenant: str, run_id: str, *, detail: str, seq: int, event: bytes, finished_at: datetime
    ) -> bool: ...

    async def request_cancel(self, tenant: str, run_id: str) -> bool: ...

    async def tell_run_events(self, run_id: str) -> None: ...

    async def tell_agent_work(self, tenant: str, agent_id: str) -> None: ...

    async def tell_cancel(self, run_id: str) -> None: ...


class LeaseRepository(Protocol):
    """Which gateway may run an agent, under which fencing epoch, until when."""

    holder: str
    """This gateway process."""

    def offer(self, epoch: int | None) -> StartOffer: ...

    async def acquire(self, tenant: str, agent_id: str) -> int | None:
        """The new epoch when the lease was free, expired or ours; None while another holds it."""
        ...

    async def renew(self, held: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        """Extend the (tenant, agent, epoch) leases still held; the (tenant, agent) renewed."""
        ...

    async def release(self, tenant: str, agent_id: str, epoch: int) -> bool:
        """Give the lease up; True when the agent has runs waiting."""
        ...

    async def orphaned(self, *, grace_seconds: float, limit: int = 500) -> builtins.list[tuple[str, str]]:
        """Agents with unfinished runs and no live lease."""
        ...


class AgentRuntime(Protocol):
    """The agent service, as the core calls it."""

    def step(self, request: Any) -> AsyncIterator[Any]:
        """``AgentRuntime.Step``: the agent's events of one run (an ``agent.v1.StepRequest`` in,
        ``common.v1.AgentEvent`` out)."""
        ...

    async def require_agent(self, tenant: str, agent_id: str) -> None:
        """NotFound unless the tenant has this agent."""
        ...
