"""Exactly-once under faults (issue 14, "Tests that stay in the test run", second bullet).

Two gateways, concurrent senders with idempotency keys, agents that per message edit core memory,
insert a passage and call a custom tool, with a slow model; one fault after another under that load:
kill -9 of a gateway, the agent, memory and tools services (each started again), PostgreSQL stopped
at once and started again, a gateway frozen past its lease across an 8-second model call. The
campaign runs once for this module (about two minutes, on a suite of its own: see fault_suite.py);
each test below judges one promise on what it left behind, scenario by scenario.

``AGENTSUITE_FAULTS=long`` plays the longer plan (more agents and senders, two rounds);
``bench/faults.py`` plays any plan and prints the figures as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.e2e.fault_campaign import CampaignResult, FaultPlan, run_campaign
from tests.e2e.fault_checks import Verdict, judge, report
from tests.e2e.fault_state import read_state
from tests.e2e.fault_suite import running_fault_suite


@dataclass(frozen=True)
class Outcome:
    result: CampaignResult
    verdict: Verdict
    report_path: Path


@pytest.fixture(scope="module")
async def campaign(fake_llm, tmp_path_factory) -> Outcome:
    plan = FaultPlan.long() if os.environ.get("AGENTSUITE_FAULTS") == "long" else FaultPlan()
    log_dir = tmp_path_factory.mktemp("faults")
    started = time.monotonic()
    async with running_fault_suite(
        llm_base_url=fake_llm.base_url, log_dir=log_dir, gateway_env=plan.gateway_env()
    ) as suite:
        result = await run_campaign(suite, plan, fake_llm.base_url)
        async with grpc.aio.insecure_channel(suite.gateways[0].address) as channel:
            states = await read_state(channel, suite.auth, suite.database.url, result.all_agents)
    verdict = await judge(result, states)
    document = report(result, verdict, seconds=time.monotonic() - started)
    path = log_dir / "faults.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"\nfault campaign ({path}):\n{json.dumps(document['figures'], indent=1)}", file=sys.stderr)
    return Outcome(result, verdict, path)


def assert_none(outcome: Outcome, *kinds: str) -> None:
    found = outcome.verdict.of(*kinds)
    per_scenario = Counter(f"{finding.kind} in {finding.scenario}" for finding in found)
    samples = "\n".join(f"  [{f.scenario}] {f.detail}" for f in found[:8])
    assert not found, f"{dict(per_scenario)}\n{samples}\n(figures: {outcome.report_path})"


def test_every_fault_struck_under_load(campaign):
    """The harness did what it claims: each fault found messages in flight, the frozen gateway's run
    was taken over by the other one, the database came back on its port."""
    for record in campaign.result.scenarios:
        assert record.notes["warm_up_s"] is not None, f"{record.name}: the load never warmed up"
        assert record.in_flight_at_fault > 0, f"{record.name}: nothing was in flight"
        if record.name.startswith("freeze gateway"):
            assert "slow_message" in record.notes, "the slow model call never started on that gateway"
            assert record.notes["taken_over_s"] is not None, "no other gateway took the frozen one's run"
        if record.name.startswith("stop postgres"):
            assert record.notes["same_port"], "PostgreSQL came back on another port"


def test_no_acknowledged_message_is_lost_duplicated_or_out_of_order(campaign):
    assert_none(campaign, "lost", "duplicated", "out of order")


def test_every_message_is_acknowledged_within_its_budget(campaign):
    unanswered = [s.text for s in campaign.result.sent if s.acked is None and not s.failure]
    assert not unanswered and not campaign.result.never_finished, (
        unanswered[:10],
        campaign.result.never_finished,
    )


def test_no_core_memory_edit_is_applied_twice_and_each_reported_one_is_applied(campaign):
    assert_none(campaign, "repeated block", "missing block")


def test_no_archival_passage_is_inserted_twice_and_each_reported_one_is_inserted(campaign):
    assert_none(campaign, "repeated passage", "missing passage")


def test_no_custom_tool_execution_is_applied_twice(campaign):
    assert_none(campaign, "repeated tool", "missing tool")


def test_no_write_under_a_stale_epoch_after_a_takeover_began(campaign):
    assert_none(campaign, "stale epoch")


def test_every_stored_message_of_a_run_is_told_exactly_once(campaign):
    assert_none(campaign, "told wrong")


def test_clients_see_only_retryable_codes(campaign):
    assert_none(campaign, "non_retryable")


def test_every_service_is_serving_within_5_s_of_its_restart(campaign):
    assert_none(campaign, "slow recovery")
