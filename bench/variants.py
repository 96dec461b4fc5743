"""Throughput of the suite deployed two ways, measured in one run, alternating: direct to PostgreSQL
vs through PgBouncer (transaction mode), or plaintext vs mutual TLS on every hop.

    python bench/variants.py pgbouncer [--concurrency 32] [--rounds 3] [--seconds 8]
    python bench/variants.py mtls [--concurrency 1,32] [--rounds 3] [--seconds 8]

One embedded PostgreSQL (a database per variant) and one fake LLM; both suites run at once (four
processes each) and take turns under load: every round measures each concurrency level for each
variant, the order of the variants reversed every other round, so drift (a growing history, other
work on the machine) falls on both alike. The load is ``throughput.py``'s: N conversations, each
with its own agent, calling ``SendMessage`` in a loop. Prints one JSON document: per level and
variant the median over rounds of messages/s, p50 and the CPU the suite used per message (the
services, PostgreSQL, and PgBouncer when there is one), and the ratios second/first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import echo
from bench.harness import (
    embedded_database,
    fake_llm,
    issue_key,
    log,
    machine,
    parse_args_with_env,
    running_services,
)
from bench.load import CpuMeter, closed_loop
from bench.throughput import create_agents, send_message_call
from services.cli.supervisor import SERVICES
from services.common.dev_certs import tls_env, write_dev_certs
from services.common.local_pgbouncer import pgbouncer_version, running_pgbouncer
from services.common.ports import listener_of


@dataclass
class Variant:
    """One deployment of the suite under test, and the client's channel to its gateway."""

    name: str
    channel: grpc.aio.Channel
    metadata: tuple
    pids: dict[str, int]
    agents: dict[int, list[str]] = field(default_factory=dict)
    results: dict[int, list[dict]] = field(default_factory=dict)


async def new_database(server_url: str, name: str) -> str:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def start_variant(
    stack: AsyncExitStack,
    name: str,
    url: str,
    *,
    direct_url: str,
    log_dir: Path,
    env: dict[str, str],
    service_env: dict[str, dict[str, str]] | None = None,
    client_credentials: grpc.ChannelCredentials | None = None,
    extra_pids: dict[str, int] | None = None,
) -> Variant:
    log(f"variants: starting {name}")
    suite = await stack.enter_async_context(
        running_services(url, SERVICES, log_dir=log_dir / name, env=env, service_env=service_env)
    )
    address = suite.gateway_address
    channel = (
        grpc.aio.insecure_channel(address)
        if client_credentials is None
        else grpc.aio.secure_channel(address, client_credentials)
    )
    await stack.enter_async_context(channel)
    metadata = (("authorization", f"Bearer {await issue_key(direct_url)}"),)
    pids = {service: process.pid for service, process in suite.processes.items()}
    return Variant(name, channel, metadata, {**pids, **(extra_pids or {})})


async def pgbouncer_variants(
    stack: AsyncExitStack, args, server_url: str, log_dir: Path, env: dict
) -> list[Variant]:
    direct, pooled = (
        await new_database(server_url, "bench_direct"),
        await new_database(server_url, "bench_pooled"),
    )
    bouncer = stack.enter_context(
        running_pgbouncer(pooled, pool_size=args.pool_size, log_file=log_dir / "pgbouncer.log")
    )
    return [
        await start_variant(stack, "direct", direct, direct_url=direct, log_dir=log_dir, env=env),
        await start_variant(
            stack,
            "pgbouncer",
            bouncer.url,
            direct_url=pooled,
            log_dir=log_dir,
            env={**env, "AGENTSUITE_DATABASE_DIRECT_URL": pooled},
            extra_pids={"pgbouncer": bouncer.pid},
        ),
    ]


async def mtls_variants(
    stack: AsyncExitStack, args, server_url: str, log_dir: Path, env: dict
) -> list[Variant]:
    plain, secured = (
        await new_database(server_url, "bench_plain"),
        await new_database(server_url, "bench_mtls"),
    )
    certs = log_dir / "certs"
    write_dev_certs(certs)
    client = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / "client-key.pem").read_bytes(),
        certificate_chain=(certs / "client.pem").read_bytes(),
    )
    return [
        await start_variant(stack, "plaintext", plain, direct_url=plain, log_dir=log_dir, env=env),
        await start_variant(
            stack,
            "mtls",
            secured,
            direct_url=secured,
            log_dir=log_dir,
            env=env,
            service_env={service: tls_env(certs, service, require_client_cert=True) for service in SERVICES},
            client_credentials=client,
        ),
    ]


