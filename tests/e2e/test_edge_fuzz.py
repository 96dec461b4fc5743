"""Property: no request to any public RPC, however malformed, is answered INTERNAL or UNKNOWN or with
text from inside the services, and every service still answers SERVING afterwards.

Hypothesis makes the cases from the contract's descriptors (``edge_fuzz``): random but well-formed
messages (with ids that exist in the tenant, page tokens, extreme numbers and times, NULs, large
strings) and bytes broken on purpose (random, truncated, not UTF-8, nested past the parser's limit),
through the real gateway to the real backends. Derandomized, so every run sends the same cases;
``bench/fuzz.py`` runs any number of fresh ones.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc
from hypothesis import HealthCheck, Phase, given, settings

from agentsuite.gateway.v1 import gateway_service_pb2
from tests.e2e.edge_fuzz import Fuzzer, cases, known_ids, not_serving, path_of, public_methods

CASES = 1200
SUITE = ("gateway", "agent", "memory", "tools")


async def test_no_request_to_any_public_rpc_is_answered_internal_or_unknown_or_leaks(
    running_suite, gateway, tenant
):
    known = await known_ids(gateway, tenant)
    methods = public_methods()
    started = time.monotonic()
    with grpc.insecure_channel(running_suite.address) as channel:
        fuzzer = Fuzzer(channel, tenant, timeout=10)
        reached: set[str] = set()

        @settings(
            max_examples=CASES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(cases(methods, known))
        def fuzz(case):
            method, requests = case
            reached.add(path_of(method))
            fuzzer.run(method, requests)

        await asyncio.to_thread(fuzz)
    took = time.monotonic() - started
    print(
        json.dumps({"cases": fuzzer.total, "seconds": round(took, 1), "codes": fuzzer.counts}),
        file=sys.stderr,
    )

    assert fuzzer.total >= 1000
    assert reached == {path_of(method) for method in methods}, "every public method was tried"
    assert not fuzzer.failures, "\n".join(
        f"{outcome.method}: {outcome.code.name} {outcome.problems()} {outcome.text[:300]!r} <- {data[:200]!r}"
        for outcome, data in fuzzer.failures[:20]
    )
    addresses = {name: running_suite.backend_address(name) for name in SUITE}
    assert list(not_serving(addresses)) == []


async def test_a_request_past_the_message_size_limit_is_resource_exhausted_not_internal(
    running_suite, tenant
):
    huge = gateway_service_pb2.SendMessageRequest(agent_id="x" * (65 * 1024 * 1024)).SerializeToString()
    async with grpc.aio.insecure_channel(running_suite.address) as channel:
        for call in (channel.unary_unary(path_of(m)) for m in public_methods() if m.name == "SendMessage"):
            try:
                await call(huge, metadata=tenant, timeout=30)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
            else:
                raise AssertionError("a request past the size limit was accepted")
