"""Runs from the client's side: accept one (durably, under a busy policy), follow its events from
any replica, continue it with approvals, cancel it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from services.common import metrics
from services.common.approvals import check_decisions
from services.common.call import current_call
from services.common.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    ResourceExhausted,
)
from services.common.tracing import keep_for_run
from services.gateway.core.events import Numbering, is_finished, is_live_only, now, run_of
from services.gateway.core.executor import RunExecutor
from services.gateway.core.hub import FellBehind, RunHubs
from services.gateway.core.lanes import Lanes, StopReason
from services.gateway.core.model import RunRow
from services.gateway.core.ports import AgentRuntime, RunRepository
from services.gateway.core.statuses import RunStatus

CANCEL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Submission:
    """What a client asks of an agent: messages (or approvals of its run awaiting them)."""

    agent_id: str
    messages: Sequence[common_pb2.InputMessage] = ()
    idempotency_key: str = ""
    busy_policy: int = gateway_pb2.BUSY_POLICY_UNSPECIFIED
    max_steps: int = 0
    approvals: Sequence[common_pb2.ToolApproval] = ()
    deltas: bool = True
    """Whether the run's readers want text deltas (SendMessage does not)."""


@dataclass(frozen=True)
class Accepted:
    run_id: str
    after_seq: int
    """Where the submitter's stream starts: after this step-level event."""
    queued: gateway_pb2.RunEvent | None = None
    """A new run's queued event, as stored (its stream begins with it)."""
    news: asyncio.Event | None = None
    """Registered before the run was stored: set by anything stored after ``queued``."""


@dataclass
class RunWatchers:
    """Readers waiting for news of runs that execute elsewhere (or have not started)."""

    waiting: dict[str, set[asyncio.Event]] = field(default_factory=dict)

    def register(self, run_id: str) -> asyncio.Event:
        news = asyncio.Event()
        self.waiting.setdefault(run_id, set()).add(news)
        return news

    def unregister(self, run_id: str, news: asyncio.Event) -> None:
        waiting = self.waiting.get(run_id)
        if waiting is not None:
            waiting.discard(news)
            if not waiting:
                del self.waiting[run_id]

    def wake(self, run_id: str) -> None:
        for news in self.waiting.get(run_id, ()):
            news.set()

    def wake_all(self) -> None:
        for run_id in list(self.waiting):
            self.wake(run_id)


