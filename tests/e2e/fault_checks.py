"""Judging the fault suite's state after a campaign against issue 14's promises.

``judge`` returns findings (one per broken promise, with the scenario it happened in) and figures
per scenario: acknowledged, lost, duplicated, repeated effects, recovery seconds. ``report`` turns
them into one JSON document.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from itertools import pairwise

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2
from tests.e2e.fault_campaign import SERVING_WITHIN_S, CampaignResult
from tests.e2e.fault_load import PROBE, Sent
from tests.e2e.fault_state import AgentState, RunObservation

TOOL = common_pb2.MESSAGE_ROLE_TOOL
USER = common_pb2.MESSAGE_ROLE_USER
COMPLETED = gateway_pb2.RUN_STATUS_COMPLETED
RETURN_OK = common_pb2.TOOL_RETURN_STATUS_OK
EFFECTS = {"block": "core_memory_append", "passage": "archival_memory_insert", "tool": PROBE}
"""Each effect a message causes, by the tool that causes it."""


@dataclass(frozen=True)
class Finding:
    kind: str
    scenario: str
    detail: str


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)
    slow_runs: list[dict] = field(default_factory=list)
    """What happened to the runs of the slow agent (the frozen gateway's), event by event."""

    def of(self, *kinds: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind in kinds]


# -- what the checks count ------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolExecutions:
    """What happened to a run's calls of one custom tool for one marker."""

    finished: int
    """Executions that ran to their end (at most one per call: the record answers the others)."""
    cut_off: int
    """Executions cut off before their result was stored (sandbox killed with the caller) and
    then executed again: the one repeat docs/runs.md allows ("What can still repeat"), for a tool
    whose effect outlives it."""


def count_tool_executions(run: RunObservation, *, tool: str, marker: str) -> ToolExecutions:
    """How many times the custom ``tool`` executed for ``marker`` in ``run``.

    The tools service records every keyed call (``tools.executions``, keyed by run, step and call
    id): how many tries won the claim to execute it and whether one finished. Each call of ``tool``
    carrying ``marker`` that the run stored or told counts from that record; a call without a record
    (none is expected) counts as finished once if a client saw it succeed or not fail. Two calls of
    one step (the model asked again) count twice.
    """
    calls = {
        (m.step, c.id)
        for m in run.stored
        for c in m.tool_calls
        if c.name == tool and marker in c.arguments_json
    }
    calls |= {
        (e.step, e.tool_call.id)
        for e in run.events
        if e.HasField("tool_call") and e.tool_call.name == tool and marker in e.tool_call.arguments_json
    }
    returns = [e.tool_return for e in run.events if e.HasField("tool_return") and e.tool_return.name == tool]
    stored = [m for m in run.stored if m.role == TOOL and m.name == tool]
    failed = {r.tool_call_id for r in returns if r.status != RETURN_OK}
    failed |= {m.tool_call_id for m in stored if _status(m) != "ok"}
    finished = cut_off = 0
    for step, call_id in calls:
        record = run.executions.get(f"{run.run.id}:{step}:{call_id}")
        if record is None:
            finished += int(call_id not in failed)
            continue
        attempts, done = record
        finished += int(done)
        cut_off += attempts - int(done)
    return ToolExecutions(finished, cut_off)


def _status(message: common_pb2.Message) -> str:
    status = message.metadata.fields.get("status")
    return status.string_value if status is not None else ""


def told_messages(events: list[gateway_pb2.RunEvent]) -> list[common_pb2.Message]:
    """The history messages a run's events carry, in order."""
    kinds = ("message_persisted", "assistant_message")
    return [getattr(e, e.WhichOneof("event")) for e in events if e.WhichOneof("event") in kinds]


def stale_writes(state: AgentState) -> list[tuple[common_pb2.Message, int, int]]:
    """Messages written under an epoch after a run of a newer epoch had started: (message, its
    epoch, the newer epoch)."""
    takeovers = [
        (event.started.epoch, event.time.ToDatetime(tzinfo=UTC))
        for run in state.runs.values()
        for event in run.events
        if event.HasField("started")
    ]
    stale = []
    for message in state.history:
        if message.id not in state.epochs:
            continue
        epoch, written = state.epochs[message.id]
        newer = [e for e, began in takeovers if e > epoch and began < written]
        if newer:
            stale.append((message, epoch, min(newer)))
    return stale


# -- judging ---------------------------------------------------------------------------------------


async def judge(result: CampaignResult, states: dict[str, AgentState]) -> Verdict:
    verdict = Verdict()
    figures: dict[str, dict] = defaultdict(_empty_figures)
    scenario_of_run: dict[str, str] = {}
    for sent in result.sent:
        state = states[sent.agent.id]
        figure = figures[sent.scenario]
        run_id = await _judge_message(sent, state, verdict, figure)
        if run_id:
            scenario_of_run[run_id] = sent.scenario
    _judge_order(result.sent, states, verdict, figures)
    for state in states.values():
        _judge_telling(state, scenario_of_run, verdict, figures)
        _judge_epochs(state, scenario_of_run, verdict, figures)
    _judge_recovery(result, verdict, figures)
    if result.slow_agent is not None:
        verdict.slow_runs = [timeline(run) for run in states[result.slow_agent.id].runs.values()]
    for scenario, codes in result.codes.items():
        figures[scenario]["client_codes"] = dict(codes)
    order = ["warm-up", *(record.name for record in result.scenarios)]
    verdict.figures = {name: figures[name] for name in order if name in figures}
    return verdict


def _empty_figures() -> dict:
    return {
        "acknowledged": 0,
        "unacknowledged": 0,
        "non_retryable": 0,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "runs_not_completed": 0,
        "repeated_effects": {"block": 0, "passage": 0, "tool": 0},
        "missing_effects": {"block": 0, "passage": 0, "tool": 0},
        "tool_errors": 0,
        "tool_cut_off": 0,
        "told_wrong": 0,
        "runs_started_again": 0,
        "stale_epoch_writes": 0,
        "client_codes": {},
    }


def _find(verdict: Verdict, figure: dict, kind: str, scenario: str, detail: str, counter: str) -> None:
    verdict.findings.append(Finding(kind, scenario, detail))
    figure[counter] += 1


async def _judge_message(sent: Sent, state: AgentState, verdict: Verdict, figure: dict) -> str:
    """Delivery and effects of one message; returns its run id ('' when it was never stored)."""
    said = [m for m in state.history if m.role == USER and m.content == sent.text]
    _judge_delivery(sent, said, verdict, figure)
    run_id = sent.reply.run.id if sent.reply is not None else (said[0].run_id if said else "")
    run = state.runs.get(run_id)
    if run is None:
        return run_id
    if sent.reply is not None:
        _judge_reply(sent, run, verdict, figure)
    if sent.acked and run.run.status != COMPLETED:
        figure["runs_not_completed"] += 1
    _judge_effects(sent, state, run, verdict, figure)
    return run_id


def _judge_delivery(sent: Sent, said: list[common_pb2.Message], verdict: Verdict, figure: dict) -> None:
    """Acknowledged or not, and then stored once (lost: not at all; duplicated: more than once)."""
    scenario, text = sent.scenario, sent.text
    if sent.acked:
        figure["acknowledged"] += 1
    elif sent.failure:
        _find(verdict, figure, "non_retryable", scenario, f"{text}: {sent.failure}", "non_retryable")
    else:
        figure["unacknowledged"] += 1
    if sent.acked and not said:
        _find(verdict, figure, "lost", scenario, f"{text} was acknowledged and is not in the history", "lost")
    if len(said) > 1:
        detail = f"{text} is in the history {len(said)} times, runs {[m.run_id for m in said]}"
        _find(verdict, figure, "duplicated", scenario, detail, "duplicated")


def _judge_effects(
    sent: Sent, state: AgentState, run: RunObservation, verdict: Verdict, figure: dict
) -> None:
    """Each effect applied at most once; and once when the run completed and its stored result
    says it was."""
    text, completed = sent.text, run.run.status == COMPLETED
    executions = count_tool_executions(run, tool=PROBE, marker=text)
    counts = {
        "block": state.block.count(text),
        "passage": state.passages[text],
        "tool": executions.finished,
    }
    figure["tool_cut_off"] += executions.cut_off
    for effect, count in counts.items():
        results = [m for m in run.stored if m.role == TOOL and m.name == EFFECTS[effect]]
        reported_ok = any(_status(m) == "ok" for m in results)
        figure["tool_errors"] += sum(1 for m in results if _status(m) != "ok")
        if count > 1:
            detail = f"{text}: {EFFECTS[effect]} applied {count} times (run {run.run.id})"
            verdict.findings.append(Finding(f"repeated {effect}", sent.scenario, detail))
            figure["repeated_effects"][effect] += 1
        elif completed and reported_ok and count == 0:
            detail = f"{text}: run {run.run.id} completed, {EFFECTS[effect]} reported ok, not applied"
            verdict.findings.append(Finding(f"missing {effect}", sent.scenario, detail))
            figure["missing_effects"][effect] += 1


def _judge_reply(sent: Sent, run: RunObservation, verdict: Verdict, figure: dict) -> None:
    wrong = mistold(run.stored, sent.reply.messages)
    if wrong:
        detail = f"{sent.text}: SendMessage {wrong} (run {run.run.id})"
        _find(verdict, figure, "told wrong", sent.scenario, detail, "told_wrong")


def mistold(stored: list[common_pb2.Message], told: list[common_pb2.Message]) -> str:
    """What is wrong with telling ``told`` for a run that stored ``stored`` ('' when each stored
    message is told exactly once and nothing else is)."""
    counts = Counter(message.id for message in told)
    missing = [_describe(m) for m in stored if counts[m.id] == 0]
    twice = [_describe(m) for m in stored if counts[m.id] > 1]
    unstored = set(counts) - {m.id for m in stored}
    if not (missing or twice or unstored):
        return ""
    problems = [f"told {len(set(counts) - unstored)} of the {len(stored)} stored messages"]
    if missing:
        problems.append(f"never told: {', '.join(missing)}")
    if twice:
        problems.append(f"told more than once: {', '.join(twice)}")
    if unstored:
        problems.append(f"told {len(unstored)} that are not stored")
    return "; ".join(problems)


def _describe(message: common_pb2.Message) -> str:
    role = common_pb2.MessageRole.Name(message.role).removeprefix("MESSAGE_ROLE_").lower()
    if message.name:
        return f"{role} {message.name}"
    return f"{role} with calls" if message.tool_calls else role


def _judge_order(sent: list[Sent], states: dict[str, AgentState], verdict: Verdict, figures) -> None:
    """Each sender's acknowledged messages are in the history in the order it sent them."""
    by_sender: dict[tuple[str, int], list[Sent]] = defaultdict(list)
    for message in sent:
        if message.acked:
            by_sender[(message.agent.id, message.sender)].append(message)
    for (agent_id, _), messages in by_sender.items():
        position = {m.content: m.seq for m in states[agent_id].history if m.role == USER}
        stored = [m for m in sorted(messages, key=lambda m: m.number) if m.text in position]
        for earlier, later in pairwise(stored):
            if position[earlier.text] > position[later.text]:
                detail = f"{later.text} (sent after {earlier.text}) is stored before it"
                _find(
                    verdict, figures[later.scenario], "out of order", later.scenario, detail, "out_of_order"
                )


def _judge_telling(state: AgentState, scenario_of_run: dict[str, str], verdict: Verdict, figures) -> None:
    """Each stored message of a run is in its stored events (WatchRun from 0) exactly once."""
    for run_id, run in state.runs.items():
        if sum(1 for event in run.events if event.HasField("started")) > 1:
            figures[scenario_of_run.get(run_id, "unknown")]["runs_started_again"] += 1
        wrong = mistold(run.stored, told_messages(run.events))
        if wrong:
            scenario = scenario_of_run.get(run_id, "unknown")
            detail = f"run {run_id}: WatchRun from seq 0 {wrong}"
            _find(verdict, figures[scenario], "told wrong", scenario, detail, "told_wrong")


def _judge_epochs(state: AgentState, scenario_of_run: dict[str, str], verdict: Verdict, figures) -> None:
    for message, epoch, newer in stale_writes(state):
        scenario = scenario_of_run.get(message.run_id, "unknown")
        detail = f"message {message.seq} of run {message.run_id} written under epoch {epoch} after epoch {newer} began"
        _find(verdict, figures[scenario], "stale epoch", scenario, detail, "stale_epoch_writes")


def _judge_recovery(result: CampaignResult, verdict: Verdict, figures) -> None:
    for record in result.scenarios:
        figure = figures[record.name]
        figure.update(
            in_flight_at_fault=record.in_flight_at_fault,
            serving_s=_rounded(record.serving_s),
            all_serving_s=_rounded(record.all_serving_s),
            load_recovered_s=_rounded(record.load_recovered_s),
            notes={k: _rounded(v) if isinstance(v, float) else v for k, v in record.notes.items()},
        )
        for what, seconds in (("restarted", record.serving_s), ("all", record.all_serving_s)):
            if seconds is None or seconds > SERVING_WITHIN_S:
                detail = f"{what} SERVING after {seconds} s (limit {SERVING_WITHIN_S} s)"
                verdict.findings.append(Finding("slow recovery", record.name, detail))


def timeline(run: RunObservation) -> dict:
    """A run's stored events (seconds after its first, kind, epoch of a start, tool of a call) and
    its stored messages (seq, step, role, tool): how it was executed, and how often."""
    first = run.events[0].time.ToDatetime() if run.events else None

    def event(e: gateway_pb2.RunEvent) -> list:
        kind = e.WhichOneof("event")
        detail = {"started": lambda: e.started.epoch, "tool_call": lambda: e.tool_call.name}.get(kind)
        offset = round((e.time.ToDatetime() - first).total_seconds(), 2)
        return [offset, kind, *([detail()] if detail else [])]

    roles = {v: k.removeprefix("MESSAGE_ROLE_").lower() for k, v in common_pb2.MessageRole.items()}
    return {
        "run": run.run.id,
        "status": gateway_pb2.RunStatus.Name(run.run.status),
        "events": [event(e) for e in run.events],
        "stored": [[m.seq, m.step, roles.get(m.role, m.role), m.name] for m in run.stored],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def report(result: CampaignResult, verdict: Verdict, *, seconds: float, samples: int = 5) -> dict:
    """The campaign as one JSON document: the plan, figures per scenario, findings by kind."""
    by_kind: dict[str, list[Finding]] = defaultdict(list)
    for finding in verdict.findings:
        by_kind[finding.kind].append(finding)
    return {
        "plan": {k: v for k, v in vars(result.plan).items()},
        "seconds": round(seconds, 1),
        "messages": len(result.sent),
        "never_finished_runs": result.never_finished,
        "figures": verdict.figures,
        "slow_runs": verdict.slow_runs,
        "findings": {
            kind: {
                "count": len(found),
                "by_scenario": dict(Counter(f.scenario for f in found)),
                "samples": [f"[{f.scenario}] {f.detail}" for f in found[:samples]],
            }
            for kind, found in sorted(by_kind.items())
        },
    }
