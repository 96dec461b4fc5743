"""The fault campaign (issue 14): the suite under continuous load while one fault after another
strikes it — kill -9 of a gateway, the agent, memory and tools services, each started again;
PostgreSQL stopped at once and started again; a gateway frozen past its lease across an 8-second
model call. ``run_campaign`` returns what happened, scenario by scenario; ``fault_checks`` reads the
suite's state back and judges it.

Used by tests/e2e/test_faults_under_load.py (a plan that fits the test run) and by bench/faults.py
(any size, on demand).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc

from tests.e2e.fault_load import (
    CHANNEL_OPTIONS,
    Load,
    LoadAgent,
    Sent,
    create_load_agent,
    create_probe_tool,
    llm_requests,
    set_program,
)
from tests.e2e.fault_suite import FaultSuite, seconds_until_all_serving
from tests.e2e.run_checks import finished, runs_oldest_first

SCENARIOS = (
    "kill gateway",
    "kill agent",
    "kill memory",
    "kill tools",
    "stop postgres",
    "freeze gateway",
)
SERVING_WITHIN_S = 5.0
POLL_S = 0.05


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """How big and how long a campaign is."""

    agents: int = 8
    senders_per_agent: int = 2
    acks_before_fault: int = 2
    """Acknowledged messages every sender has in a scenario before its fault strikes."""
    rounds: int = 1
    """Times the list of scenarios is played."""
    scenarios: tuple[str, ...] = SCENARIOS
    llm_latency_ms: tuple[float, float] = (20.0, 200.0)
    slow_call_ms: float = 8000.0
    """The model call a gateway is frozen across."""
    lease_ttl_s: float = 2.0
    down_s: float = 1.0
    """How long a killed service or the stopped database stays down before it is started again."""
    attempt_timeout_s: float = 8.0
    message_budget_s: float = 60.0
    """A message not acknowledged within this many seconds of its first send is given up."""
    phase_budget_s: float = 60.0
    """Longest wait for a condition of a scenario (load warmed up, load recovered, a takeover)."""

    @classmethod
    def long(cls) -> FaultPlan:
        """The on-demand version: more agents, more senders, more load per scenario, two rounds."""
        return cls(
            agents=20,
            senders_per_agent=3,
            acks_before_fault=8,
            rounds=2,
            message_budget_s=120.0,
            phase_budget_s=180.0,
        )

    def gateway_env(self) -> dict[str, str]:
        return {"AGENTSUITE_LEASE_TTL_SECONDS": str(self.lease_ttl_s)}


@dataclass
class ScenarioRecord:
    """When a scenario's fault struck and how fast the suite came back (seconds, None: never)."""

    name: str
    in_flight_at_fault: int = 0
    """Messages sent and not yet answered when the fault struck."""
    serving_s: float | None = None
    """From the restart (process started again, database started again, SIGCONT) until the
    restarted process answers SERVING; for the database, until every process does."""
    all_serving_s: float | None = None
    """From the restart until every process of the suite answers SERVING."""
    load_recovered_s: float | None = None
    """From the restart until every sender has an acknowledgement of a message sent after it."""
    notes: dict = field(default_factory=dict)


@dataclass
class CampaignResult:
    plan: FaultPlan
    agents: list[LoadAgent]
    sent: list[Sent]
    codes: dict
    scenarios: list[ScenarioRecord]
    slow_agent: LoadAgent | None = None
    never_finished: list[str] = field(default_factory=list)
    """Runs still queued or running when the campaign gave up waiting for them to end."""

    @property
    def all_agents(self) -> list[LoadAgent]:
        return self.agents + ([self.slow_agent] if self.slow_agent else [])


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], *, within: float) -> float | None:
    """Seconds until ``condition()`` holds, polled; None when it does not within ``within``."""
    started = time.monotonic()
    while True:
        value = condition()
        if not isinstance(value, bool):
            value = await value
        if value:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            return None
        await asyncio.sleep(POLL_S)


