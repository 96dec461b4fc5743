"""Per-agent lanes: at most one run executes per agent in the whole cluster, in acceptance order.

Inside one gateway process there is one lane per *active* agent: a task created when the agent
gets work and gone once it has none, so memory grows with active agents, not with every agent ever
seen. Across replicas the lane holds the agent's lease (``gateway.agent_leases``): a row naming the
holder and a fencing epoch that increases at every acquisition, renewed while the lane lives.
Every write a run makes downstream carries that epoch, and memory refuses a stale one, so a gateway
that was paused past its lease can never write into an agent after another took over.

The queue itself is the ``runs`` table: a lane claims its agent's next run from the database, so
runs accepted by any replica execute in one order. A replica that accepts a run for an agent whose
lease another holds tells the holder through a notification; a periodic sweep finds agents whose
gateway died (their lease expired with runs left) and takes them over.

The common case takes a shortcut: a message to an agent whose lane here is idle (or that has no lane
anywhere) is *reserved* the lane while it is accepted, and the acceptance records the run as already
started under the lane's lease (taking the lease when it is free) when nothing is ahead of it. The
lane is then handed the run instead of claiming it: one round trip to the database instead of three.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from services.common import metrics
from services.gateway.core.model import Acceptance, RunRow, StartOffer
from services.gateway.core.ports import LeaseRepository, RunRepository

log = logging.getLogger(__name__)


class StopReason:
    """Why a lane cancels the run it executes."""

    CANCELLED = "cancelled"  # a client cancelled it, or a newer run interrupts it
    LEASE_LOST = "lease_lost"  # another gateway took the agent over
    RETRY = "retry"  # its events could not be stored; the lane claims it again and it continues
    SHUTDOWN = "shutdown"  # this gateway is stopping; another one continues the run


@dataclass(eq=False)
class Lane:
    tenant: str
    agent_id: str
    epoch: int | None = None
    valid_until: float = 0.0
    """``time.monotonic()`` until which the lease is surely ours (renewal time + TTL)."""
    kicked: asyncio.Event = field(default_factory=asyncio.Event)
    run_id: str | None = None
    execution: asyncio.Task | None = None
    stop_reason: str | None = None
    driver: asyncio.Task | None = None
    parked: bool = False
    """The driver waits for work: nothing executes or is being claimed."""
    reserved: bool = False
    """An acceptance may be starting a run on this lane; the driver waits until it is ``settled``."""
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    handoff: RunRow | None = None
    """A run an acceptance started on this lane: the next one it executes."""
    reserved_at: float = 0.0

    def __post_init__(self) -> None:
        self.settled.set()

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.agent_id)

    def stop(self, reason: str) -> None:
        """Cancel the run executing now, saying why."""
        if self.execution is not None and not self.execution.done():
            self.stop_reason = self.stop_reason or reason
            self.execution.cancel()


class RunExecution(Protocol):
    async def execute(self, lane: Lane, run: RunRow) -> None:
        """Execute ``run`` under ``lane``'s lease (``services.gateway.core.executor.RunExecutor``)."""
        ...


