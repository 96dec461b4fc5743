"""Executes one run: ``AgentRuntime.Step`` under the agent's lease, its events numbered, stored and
handed to the run's readers, and its end recorded.

A step-level event reaches readers only once it is stored, so a reader that resumes from any seq
it ever saw gets exactly what followed, even after this gateway dies. Text deltas go straight
through (they are never stored), but never ahead of a step-level event before them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC

from agentsuite.agent.v1 import agent_service_pb2
from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from services.common import metrics
from services.common.call import CallScope, enter_call, parse_call_chain
from services.common.errors import AgentSuiteError, Unavailable
from services.common.status import details_of, to_status
from services.gateway.core.events import STATUS_BY_STOP, Numbering, is_live_only, now, result_of, run_of
from services.gateway.core.hub import RunHub, RunHubs
from services.gateway.core.lanes import Lane, StopReason
from services.gateway.core.model import FinishRow, RunRow
from services.gateway.core.ports import AgentRuntime, RunRepository
from services.gateway.core.run_observation import RunObservation
from services.gateway.core.writer import EventWriter, LeaseLost

log = logging.getLogger(__name__)

STEP_RETRY_SECONDS = 30.0
"""How long a run waits for an agent service that does not answer (crashed, restarting, being
rolled): its Step is tried again under the same run id, which continues the run from memory."""
STEP_RETRY_PAUSES = (0.2, 0.4, 0.8, 1.6, 2.0)
"""Seconds between tries; the last one repeats."""
EVENTS_PAGE = 500
"""Stored events read at a time when a run executes again."""
STREAMED_STORE_DELAY_SECONDS = 0.005
"""How long a step-level event of a streamed run may wait for others to be stored with it. A run's
end is stored at once: a quick run is stored in one statement, a slow one streams 5 ms late."""
RESULT_STORE_DELAY_SECONDS = 0.1
"""The same for a run whose submitter waits only for its result (``SendMessage``): most finish
within it and take one statement; a reader elsewhere sees their events up to 100 ms late. A gateway
that dies meanwhile loses only the record of those events: the run continues elsewhere from the
agent's memory."""


TOLD_ONCE = ("message_persisted", "assistant_message", "tool_call", "tool_return")
"""Events a run tells once however many times it executes: the messages of the agent's history
(by id) and its tool calls and results (by step and call id)."""


def told_key(event) -> str:
    """What makes an event of ``TOLD_ONCE`` the same as an earlier one (``event`` is a gateway
    ``RunEvent`` or an agent ``StepEvent``: both carry the step and the same payloads)."""
    kind = event.WhichOneof("event")
    if kind == "tool_call":
        return f"call:{event.step}:{event.tool_call.id}"
    if kind == "tool_return":
        return f"return:{event.step}:{event.tool_return.tool_call_id}"
    return getattr(event, kind).id


@dataclass
class EarlierTries:
    """What the stored events of a run say about its earlier executions."""

    told: set[str] = field(default_factory=set)
    """``told_key`` of every event of ``TOLD_ONCE`` readers were told."""
    interrupted: int = 0
    """Executions since the run last stopped that ended without a stop (the gateway died or lost
    the lease): the next one is a retry."""