class Campaign:
    """Plays the scenarios of ``plan`` on ``suite``, one after the other, under continuous load."""

    def __init__(
        self,
        suite: FaultSuite,
        plan: FaultPlan,
        llm_base_url: str,
        channels: list[grpc.aio.Channel],
        progress: Callable[[str], None] = lambda _: None,
    ):
        self.suite = suite
        self.progress = progress
        self.plan = plan
        self.llm_base_url = llm_base_url
        self.channels = channels
        self.load = Load(
            channels,
            suite.auth,
            attempt_timeout_s=plan.attempt_timeout_s,
            message_budget_s=plan.message_budget_s,
        )
        self.records: list[ScenarioRecord] = []
        self.slow_agent: LoadAgent | None = None

    async def prepare(self) -> list[LoadAgent]:
        """The custom tool, the agents under load, and the agent of the slow model."""
        channel, auth = self.channels[0], self.suite.auth
        tool_id = await create_probe_tool(channel, auth)
        model = f"faults-{uuid.uuid4().hex[:10]}"
        set_program(self.llm_base_url, model, latency_ms=self.plan.llm_latency_ms)
        agents = await asyncio.gather(
            *(create_load_agent(channel, auth, i, model, tool_id) for i in range(self.plan.agents))
        )
        if "freeze gateway" in self.plan.scenarios:
            slow_model = f"faults-slow-{uuid.uuid4().hex[:10]}"
            set_program(
                self.llm_base_url,
                slow_model,
                latency_ms=self.plan.llm_latency_ms,
                first_step_latency_ms=self.plan.slow_call_ms,
            )
            self.slow_agent = await create_load_agent(channel, auth, 999, slow_model, tool_id)
        return list(agents)

    async def run(self) -> CampaignResult:
        agents = await self.prepare()
        self.load.scenario = "warm-up"
        self.load.start(agents, self.plan.senders_per_agent)
        try:
            for round_ in range(self.plan.rounds):
                for name in self.plan.scenarios:
                    label = name if self.plan.rounds == 1 else f"{name} #{round_ + 1}"
                    self.records.append(await self._scenario(name, label))
        finally:
            await self.load.stop()
        return CampaignResult(
            self.plan, agents, self.load.sent, self.load.codes, self.records, self.slow_agent
        )

    async def _scenario(self, name: str, label: str) -> ScenarioRecord:
        record = ScenarioRecord(label)
        self.load.scenario = label
        warmed = await wait_until(
            self.load.acked_in_scenario(label, self.plan.acks_before_fault), within=self.plan.phase_budget_s
        )
        record.notes["warm_up_s"] = warmed
        record.in_flight_at_fault = self.load.in_flight()
        restarted = await FAULTS[name](self, record)
        # Wall-clock time of the restart, to find it in the services' logs.
        record.notes["restarted_at"] = datetime.fromtimestamp(
            time.time() - (time.monotonic() - restarted), UTC
        ).isoformat(timespec="milliseconds")
        record.all_serving_s = await seconds_until_all_serving(
            self.suite.processes, restarted, within=self.plan.phase_budget_s
        )
        recovered = await wait_until(self.load.acked_since(restarted), within=self.plan.phase_budget_s)
        record.load_recovered_s = None if recovered is None else time.monotonic() - restarted
        self.progress(
            f"{label}: {sum(1 for m in self.load.sent if m.scenario == label)} messages, restarted process "
            f"SERVING after {_seconds(record.serving_s)}, load back after {_seconds(record.load_recovered_s)}"
        )
        return record

    # -- the faults: each strikes, waits, restarts, and returns the monotonic time of its restart ---

    async def kill_and_restart(self, process, record: ScenarioRecord) -> float:
        process.kill()
        await asyncio.sleep(self.plan.down_s)  # the outage itself, not a wait for a condition
        restarted = time.monotonic()
        starting = asyncio.create_task(process.start())
        # Timed with a fresh channel per probe: the supervisor's own wait reuses one channel, whose
        # reconnect backoff (1 s, 1.6 s, 2.6 s, ...) after the first refused probe adds seconds.
        record.serving_s = await seconds_until_all_serving(
            (process,), restarted, within=self.plan.phase_budget_s
        )
        await starting
        return restarted

    async def kill_gateway(self, record: ScenarioRecord) -> float:
        return await self.kill_and_restart(self.suite.gateways[0], record)

    async def kill_agent(self, record: ScenarioRecord) -> float:
        return await self.kill_and_restart(self.suite.agent, record)

    async def kill_memory(self, record: ScenarioRecord) -> float:
        return await self.kill_and_restart(self.suite.memory, record)

    async def kill_tools(self, record: ScenarioRecord) -> float:
        return await self.kill_and_restart(self.suite.tools, record)

    async def stop_postgres(self, record: ScenarioRecord) -> float:
        database = self.suite.database
        port = await database.port()
        await asyncio.to_thread(database.stop_immediately)
        await asyncio.sleep(self.plan.down_s)  # the outage itself
        restarted = time.monotonic()
        await asyncio.to_thread(database.start_again)
        record.notes["same_port"] = await database.port() == port
        record.serving_s = await seconds_until_all_serving(
            self.suite.processes, restarted, within=self.plan.phase_budget_s
        )
        return restarted

    async def freeze_gateway(self, record: ScenarioRecord) -> float:
        """SIGSTOP the gateway running the slow agent's run while its model call lasts, until
        another gateway took the run over and finished it; then SIGCONT."""
        assert self.slow_agent is not None
        frozen, other = self.suite.gateways[1], self.channels[0]
        within = self.plan.phase_budget_s
        calls_before = self._slow_calls()
        started = time.monotonic()
        sending = await self._start_slow_call(record, calls_before)
        if sending is None:
            return time.monotonic()  # nothing to freeze across; test_every_fault_struck says so
        record.notes["slow_call_started_s"] = time.monotonic() - started
        frozen.pause()
        paused = time.monotonic()
        # Once the lease expired, another gateway executes the run again and asks the model again
        # (the frozen run's own next call comes only after its 8-second call: later).
        record.notes["taken_over_s"] = await wait_until(
            lambda: self._slow_calls() > calls_before + 1, within=within
        )
        record.notes["slow_run_finished_s"] = await wait_until(
            lambda: _agent_runs_finished(other, self.suite.auth, self.slow_agent.id), within=within
        )
        restarted = time.monotonic()
        record.notes["frozen_s"] = restarted - paused
        frozen.resume()
        record.serving_s = await seconds_until_all_serving((frozen,), restarted, within=within)
        await sending
        return restarted

    async def _start_slow_call(self, record: ScenarioRecord, calls_before: int) -> asyncio.Task | None:
        """Send the slow agent a message through the gateway to freeze, until its model call has
        started there; a message refused at once (recorded like any other) is followed by a new
        one, three at most. Returns the sending task, None if the call never started."""
        assert self.slow_agent is not None
        for _ in range(3):
            number = 1 + sum(1 for sent in self.load.sent if sent.agent == self.slow_agent)
            slow = Sent(self.slow_agent, 0, number, record.name)
            timeout = 3 * self.plan.slow_call_ms / 1000
            sending = asyncio.create_task(self.load.deliver(slow, first_gateway=1, attempt_timeout_s=timeout))
            await wait_until(
                lambda task=sending: task.done() or self._slow_calls() > calls_before,
                within=self.plan.phase_budget_s,
            )
            if self._slow_calls() > calls_before:
                record.notes["slow_message"] = slow.text
                return sending
            await sending
        return None

    def _slow_calls(self) -> int:
        assert self.slow_agent is not None
        return llm_requests(self.llm_base_url, self.slow_agent.model)