class Runs:
    def __init__(
        self,
        store: RunRepository,
        lanes: Lanes,
        hubs: RunHubs,
        watchers: RunWatchers,
        executor: RunExecutor,
        agents: AgentRuntime,
        *,
        max_queued: int,
        heartbeat_seconds: float,
        max_call_depth: int,
    ):
        self._store = store
        self._lanes = lanes
        self._hubs = hubs
        self._executor = executor
        self._agents = agents
        self._max_queued = max_queued
        self._heartbeat = heartbeat_seconds
        self._max_call_depth = max_call_depth
        self.watchers = watchers
        """Readers waiting for news of runs executing elsewhere (woken by notifications)."""

    # -- notifications from other replicas -------------------------------------------------------

    def on_events_notification(self, payload: str) -> None:
        for run_id in payload.split(","):
            self.watchers.wake(run_id)

    def on_cancel_notification(self, run_id: str) -> None:
        lane = self._lanes.executing(run_id)
        if lane is not None:
            lane.stop(StopReason.CANCELLED)
        else:
            self._executor.remember_cancel(run_id)

    # -- accepting -------------------------------------------------------------------------------

    async def submit(self, tenant: str, submission: Submission) -> Accepted:
        chain = current_call().call_chain
        self._check_chain(submission.agent_id, chain)
        await self._agents.require_agent(tenant, submission.agent_id)
        if submission.approvals:
            return await self._continue(tenant, submission)
        run_id = _new_run_id()
        news = self.watchers.register(run_id)
        try:
            return await self._accept(tenant, submission, run_id, chain, news)
        except BaseException:
            self.watchers.unregister(run_id, news)
            raise

    async def _accept(
        self, tenant: str, submission: Submission, run_id: str, chain: tuple[str, ...], news: asyncio.Event
    ) -> Accepted:
        step_request = agent_service_pb2.StepRequest(
            input=_with_roles(submission.messages), max_steps=submission.max_steps
        )
        head = gateway_pb2.RunEvent(run_id=run_id, seq=1, time=now())
        policy = submission.busy_policy
        lane, offer = self._lanes.reserve(tenant, submission.agent_id) or (None, None)
        keep_for_run(run_id)  # before the lane may start it
        acceptance = None
        try:
            acceptance = await self._store.accept(
                run_id=run_id,
                tenant=tenant,
                agent_id=submission.agent_id,
                idempotency_key=submission.idempotency_key or None,
                step_request=step_request.SerializeToString(),
                deltas=submission.deltas,
                call_chain=",".join(chain),
                parent_run_id=current_call().parent_run_id,
                event_head=head.SerializeToString(),
                max_queued=self._max_queued,
                priority=1 if policy == gateway_pb2.BUSY_POLICY_INTERRUPT else 0,
                reject_if_busy=policy == gateway_pb2.BUSY_POLICY_REJECT,
                interrupt=policy == gateway_pb2.BUSY_POLICY_INTERRUPT,
                offer=offer,
            )
        finally:
            if lane is not None:
                self._lanes.settle(lane, acceptance)
        if acceptance.existing_id:
            self.watchers.unregister(run_id, news)
            return Accepted(acceptance.existing_id, 0)
        if acceptance.accepted_id is None:
            if policy == gateway_pb2.BUSY_POLICY_REJECT and acceptance.ahead:
                raise Conflict(
                    f"agent {submission.agent_id} is busy with run {acceptance.running_id}",
                    reason="AGENT_BUSY",
                    metadata={"run_id": acceptance.running_id or "", "agent_id": submission.agent_id},
                )
            raise ResourceExhausted(
                f"agent {submission.agent_id} already has {acceptance.queued} runs queued "
                f"(at most {self._max_queued}); retry later",
                reason="AGENT_QUEUE_FULL",
                metadata={"run_id": acceptance.running_id or "", "agent_id": submission.agent_id},
            )
        for interrupted in acceptance.interrupted:
            await self._cancel_running(interrupted)
        metrics.record_run_accepted(acceptance.ahead)
        if lane is None:  # a reserved lane was told by settle
            self._lanes.kick(tenant, submission.agent_id)
        head.queued.position = acceptance.ahead
        return Accepted(run_id, 1, queued=head, news=news)

    async def _continue(self, tenant: str, submission: Submission) -> Accepted:
        if submission.messages:
            raise InvalidArgument.field("messages", "must be empty when approvals are given")
        row = await self._store.awaiting_approval(tenant, submission.agent_id)
        if row is None:
            raise FailedPrecondition(
                f"no run of agent {submission.agent_id} awaits approval", reason="NO_RUN_AWAITING_APPROVAL"
            )
        check_decisions(
            (call.id for call in run_of(row).pending_approvals),
            [approval.tool_call_id for approval in submission.approvals],
        )
        request = agent_service_pb2.StepRequest.FromString(row.step_request)
        del request.approvals[:]
        request.approvals.extend(submission.approvals)
        queued = Numbering(row.id, row.last_seq).event(queued=gateway_pb2.RunQueued())
        continued = await self._store.continue_run(
            tenant,
            row.id,
            request.SerializeToString(),
            submission.deltas,
            queued.seq,
            queued.SerializeToString(),
        )
        if not continued:
            raise FailedPrecondition(
                f"run {row.id} no longer awaits approval", reason="NO_RUN_AWAITING_APPROVAL"
            )
        await self._store.tell_run_events(row.id)
        keep_for_run(row.id)
        self._lanes.kick(tenant, submission.agent_id)
        return Accepted(row.id, row.last_seq)

    def _check_chain(self, agent_id: str, chain: tuple[str, ...]) -> None:
        if agent_id in chain:
            raise FailedPrecondition(
                f"agent {agent_id} is already waiting in this conversation "
                f"({' -> '.join((*chain, agent_id))}); waiting on it would deadlock",
                reason="CALL_CYCLE",
                metadata={"agent_id": agent_id},
            )
        if len(chain) >= self._max_call_depth:
            raise FailedPrecondition(
                f"the agent-to-agent call chain is at its limit of {self._max_call_depth}",
                reason="CALL_DEPTH",
            )

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, tenant: str, run_id: str) -> gateway_pb2.Run:
        row = await self._store.get(tenant, run_id)
        if row is None:
            raise NotFound("run", run_id)
        return run_of(row)

    async def list(
        self, tenant: str, *, agent_id: str, statuses, before: int | None, limit: int
    ) -> list[RunRow]:
        return await self._store.list(
            tenant, agent_id=agent_id, statuses=statuses, before=before, limit=limit
        )

    async def watch_checked(
        self, tenant: str, run_id: str, after_seq: int, *, heartbeats: bool = True
    ) -> AsyncIterator[gateway_pb2.RunEvent]:
        """``watch`` of a run the tenant has: NotFound, or OutOfRange past its last event."""
        row = await self._store.get(tenant, run_id)
        if row is None:
            raise NotFound("run", run_id)
        if after_seq < 0 or after_seq > row.last_seq:
            raise OutOfRange(f"after_seq {after_seq} is beyond the run's last event ({row.last_seq})")
        return self.watch(run_id, after_seq, heartbeats=heartbeats)

    async def follow(
        self, accepted: Accepted, *, heartbeats: bool = True
    ) -> AsyncIterator[gateway_pb2.RunEvent]:
        """The events of a run just submitted, from where the submitter's stream starts."""
        if accepted.queued is not None:
            yield accepted.queued
        events = self.watch(accepted.run_id, accepted.after_seq, heartbeats=heartbeats, news=accepted.news)
        async for event in events:
            yield event

    async def watch(
        self, run_id: str, after_seq: int, *, heartbeats: bool = True, news: asyncio.Event | None = None
    ) -> AsyncIterator[gateway_pb2.RunEvent]:
        """The run's events after step-level event ``after_seq``, up to its finished event: what is
        stored, then live ones, from whichever replica executes it. Heartbeats while it is quiet.

        ``news``, when given, was registered for the run before anything after ``after_seq`` could
        be stored: until it is set, there is nothing to read from the database.
        """
        seq = after_seq
        quiet = self._heartbeat
        try:
            while True:
                hub = self._hubs.get(run_id)
                behind = False
                if hub is not None:
                    try:
                        async for event in hub.follow(seq, quiet_seconds=quiet):
                            if event is None:
                                if heartbeats:
                                    yield _heartbeat(run_id, seq)
                                continue
                            yield event
                            if not is_live_only(event):
                                seq = event.seq
                            if is_finished(event):
                                return
                    except FellBehind:
                        behind = True
                if news is None:
                    news = self.watchers.register(run_id)  # from now on, nothing stored goes unnoticed
                elif not behind:
                    if not news.is_set() and self._hubs.get(run_id) is None:
                        try:
                            await asyncio.wait_for(news.wait(), quiet)
                        except TimeoutError:
                            if heartbeats:
                                yield _heartbeat(run_id, seq)
                            continue
                    if self._hubs.get(run_id) is not None:
                        news.clear()
                        continue  # it executes here now: its hub has what is new
                news.clear()
                stored = await self._store.events_after(run_id, seq)
                for event_seq, data in stored:
                    event = gateway_pb2.RunEvent.FromString(data)
                    yield event
                    seq = event_seq
                    if is_finished(event):
                        return
        finally:
            if news is not None:
                self.watchers.unregister(run_id, news)

    # -- cancelling ------------------------------------------------------------------------------

    async def cancel(self, tenant: str, run_id: str) -> gateway_pb2.Run:
        for _ in range(3):
            row = await self._store.get(tenant, run_id)
            if row is None:
                raise NotFound("run", run_id)
            if row.status in (RunStatus.QUEUED, RunStatus.AWAITING_APPROVAL):
                run = run_of(row)
                run.status = gateway_pb2.RUN_STATUS_CANCELLED
                run.stop_reason = common_pb2.STOP_REASON_CANCELLED
                run.stop_detail = "cancelled"
                run.finish_time.CopyFrom(now())
                run.last_seq = row.last_seq + 1
                finished = Numbering(run_id, row.last_seq).event(finished=gateway_pb2.RunFinished(run=run))
                if await self._store.cancel_waiting(
                    tenant,
                    run_id,
                    detail="cancelled",
                    seq=finished.seq,
                    event=finished.SerializeToString(),
                    finished_at=run.finish_time.ToDatetime(tzinfo=UTC),
                ):
                    await self._store.tell_run_events(run_id)
                    return run
                continue
            if row.status == RunStatus.RUNNING:
                if await self._store.request_cancel(tenant, run_id):
                    await self._cancel_running(run_id)
                    await self._until_finished(run_id, row.last_seq)
                    return await self.get(tenant, run_id)
                continue
            return run_of(row)
        return await self.get(tenant, run_id)

    async def _cancel_running(self, run_id: str) -> None:
        lane = self._lanes.executing(run_id)
        if lane is not None:
            lane.stop(StopReason.CANCELLED)
        else:
            await self._store.tell_cancel(run_id)

    async def _until_finished(self, run_id: str, after_seq: int) -> None:
        async def finished() -> None:
            async for event in self.watch(run_id, after_seq, heartbeats=False):
                if is_finished(event):
                    return

        try:
            await asyncio.wait_for(finished(), CANCEL_WAIT_SECONDS)
        except TimeoutError:
            pass


def _heartbeat(run_id: str, seq: int) -> gateway_pb2.RunEvent:
    return gateway_pb2.RunEvent(run_id=run_id, seq=seq, time=now(), heartbeat=gateway_pb2.Heartbeat())


def _with_roles(messages) -> list[common_pb2.InputMessage]:
    result = []
    for message in messages:
        copy = common_pb2.InputMessage()
        copy.CopyFrom(message)
        if copy.role == common_pb2.MESSAGE_ROLE_UNSPECIFIED:
            copy.role = common_pb2.MESSAGE_ROLE_USER
        result.append(copy)
    return result


def _new_run_id() -> str:
    return str(uuid.uuid4())