class Lanes:
    """The lanes of this gateway process: each claims its agent's runs in order and hands each to
    ``executor`` (see ``_drive``); requests reach them through ``reserve``/``settle`` and ``kick``."""

    def __init__(
        self,
        runs: RunRepository,
        leases: LeaseRepository,
        executor: RunExecution,
        *,
        ttl_seconds: float,
        linger_seconds: float,
        sweep_seconds: float,
    ):
        self._runs = runs
        self._leases = leases
        self._ttl = ttl_seconds
        self._linger = linger_seconds
        self._sweep_interval = sweep_seconds
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._executor = executor
        self._background: list[asyncio.Task] = []
        self._closing = False

    @property
    def holder(self) -> str:
        return self._leases.holder

    def start(self) -> None:
        """Start renewing the leases held here and sweeping for agents whose gateway died."""
        self._background = [
            asyncio.create_task(self._renew_forever(), name="lease-renewal"),
            asyncio.create_task(self._sweep_forever(), name="lane-sweep"),
        ]

    def kick(self, tenant: str, agent_id: str) -> None:
        """The agent has a new queued run: wake its lane here, or start one (which takes the lease,
        or tells the replica holding it)."""
        if self._closing:
            return
        lane = self._lanes.get((tenant, agent_id))
        if lane is not None:
            lane.kicked.set()  # a lane reserved before it had a driver gets one once settled
            return
        lane = self._lanes[(tenant, agent_id)] = Lane(tenant, agent_id)
        lane.driver = asyncio.create_task(self._drive(lane), name=f"lane-{agent_id}")

    def reserve(self, tenant: str, agent_id: str) -> tuple[Lane, StartOffer] | None:
        """The agent's lane and the offer an acceptance may make to start its run at once: when the
        lane here is idle with time left on its lease, or when there is no lane here yet (then the
        acceptance takes the lease if it is free). None while the lane is busy: the run queues.
        Every reservation must be ``settle``d."""
        if self._closing:
            return None
        lane = self._lanes.get((tenant, agent_id))
        if lane is None:
            lane = self._lanes[(tenant, agent_id)] = Lane(tenant, agent_id)
        elif not (
            lane.parked
            and not lane.reserved
            and lane.epoch is not None
            and lane.valid_until - time.monotonic() > self._ttl / 3
        ):
            return None
        lane.reserved = True
        lane.settled.clear()
        lane.reserved_at = time.monotonic()
        return lane, self._leases.offer(lane.epoch)

    def settle(self, lane: Lane, acceptance: Acceptance | None) -> None:
        """The acceptance made on a reserved lane is over (``None`` when it failed): a run it
        started is handed to the lane; a lease it took is the lane's; a lane left without work or
        lease is dropped."""
        lane.reserved = False
        lane.settled.set()
        if acceptance is not None and acceptance.lease_epoch is not None and lane.epoch is None:
            metrics.record_lease_acquired(takeover=False)
            lane.epoch = acceptance.lease_epoch
            lane.valid_until = lane.reserved_at + self._ttl
        if acceptance is not None and acceptance.started is not None:
            lane.handoff = acceptance.started
        if lane.driver is not None:
            lane.kicked.set()
        elif lane.epoch is not None or lane.kicked.is_set():
            lane.driver = asyncio.create_task(self._drive(lane), name=f"lane-{lane.agent_id}")
        elif self._lanes.get(lane.key) is lane:
            del self._lanes[lane.key]  # the lease is another replica's, and it was told

    def on_work_notification(self, payload: str) -> None:
        """Another replica queued a run for an agent; wake its lane if it lives here."""
        tenant, _, agent_id = payload.partition("/")
        lane = self._lanes.get((tenant, agent_id))
        if lane is not None:
            lane.kicked.set()

    def executing(self, run_id: str) -> Lane | None:
        for lane in self._lanes.values():
            if lane.run_id == run_id:
                return lane
        return None

    def __len__(self) -> int:
        return len(self._lanes)

    async def close(self, grace_seconds: float) -> None:
        """Stop claiming runs, let the running ones finish for ``grace_seconds``, then cancel them
        (another replica continues them) and release every lease."""
        self._closing = True
        for task in self._background:
            task.cancel()
        for lane in self._lanes.values():
            lane.kicked.set()
        executions = [lane.execution for lane in self._lanes.values() if lane.execution is not None]
        if executions:
            await asyncio.wait(executions, timeout=grace_seconds)
        for lane in list(self._lanes.values()):
            lane.stop(StopReason.SHUTDOWN)
        drivers = [lane.driver for lane in self._lanes.values() if lane.driver is not None]
        if drivers:
            await asyncio.wait(drivers, timeout=5)

    async def _drive(self, lane: Lane) -> None:
        try:
            if lane.epoch is None and not await self._acquire(lane):
                # Another replica holds the lease: it runs the agent's queue, ours included.
                await self._runs.tell_agent_work(lane.tenant, lane.agent_id)
                return
            while not self._closing and lane.epoch is not None:
                lane.kicked.clear()
                run, waiting = lane.handoff, 0
                lane.handoff = None
                if run is None:
                    claimed = await self._runs.claim(lane.tenant, lane.agent_id, self.holder, lane.epoch)
                    if claimed is not None:
                        run, waiting = claimed
                if run is not None:
                    await self._run(lane, run)
                    if lane.epoch is None:  # the lease was lost while the run executed
                        return
                    if waiting or lane.kicked.is_set():
                        continue
                elif self._lease_expired(lane):
                    return
                if await self._park(lane):
                    continue
                has_work = await self._leases.release(lane.tenant, lane.agent_id, lane.epoch)
                lane.epoch = None
                if not (has_work or lane.kicked.is_set()) or not await self._acquire(lane):
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "an agent lane failed; the sweep retries its runs", extra={"agent_id": lane.agent_id}
            )
        finally:
            if self._lanes.get(lane.key) is lane:
                del self._lanes[lane.key]
            if lane.epoch is not None and self._closing:
                try:
                    await self._leases.release(lane.tenant, lane.agent_id, lane.epoch)
                except Exception:
                    log.warning("could not release a lease at shutdown", extra={"agent_id": lane.agent_id})

    async def _park(self, lane: Lane) -> bool:
        """Wait for work up to the linger time; True when some came (a kick or a handed-off run)."""
        lane.parked = True
        try:
            await asyncio.wait_for(lane.kicked.wait(), self._linger)
        except TimeoutError:
            pass
        finally:
            lane.parked = False
        await lane.settled.wait()  # an acceptance in flight may hand this lane its run
        return lane.kicked.is_set()

    async def _acquire(self, lane: Lane) -> bool:
        sent = time.monotonic()
        epoch = await self._leases.acquire(lane.tenant, lane.agent_id)
        if epoch is None:
            return False
        lane.epoch = epoch
        lane.valid_until = sent + self._ttl
        return True

    def _lease_expired(self, lane: Lane) -> bool:
        if time.monotonic() < lane.valid_until:
            return False
        lane.epoch = None
        return True

    async def _run(self, lane: Lane, run: RunRow) -> None:
        lane.run_id = run.id
        lane.stop_reason = None
        # The hand-off: the run executes in a task of its own, so the lane can stop it (cancel,
        # interrupt, lost lease) while this driver waits for it.
        lane.execution = asyncio.create_task(self._executor.execute(lane, run), name=f"run-{run.id}")
        try:
            await asyncio.shield(lane.execution)
        except asyncio.CancelledError:
            if not lane.execution.done():
                raise
        except Exception:
            log.exception("a run failed outside the agent loop", extra={"run_id": run.id})
        finally:
            if lane.stop_reason == StopReason.LEASE_LOST:
                lane.epoch = None
            lane.run_id = None
            lane.execution = None

    async def _renew_forever(self) -> None:
        interval = self._ttl / 3
        while True:
            await asyncio.sleep(interval)
            held = [lane for lane in self._lanes.values() if lane.epoch is not None]
            if not held:
                continue
            sent = time.monotonic()
            try:
                renewed = await self._leases.renew(
                    [(h.tenant, h.agent_id, h.epoch) for h in held if h.epoch is not None]
                )
            except Exception as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})
                renewed = None
            for lane in held:
                if renewed is not None and lane.key in renewed:
                    lane.valid_until = sent + self._ttl
                elif renewed is not None or time.monotonic() >= lane.valid_until:
                    log.warning("lost the lease of an agent", extra={"agent_id": lane.agent_id})
                    metrics.record_lease_lost()
                    lane.epoch = None
                    lane.stop(StopReason.LEASE_LOST)
                    lane.kicked.set()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                orphaned = await self._leases.orphaned(grace_seconds=self._sweep_interval)
            except Exception as exc:
                log.warning("the lane sweep failed", extra={"error": str(exc)})
                continue
            for tenant, agent_id in orphaned:
                self.kick(tenant, agent_id)