FAULTS: dict[str, Callable[[Campaign, ScenarioRecord], Awaitable[float]]] = {
    "kill gateway": Campaign.kill_gateway,
    "kill agent": Campaign.kill_agent,
    "kill memory": Campaign.kill_memory,
    "kill tools": Campaign.kill_tools,
    "stop postgres": Campaign.stop_postgres,
    "freeze gateway": Campaign.freeze_gateway,
}


async def _agent_runs_finished(channel, auth, agent_id: str) -> bool:
    try:
        runs = await runs_oldest_first(channel, auth, agent_id)
    except grpc.aio.AioRpcError:
        return False
    return bool(runs) and all(finished(run) for run in runs)


async def wait_for_quiet(channel, auth, agents: list[LoadAgent], *, within: float) -> list[str]:
    """Wait until every run of ``agents`` has ended; returns the ids of those that never did."""
    unfinished: list[str] = []

    async def quiet() -> bool:
        nonlocal unfinished
        try:
            runs = [run for agent in agents for run in await runs_oldest_first(channel, auth, agent.id)]
        except grpc.aio.AioRpcError:
            return False
        unfinished = [run.id for run in runs if not finished(run)]
        return not unfinished

    await wait_until(quiet, within=within)
    return unfinished


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


async def run_campaign(
    suite: FaultSuite, plan: FaultPlan, llm_base_url: str, progress: Callable[[str], None] = lambda _: None
) -> CampaignResult:
    """Play ``plan`` on ``suite``: load, the faults in turn, then wait until every run has ended;
    ``progress`` hears a line per scenario."""
    channels = [
        grpc.aio.insecure_channel(gateway.address, options=CHANNEL_OPTIONS) for gateway in suite.gateways
    ]
    try:
        result = await Campaign(suite, plan, llm_base_url, channels, progress).run()
        result.never_finished = await wait_for_quiet(
            channels[0], suite.auth, result.all_agents, within=plan.phase_budget_s
        )
        return result
    finally:
        for channel in channels:
            await channel.close()