class RunExecutor:
    def __init__(
        self,
        runtime: AgentRuntime,
        store: RunRepository,
        writer: EventWriter,
        hubs: RunHubs,
        *,
        run_timeout_seconds: float,
    ):
        self._runtime = runtime
        self._store = store
        self._writer = writer
        self._hubs = hubs
        self._run_timeout = run_timeout_seconds
        self._cancelled: dict[str, float] = {}

    def remember_cancel(self, run_id: str) -> None:
        """A cancel for a run that may be claimed here at this very moment (the request raced the
        claim); the execution checks this as it starts."""
        horizon = time.monotonic() - 60
        for stale in [key for key, at in self._cancelled.items() if at < horizon]:
            del self._cancelled[stale]
        self._cancelled[run_id] = time.monotonic()

    async def execute(self, lane: Lane, row: RunRow) -> None:
        """Execute the run ``row`` under ``lane``'s lease, from its start (or where an earlier
        execution stopped) to its end, telling its readers every event once."""
        run = run_of(row)
        run.status = gateway_pb2.RUN_STATUS_RUNNING
        run.ClearField("finish_time")
        run.ClearField("pending_approvals")
        run.stop_reason = common_pb2.STOP_REASON_UNSPECIFIED
        run.stop_detail = ""
        numbering = Numbering(row.id, row.last_seq)
        epoch = lane.epoch
        if epoch is None:  # the lease was lost before the run could start
            lane.stop_reason = StopReason.LEASE_LOST
            return
        hub = self._hubs.open(row.id, row.last_seq)
        delay = STREAMED_STORE_DELAY_SECONDS if row.deltas else RESULT_STORE_DELAY_SECONDS
        relay = _Relay(hub, self._writer, row.id, lane, epoch, delay)
        observed = RunObservation(row)
        try:
            relay.add(numbering.event(started=gateway_pb2.RunStarted(epoch=epoch)))
            if row.cancel_requested or self._cancelled.pop(row.id, None) is not None:
                _stop(run, gateway_pb2.RUN_STATUS_CANCELLED, "cancelled before it started")
            else:
                earlier = await self._earlier_tries(row)
                if earlier.interrupted:
                    reason = "the run's previous execution ended without finishing (its gateway failed)"
                    relay.add(
                        numbering.event(
                            retried=gateway_pb2.RunRetried(attempt=earlier.interrupted, reason=reason)
                        )
                    )
                await self._step(lane, row, run, numbering, relay, earlier)
            run.finish_time.CopyFrom(now())
            run.last_seq = numbering.seq + 1
            finished = numbering.event(finished=gateway_pb2.RunFinished(run=run))
            finish = FinishRow(
                run_id=row.id,
                epoch=epoch,
                status=run.status,
                stop_reason=run.stop_reason,
                stop_detail=run.stop_detail,
                result=result_of(run),
                finished_at=run.finish_time.ToDatetime().replace(tzinfo=UTC),
            )
            await relay.finish(finished, finish)
            observed.finished(run.status, run.stop_reason)
        except LeaseLost:
            metrics.record_lease_lost()
            lane.stop_reason = StopReason.LEASE_LOST
            log.warning("a run's lease passed to another gateway", extra={"run_id": row.id})
        finally:
            observed.close()
            relay.cancel()
            self._hubs.close(hub)

    async def _earlier_tries(self, row: RunRow) -> EarlierTries:
        """What the run's stored events say of its earlier executions: a run executing again
        (after a takeover, or continued after an approval) has the agent service report what it
        stored before once more, and readers must not get those messages, calls and results twice."""
        earlier = EarlierTries()
        after = 1  # the first event is the run's acceptance
        while after < row.last_seq:
            page = await self._store.events_after(row.id, after, EVENTS_PAGE)
            for seq, data in page:
                event = gateway_pb2.RunEvent.FromString(data)
                kind = event.WhichOneof("event")
                if kind in TOLD_ONCE:
                    earlier.told.add(told_key(event))
                elif kind == "started":
                    earlier.interrupted += 1
                elif kind == "finished":
                    earlier.interrupted = 0
                after = seq
            if len(page) < EVENTS_PAGE:
                break
        return earlier

    async def _step(
        self, lane: Lane, row: RunRow, run, numbering: Numbering, relay: _Relay, earlier: EarlierTries
    ) -> None:
        """Step the run on the agent service, again under the same run id while the service does not
        answer (readers are told to drop the deltas of the try that failed); a message, call or
        result already told (by an earlier try, or an earlier execution) is told once."""
        told = earlier.told
        request = agent_service_pb2.StepRequest.FromString(row.step_request)
        if request.approvals:
            # A continued run: its input was stored by its first execution (the row keeps it for
            # GetRun), and the agent service takes approvals alone.
            del request.input[:]
        request.agent_id = row.agent_id
        request.run_id = row.id
        request.epoch = lane.epoch
        request.omit_deltas = not row.deltas
        chain = parse_call_chain(row.call_chain)
        deadline = time.monotonic() + self._run_timeout
        enter_call(
            CallScope(
                tenant=row.tenant,
                deadline=deadline,
                call_chain=chain,
                trace_id=row.id.replace("-", ""),  # every service logs the run's work under its id
            )
        )
        retry_until = None
        for attempt in itertools.count():
            try:
                async for agent_event in self._runtime.step(request):
                    kind = agent_event.WhichOneof("event")
                    if kind == "stop":
                        reason = agent_event.stop.reason
                        _stop(
                            run,
                            STATUS_BY_STOP.get(reason, gateway_pb2.RUN_STATUS_FAILED),
                            agent_event.stop.detail,
                        )
                        run.stop_reason = reason
                        continue
                    if kind == "usage":
                        run.usage.CopyFrom(agent_event.usage)
                    elif kind == "approval_request":
                        run.pending_approvals.append(agent_event.approval_request.tool_call)
                    elif kind in TOLD_ONCE:
                        key = told_key(agent_event)
                        if key in told:
                            continue
                        told.add(key)
                    relay.add(numbering.event(agent_event.step, **{kind: getattr(agent_event, kind)}))
                if not run.stop_reason:
                    _stop(
                        run, gateway_pb2.RUN_STATUS_FAILED, "the agent service ended the run without a stop"
                    )
                return
            except asyncio.CancelledError:
                if lane.stop_reason != StopReason.CANCELLED:
                    raise  # not ours to end: another gateway (or this one, later) continues it
                _stop(run, gateway_pb2.RUN_STATUS_CANCELLED, "cancelled")
                return
            except Unavailable as exc:
                pause = STEP_RETRY_PAUSES[min(attempt, len(STEP_RETRY_PAUSES) - 1)]
                retry_until = retry_until or min(time.monotonic() + STEP_RETRY_SECONDS, deadline)
                if time.monotonic() + pause > retry_until:
                    self._fail(run, numbering, relay, exc)
                    return
                log.warning(
                    "the agent service did not answer a run's step; trying again",
                    extra={"run_id": row.id, "error": exc.message},
                )
                await asyncio.sleep(pause)
                retried = gateway_pb2.RunRetried(
                    attempt=earlier.interrupted + attempt + 1, reason=exc.message
                )
                relay.add(numbering.event(retried=retried))
            except AgentSuiteError as exc:
                self._fail(run, numbering, relay, exc)
                return

    @staticmethod
    def _fail(run, numbering: Numbering, relay: _Relay, exc: AgentSuiteError) -> None:
        status = to_status(exc)
        error = gateway_pb2.ErrorEvent(
            code=status.code.value[0], message=status.details, details=details_of(status)
        )
        relay.add(numbering.event(error=error))
        _stop(run, gateway_pb2.RUN_STATUS_FAILED, exc.message)
        run.stop_reason = common_pb2.STOP_REASON_ERROR


