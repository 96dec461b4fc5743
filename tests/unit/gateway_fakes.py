"""In-memory stand-ins for the gateway core's ports (``services.gateway.core.ports``): runs and
their events, leases, and the agent service. They keep the rules the core relies on (runs claimed
in acceptance order, events and ends stored only under the run's current epoch, one lease holder
at a time) and nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.common.v1 import common_pb2
from services.gateway.core.model import Acceptance, FinishRow, RunRow, StartOffer, StoredBatch
from services.gateway.core.statuses import RunStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def queued_run(run_id: str, agent_id: str = "a", tenant: str = "t", lane_seq: int = 1, **fields) -> RunRow:
    request = agent_service_pb2.StepRequest(input=[common_pb2.InputMessage(content=f"to {run_id}")])
    defaults = {
        "id": run_id,
        "tenant": tenant,
        "agent_id": agent_id,
        "status": RunStatus.QUEUED,
        "idempotency_key": None,
        "step_request": request.SerializeToString(),
        "deltas": True,
        "call_chain": "",
        "parent_run_id": None,
        "epoch": 0,
        "cancel_requested": False,
        "stop_reason": 0,
        "stop_detail": "",
        "result": None,
        "lane_seq": lane_seq,
        "created_at": NOW,
        "started_at": None,
        "finished_at": None,
        "last_seq": 1,
    }
    return RunRow(**(defaults | fields))


class FakeRuns:
    """A ``RunRepository`` in memory."""

    def __init__(self) -> None:
        self.runs: dict[str, RunRow] = {}
        self.events: dict[str, dict[int, bytes]] = {}
        self.told_work: list[tuple[str, str]] = []
        self.told_events: list[str] = []
        self.told_cancel: list[str] = []
        self.acceptance: Acceptance | None = None
        """What ``accept`` answers (a test sets it)."""
        self.fail_stores = 0
        """How many ``store`` calls raise before they work again."""

    def add(self, run: RunRow) -> None:
        self.runs[run.id] = run
        self.events.setdefault(run.id, {1: b""})

    async def accept(self, **request) -> Acceptance:
        assert self.acceptance is not None, "set FakeRuns.acceptance first"
        return self.acceptance

    async def claim(self, tenant: str, agent_id: str, holder: str, epoch: int) -> tuple[RunRow, int] | None:
        mine = [
            r
            for r in self.runs.values()
            if (r.tenant, r.agent_id) == (tenant, agent_id)
            and r.status in (RunStatus.QUEUED, RunStatus.RUNNING)
        ]
        if not mine:
            return None
        mine.sort(key=lambda r: (-r.status, r.lane_seq))
        claimed = replace(mine[0], status=RunStatus.RUNNING, epoch=epoch, last_seq=self._last_seq(mine[0].id))
        self.runs[claimed.id] = claimed
        return claimed, sum(1 for r in mine[1:] if r.status == RunStatus.QUEUED)

    async def store(
        self, events: Sequence[tuple[str, int, int, bytes]], finishes: Sequence[FinishRow]
    ) -> StoredBatch:
        if self.fail_stores:
            self.fail_stores -= 1
            raise ConnectionError("the database went away")
        stored, finished = set(), set()
        for run_id, epoch, seq, data in events:
            if self._current(run_id, epoch):
                self.events[run_id].setdefault(seq, data)
                stored.add(run_id)
        for end in finishes:
            if self._current(end.run_id, end.epoch):
                self.runs[end.run_id] = replace(
                    self.runs[end.run_id],
                    status=end.status,
                    stop_reason=end.stop_reason,
                    stop_detail=end.stop_detail,
                    result=end.result,
                    finished_at=end.finished_at,
                )
                finished.add(end.run_id)
        return StoredBatch(stored=frozenset(stored), finished=frozenset(finished))

    async def get(self, tenant: str, run_id: str) -> RunRow | None:
        run = self.runs.get(run_id)
        if run is None or run.tenant != tenant:
            return None
        return replace(run, last_seq=self._last_seq(run_id))

    async def list(self, tenant, *, agent_id, statuses, before, limit):
        raise NotImplementedError

    async def events_after(self, run_id: str, after: int, limit: int = 500) -> list[tuple[int, bytes]]:
        stored = sorted((seq, data) for seq, data in self.events.get(run_id, {}).items() if seq > after)
        return stored[:limit]

    async def awaiting_approval(self, tenant: str, agent_id: str) -> RunRow | None:
        return None

    async def continue_run(self, *args) -> bool:
        raise NotImplementedError

    async def cancel_waiting(self, *args, **kwargs) -> bool:
        raise NotImplementedError

    async def request_cancel(self, tenant: str, run_id: str) -> bool:
        raise NotImplementedError

    async def tell_run_events(self, run_id: str) -> None:
        self.told_events.append(run_id)

    async def tell_agent_work(self, tenant: str, agent_id: str) -> None:
        self.told_work.append((tenant, agent_id))

    async def tell_cancel(self, run_id: str) -> None:
        self.told_cancel.append(run_id)

    def _current(self, run_id: str, epoch: int) -> bool:
        run = self.runs[run_id]
        return run.epoch == epoch and run.status == RunStatus.RUNNING

    def _last_seq(self, run_id: str) -> int:
        return max(self.events.get(run_id, {0: b""}))


class FakeLeases:
    """A ``LeaseRepository`` in memory: one holder per agent; ``other_holder`` marks agents another
    replica holds."""

    def __init__(self, holder: str = "me", ttl_seconds: float = 30.0):
        self.holder = holder
        self.ttl_seconds = ttl_seconds
        self.epochs: dict[tuple[str, str], int] = {}
        self.held: dict[tuple[str, str], str | None] = {}
        self.released: list[tuple[str, str, int]] = []
        self.renewable = True
        """False: every renewal finds its leases taken over."""
        self.runs_left: Callable[[str, str], bool] = lambda tenant, agent_id: False

    def offer(self, epoch: int | None) -> StartOffer:
        return StartOffer(self.holder, epoch, self.ttl_seconds)

    async def acquire(self, tenant: str, agent_id: str) -> int | None:
        key = (tenant, agent_id)
        if self.held.get(key) not in (None, self.holder):
            return None
        self.epochs[key] = self.epochs.get(key, 0) + 1
        self.held[key] = self.holder
        return self.epochs[key]

    async def renew(self, held: Sequence[tuple[str, str, int]]) -> set[tuple[str, str]]:
        return {(t, a) for t, a, _ in held} if self.renewable else set()

    async def release(self, tenant: str, agent_id: str, epoch: int) -> bool:
        self.released.append((tenant, agent_id, epoch))
        self.held[(tenant, agent_id)] = None
        return self.runs_left(tenant, agent_id)

    async def orphaned(self, *, grace_seconds: float, limit: int = 500) -> list[tuple[str, str]]:
        return []


def agent_event(step: int = 0, **event) -> common_pb2.AgentEvent:
    return common_pb2.AgentEvent(step=step, **event)


def reply(text: str, message_id: str, step: int = 1) -> list[common_pb2.AgentEvent]:
    """The events of a step that answers ``text`` and stops at the end of the turn."""
    return [
        agent_event(step, assistant_delta=common_pb2.TextDelta(text=text)),
        agent_event(
            step,
            assistant_message=common_pb2.Message(
                id=message_id, role=common_pb2.MESSAGE_ROLE_ASSISTANT, content=text
            ),
        ),
        agent_event(step, stop=common_pb2.StopInfo(reason=common_pb2.STOP_REASON_END_TURN)),
    ]


class FakeAgentRuntime:
    """An ``AgentRuntime`` that answers each ``step`` with the next script: a list of events, an
    exception to raise, or an ``asyncio.Event`` to wait on forever (a step that hangs)."""

    def __init__(self, *scripts) -> None:
        self.scripts = list(scripts)
        self.requests: list[agent_service_pb2.StepRequest] = []

    async def step(self, request) -> AsyncIterator[common_pb2.AgentEvent]:
        self.requests.append(request)
        script = self.scripts.pop(0)
        if isinstance(script, BaseException):
            raise script
        if isinstance(script, asyncio.Event):
            await script.wait()
            return
        for event in script:
            yield event

    async def require_agent(self, tenant: str, agent_id: str) -> None:
        return None