async def measure(args, variants: list[Variant], shared_pids: dict[str, int]) -> None:
    for variant in variants:
        for level in args.concurrency:
            variant.agents[level] = await create_agents(variant.channel, variant.metadata, level, f"v{level}")
    for round_index in range(args.rounds):
        order = variants if round_index % 2 == 0 else list(reversed(variants))
        for level in args.concurrency:
            for variant in order:
                log(f"variants: round {round_index + 1}/{args.rounds}, {variant.name}, concurrency {level}")
                result = await closed_loop(
                    send_message_call(variant.channel, variant.metadata, variant.agents[level]),
                    concurrency=level,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    meter=CpuMeter({**variant.pids, **shared_pids}),
                )
                variant.results.setdefault(level, []).append(result)


RATIOS = ("messages_per_s", "p50_ms", "suite_cpu_ms_per_message")


def summary(variants: list[Variant], levels: list[int]) -> dict:
    """Medians over rounds per level and variant; second/first as the ratio of those medians and
    as the median of each round's ratio (the two windows of a round ran back to back, so a busy
    machine weighs on both: the more robust figure when the machine is shared)."""
    document = {}
    for level in levels:
        medians = {variant.name: _medians(variant.results[level]) for variant in variants}
        first, second = (medians[variant.name] for variant in variants)
        pairs = list(zip(*(variant.results[level] for variant in variants), strict=True))
        document[str(level)] = {
            **medians,
            "ratio_of_medians": {
                key: round(second[key] / first[key], 3) if first[key] else None for key in RATIOS
            },
            "median_of_round_ratios": {
                key: _median_ratio([(_value(a, key), _value(b, key)) for a, b in pairs]) for key in RATIOS
            },
        }
    return document


def _median_ratio(pairs: list[tuple[float, float]]) -> float | None:
    ratios = [b / a for a, b in pairs if a]
    return round(statistics.median(ratios), 3) if ratios else None


def _value(result: dict, key: str) -> float:
    return cpu_ms_per_message(result) if key == "suite_cpu_ms_per_message" else (result[key] or 0.0)


def cpu_ms_per_message(result: dict, process: str | None = None) -> float:
    """CPU of the suite's processes (services, PostgreSQL, PgBouncer), or of one, per message answered."""
    used = result["server_cpu_cores"]
    cores = sum(used.values()) if process is None else used.get(process, 0.0)
    return cores * 1000 / result["messages_per_s"] if result["messages_per_s"] else 0.0


def _medians(results: list[dict]) -> dict:
    processes = sorted({name for r in results for name in r["server_cpu_cores"]})
    return {
        "messages_per_s": round(statistics.median(r["messages_per_s"] for r in results), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] or 0.0 for r in results), 2),
        "suite_cpu_ms_per_message": round(statistics.median(cpu_ms_per_message(r) for r in results), 2),
        "cpu_ms_per_message_by_process": {
            name: round(statistics.median(cpu_ms_per_message(r, name) for r in results), 2)
            for name in processes
        },
        "rounds_messages_per_s": [r["messages_per_s"] for r in results],
        "errors": sum(r["errors"] for r in results),
        "error_samples": sorted({sample for r in results for sample in r["error_samples"]})[:3],
        "other_cpu_cores_max": max(r["other_cpu_cores"] for r in results),
    }


async def run(args) -> dict:
    async with AsyncExitStack() as stack:
        server_url, log_dir = await stack.enter_async_context(embedded_database())
        llm_url, _llm_pid = await stack.enter_async_context(
            fake_llm(latency_ms=args.llm_latency_ms, log_dir=log_dir)
        )
        env = {"AGENTSUITE_OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "fake", **args.env}
        build = pgbouncer_variants if args.compare == "pgbouncer" else mtls_variants
        variants = await build(stack, args, server_url, log_dir, env)
        postgres = listener_of(make_url(server_url).port)
        await measure(args, variants, {"postgres": postgres.pid} if postgres else {})
    return {
        "machine": machine(),
        "config": {
            "compare": args.compare,
            "variants": [variant.name for variant in variants],
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "llm_latency_ms": args.llm_latency_ms,
            "service_env": args.env,
            **(
                {"pgbouncer": pgbouncer_version(), "pool_size": args.pool_size}
                if args.compare == "pgbouncer"
                else {}
            ),
        },
        "by_concurrency": summary(variants, args.concurrency),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/variants.py", description=__doc__.splitlines()[0])
    parser.add_argument("compare", choices=["pgbouncer", "mtls"], help="which two deployments")
    parser.add_argument(
        "--concurrency", action="append", help="levels, e.g. 1,32 (pgbouncer: 32; mtls: 1,32)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="windows per variant and level")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each window")
    parser.add_argument("--llm-latency-ms", type=float, default=0.0, help="fake LLM delay before its reply")
    parser.add_argument("--pool-size", type=int, default=20, help="PgBouncer's server connections")
    args = parse_args_with_env(parser, argv)
    default = ["32"] if args.compare == "pgbouncer" else ["1,32"]
    args.concurrency = echo.concurrency_list(args.concurrency or default)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
