"""Fuzz every public RPC through the gateway of a suite it starts, for as many cases as asked.

The same cases as the test run's fuzz test (``tests/e2e/edge_fuzz.py``: hypothesis strategies
made from the contract's descriptors: random well-formed messages aimed at ids that exist, and
bytes broken on purpose), but fresh ones each time unless ``--seed`` is given. Prints one JSON
document: the counts by status code, overall and per method, and every case answered INTERNAL or
UNKNOWN or with text from inside the services (exit status 1 when there is one), and which services
no longer answer SERVING.

    .venv/bin/python bench/fuzz.py                       # 3,000 cases, about a minute
    .venv/bin/python bench/fuzz.py --cases 20000 --seed 7
    .venv/bin/python bench/fuzz.py --methods SearchPassages,EditBlock --cases 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

import grpc
from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import log, machine, parse_args_with_env, running_suite
from tests.e2e.edge_fuzz import Fuzzer, cases, known_ids, not_serving, public_methods

SUITE = ("gateway", "agent", "memory", "tools")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000, help="cases to send (default 3000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a random one)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of each call, seconds")
    parser.add_argument("--methods", default="", help="comma-separated method names (default: all 48)")
    parser.add_argument("--show", type=int, default=50, help="failing cases to print (default 50)")
    return parse_args_with_env(parser, argv)


def fuzz(address: str, metadata, known, methods, args) -> tuple[Fuzzer, float]:
    started = time.monotonic()
    with grpc.insecure_channel(address) as channel:
        fuzzer = Fuzzer(channel, metadata, timeout=args.timeout)

        @seed(args.seed)
        @settings(
            max_examples=args.cases,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(cases(methods, known))
        def run(case):
            method, requests = case
            fuzzer.run(method, requests)
            if fuzzer.total % 500 == 0:
                log(f"fuzz: {fuzzer.total} cases, {len(fuzzer.failures)} wrong")

        run()
    return fuzzer, time.monotonic() - started


async def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.seed = random.randrange(2**32) if args.seed is None else args.seed
    names = {name for name in args.methods.split(",") if name}
    methods = [m for m in public_methods() if not names or m.name in names]
    if not methods:
        log(f"fuzz: no public method is named {sorted(names)}")
        return 2
    async with running_suite(env=args.env) as suite:
        metadata = (("authorization", f"Bearer {suite.api_key}"),)
        async with grpc.aio.insecure_channel(suite.gateway_address) as channel:
            known = await known_ids(channel, metadata)
        log(f"fuzz: {args.cases} cases over {len(methods)} methods, seed {args.seed}")
        fuzzer, seconds = await asyncio.to_thread(fuzz, suite.gateway_address, metadata, known, methods, args)
        addresses = {name: f"{suite.suite.host}:{suite.suite.ports.of(name)}" for name in SUITE}
        down = list(not_serving(addresses))
    print(
        json.dumps(
            {
                "cases": fuzzer.total,
                "seconds": round(seconds, 1),
                "seed": args.seed,
                "codes": dict(fuzzer.counts.most_common()),
                "wrong": len(fuzzer.failures),
                "not_serving": down,
                "by_method": {
                    name: dict(counts.most_common()) for name, counts in sorted(fuzzer.by_method.items())
                },
                "failures": [
                    {
                        "method": outcome.method,
                        "code": outcome.code.name,
                        "problems": outcome.problems(),
                        "status": outcome.text[:500],
                        "request": data[:4096].hex(),
                    }
                    for outcome, data in fuzzer.failures[: args.show]
                ],
                "machine": machine(),
            },
            indent=2,
        )
    )
    return 1 if fuzzer.failures or down else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
