"""Fan-out: one Broadcast to 1,000 agents by id, one to the tagged ones, fake LLM at 50 ms.

    python bench/broadcast.py [--agents 1000] [--tagged-every 4] [--llm-latency-ms 50]

Starts a throw-away suite, creates the agents concurrently through the gateway (every
``--tagged-every``-th one carries the tag ``bench-tagged``), then sends one ``Broadcast`` selecting
every agent by id and one selecting the tag. For each it times, from the request, every agent's
result (its completion), the last result and the summary, and counts results, failures, missing and
duplicate agents. Issue 6 asks for all replies within 5 s. Exits with status 2 and an ``error`` in
the JSON while the gateway answers ``Broadcast`` with UNIMPLEMENTED. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from bench.fleet import NotImplementedYet, create_agents, fail_clearly, require_implemented
from bench.harness import log, machine, parse_args_with_env, running_suite
from bench.load import MAX_ERROR_SAMPLES, percentile

TAG = "bench-tagged"
MESSAGE = "Broadcast: please report your status."
TARGET_SECONDS = 5.0
CODE_NAMES = {status.value[0]: status.name for status in grpc.StatusCode}
"""google.rpc.Code numbers (``BroadcastResult.error_code``) to names."""


async def broadcast(
    stub: gateway_service_pb2_grpc.ConversationServiceStub,
    metadata,
    selector: gateway_pb2.AgentSelector,
    expected: set[str],
    args,
) -> dict:
    """One Broadcast, timed from the request to every result and to the summary."""
    request = gateway_service_pb2.BroadcastRequest(
        selector=selector,
        messages=[common_pb2.InputMessage(content=MESSAGE)],
        max_concurrency=args.max_concurrency,
        idempotency_key=str(uuid.uuid4()),
    )
    completions: dict[str, float] = {}
    errors: list[str] = []
    not_end_turn = duplicates = 0
    summary = None
    summary_at = None
    begin = time.perf_counter()
    async for response in stub.Broadcast(request, metadata=metadata, timeout=args.timeout):
        now = time.perf_counter() - begin
        if response.WhichOneof("response") == "summary":
            summary, summary_at = response.summary, now
            continue
        result = response.result
        if result.agent_id in completions:
            duplicates += 1
        completions[result.agent_id] = now
        if result.error_code:
            code = CODE_NAMES.get(result.error_code, str(result.error_code))
            errors.append(f"{code}: {result.error_message}"[:300])
        elif result.run.stop_reason != common_pb2.STOP_REASON_END_TURN:
            not_end_turn += 1
    times = sorted(completions.values())
    last = times[-1] if times else None
    return {
        "targets": len(expected),
        "results": len(completions) + duplicates,
        "failures": len(errors),
        "error_samples": sorted(set(errors))[:MAX_ERROR_SAMPLES],
        "runs_not_end_turn": not_end_turn,
        "missing_agents": len(expected - completions.keys()),
        "unexpected_agents": len(completions.keys() - expected),
        "duplicate_results": duplicates,
        "time_to_first_result_s": _s(times[0] if times else None),
        "time_to_last_result_s": _s(last),
        "time_to_summary_s": _s(summary_at),
        "per_agent_completion_ms": {
            "p50": _ms(percentile(times, 0.50)),
            "p99": _ms(percentile(times, 0.99)),
            "max": _ms(last),
        },
        "summary": None
        if summary is None
        else {
            "total": summary.total,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "elapsed_s": round(summary.elapsed.ToTimedelta().total_seconds(), 3),
        },
        "meets_target": (
            last is not None
            and last <= TARGET_SECONDS
            and not errors
            and completions.keys() == expected
            and summary is not None
        ),
    }


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def measure(args, running, document: dict) -> None:
    metadata = (("authorization", f"Bearer {running.api_key}"),)
    async with grpc.aio.insecure_channel(running.gateway_address) as channel:
        stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        # An empty selector is INVALID_ARGUMENT once Broadcast exists: fail before creating agents.
        await require_implemented(
            "Broadcast",
            lambda: _drain(
                stub.Broadcast(gateway_service_pb2.BroadcastRequest(), metadata=metadata, timeout=10)
            ),
        )
        agent_ids, document["agent_creation"] = await create_agents(
            channel,
            metadata,
            args.agents,
            "broadcast",
            concurrency=args.create_concurrency,
            tags=lambda i: [TAG] if i % args.tagged_every == 0 else [],
        )
        tagged = {agent_id for i, agent_id in enumerate(agent_ids) if i % args.tagged_every == 0}
        log(f"broadcast: to {len(agent_ids)} agents by id")
        document["by_ids"] = await broadcast(
            stub, metadata, gateway_pb2.AgentSelector(agent_ids=agent_ids), set(agent_ids), args
        )
        log(f"broadcast: by ids done, last result at {document['by_ids']['time_to_last_result_s']}s")
        log(f"broadcast: to the {len(tagged)} agents tagged {TAG!r}")
        document["by_tag"] = await broadcast(
            stub,
            metadata,
            gateway_pb2.AgentSelector(tags=[TAG], tag_match=common_pb2.TAG_MATCH_ANY),
            tagged,
            args,
        )


async def _drain(call) -> None:
    async for _ in call:
        pass


async def run(args) -> dict:
    document: dict = {
        "machine": machine(),
        "config": {
            "agents": args.agents,
            "tagged_every": args.tagged_every,
            "llm_latency_ms": args.llm_latency_ms,
            "max_concurrency": args.max_concurrency,
            "create_concurrency": args.create_concurrency,
            "timeout_s": args.timeout,
            "target_s": TARGET_SECONDS,
            "service_env": args.env,
        },
    }
    try:
        async with running_suite(llm_latency_ms=args.llm_latency_ms, env=args.env) as running:
            await measure(args, running, document)
    except NotImplementedYet as error:
        fail_clearly(document, error)
    except grpc.aio.AioRpcError as error:
        fail_clearly(document, RuntimeError(f"{error.code().name}: {error.details()}"))
    return document


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/broadcast.py", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tagged-every", type=int, default=4, help=f"every n-th agent is tagged {TAG!r}")
    parser.add_argument("--llm-latency-ms", type=float, default=50.0, help="fake LLM delay before its reply")
    parser.add_argument(
        "--max-concurrency", type=int, default=0, help="runs at once; 0: the gateway's default"
    )
    parser.add_argument("--create-concurrency", type=int, default=16, help="CreateAgent calls at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="deadline of each Broadcast")
    args = parse_args_with_env(parser, argv)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