def _stop(run: gateway_pb2.Run, status: gateway_pb2.RunStatus, detail: str) -> None:
    run.status = status
    run.stop_detail = detail
    if status == gateway_pb2.RUN_STATUS_CANCELLED:
        run.stop_reason = common_pb2.STOP_REASON_CANCELLED


class _Relay:
    """Hands a run's events to its hub in order, each step-level one once it is stored."""

    def __init__(self, hub: RunHub, writer: EventWriter, run_id: str, lane: Lane, epoch: int, delay: float):
        self._hub = hub
        self._delay = delay
        self._writer = writer
        self._run_id = run_id
        self._lane = lane
        self._epoch = epoch
        self._waiting: list[gateway_pb2.RunEvent] = []  # not yet published, in order
        self._unstored: list[tuple[int, bytes]] = []
        self._storing: asyncio.Task | None = None
        self._delaying = False

    def add(self, event: gateway_pb2.RunEvent) -> None:
        if is_live_only(event):
            if self._waiting:
                self._waiting.append(event)
            else:
                self._hub.publish(event)
            return
        self._waiting.append(event)
        self._unstored.append((event.seq, event.SerializeToString()))
        if self._storing is None:
            self._storing = asyncio.create_task(self._store_all())

    async def finish(self, finished: gateway_pb2.RunEvent, row: FinishRow) -> None:
        """Store what is left with the run's end, then publish it all."""
        if self._storing is not None:
            if self._delaying:
                self._storing.cancel()  # still waiting for company: they go with the end
            else:
                await self._storing
        self._waiting.append(finished)
        self._unstored.append((finished.seq, finished.SerializeToString()))
        batch, self._unstored = self._unstored, []
        await self._writer.store(self._run_id, self._epoch, batch, finish=row)
        self._publish_through(finished.seq)

    def cancel(self) -> None:
        if self._storing is not None:
            self._storing.cancel()

    async def _store_all(self) -> None:
        try:
            self._delaying = True
            try:
                await asyncio.sleep(self._delay)
            finally:
                self._delaying = False
            while self._unstored:
                batch, self._unstored = self._unstored, []
                await self._writer.store(self._run_id, self._epoch, batch)
                self._publish_through(batch[-1][0])
        except LeaseLost:
            self._lane.stop(StopReason.LEASE_LOST)
            raise
        except Exception as exc:
            log.warning("could not store a run's events; it continues later", extra={"error": str(exc)})
            self._lane.stop(StopReason.RETRY)
            raise
        finally:
            self._storing = None

    def _publish_through(self, seq: int) -> None:
        published = 0
        for event in self._waiting:
            if event.seq > seq and not is_live_only(event):
                break
            self._hub.publish(event)
            published += 1
        del self._waiting[:published]
