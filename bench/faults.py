"""The fault test of issue 14 at any size, on demand: continuous load over two gateways while one
fault after another strikes the suite, then every promise checked on what is left.

    python bench/faults.py [--agents 20] [--senders-per-agent 3] [--acks-before-fault 8] [--rounds 2]
                           [--scenarios "kill gateway,stop postgres,..."] [--slow-call-ms 8000]

The same campaign as tests/e2e/test_faults_under_load.py (tests/e2e/fault_campaign.py drives it,
fault_checks.py judges it), with a bigger plan by default: a suite of its own (private PostgreSQL,
memory, tools, agent and two gateways with a short lease), agents whose every message edits core
memory, inserts a passage and calls a custom tool through the fake LLM's ``effects`` program, and
the faults in turn — kill -9 of a gateway, the agent, memory and tools services (each started
again), PostgreSQL stopped at once and started again on its port, a gateway frozen past its lease
across a slow model call. Prints one JSON document on stdout: per scenario the messages
acknowledged, lost, duplicated, out of order, the repeated and missing effects, the runs told
wrongly, the writes under a stale epoch, the client status codes and the recovery seconds; then the
findings by kind with samples. Progress goes to stderr. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import fake_llm, log, machine, parse_args_with_env
from tests.e2e.fault_campaign import SCENARIOS, FaultPlan, run_campaign
from tests.e2e.fault_checks import judge, report
from tests.e2e.fault_state import read_state
from tests.e2e.fault_suite import running_fault_suite


async def run(args: argparse.Namespace) -> dict:
    low, high = (float(v) for v in args.llm_latency_ms.split(","))
    plan = replace(
        FaultPlan.long(),
        agents=args.agents,
        senders_per_agent=args.senders_per_agent,
        acks_before_fault=args.acks_before_fault,
        rounds=args.rounds,
        scenarios=tuple(s.strip() for s in args.scenarios.split(",")),
        llm_latency_ms=(low, high),
        slow_call_ms=args.slow_call_ms,
        lease_ttl_s=args.lease_ttl,
        down_s=args.down_seconds,
    )
    unknown = set(plan.scenarios) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose among {list(SCENARIOS)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agentsuite-bench-faults-") as tmp:
        log_dir = Path(args.log_dir) if args.log_dir else Path(tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        async with fake_llm(latency_ms=0, log_dir=log_dir) as (llm_url, _pid):
            log(f"faults: {plan}")
            async with running_fault_suite(
                llm_base_url=llm_url, log_dir=log_dir, gateway_env=plan.gateway_env(), env=args.env
            ) as suite:
                log(f"faults: suite up after {time.monotonic() - started:.1f} s; logs in {log_dir}")
                result = await run_campaign(
                    suite, plan, llm_url, progress=lambda line: log(f"faults: {line}")
                )
                log(f"faults: {len(result.sent)} messages; reading the state back")
                async with grpc.aio.insecure_channel(suite.gateways[0].address) as channel:
                    states = await read_state(channel, suite.auth, suite.database.url, result.all_agents)
        verdict = await judge(result, states)
        return {"machine": machine(), **report(result, verdict, seconds=time.monotonic() - started)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    long = FaultPlan.long()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=long.agents)
    parser.add_argument("--senders-per-agent", type=int, default=long.senders_per_agent)
    parser.add_argument(
        "--acks-before-fault",
        type=int,
        default=long.acks_before_fault,
        help="acknowledged messages per sender in each scenario before its fault",
    )
    parser.add_argument("--rounds", type=int, default=long.rounds, help="times the scenarios are played")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, in order")
    parser.add_argument("--llm-latency-ms", default="20,200", help="range of the model's delay: MIN,MAX")
    parser.add_argument("--slow-call-ms", type=float, default=long.slow_call_ms)
    parser.add_argument("--lease-ttl", type=float, default=long.lease_ttl_s, help="gateways' lease, seconds")
    parser.add_argument("--down-seconds", type=float, default=long.down_s, help="outage of each fault")
    parser.add_argument("--log-dir", default="", help="keep the services' logs here")
    return parse_args_with_env(parser, argv)


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(asyncio.run(run(parse_args(argv))), indent=2))


if __name__ == "__main__":
    main()
