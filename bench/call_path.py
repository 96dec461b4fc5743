"""The modules and functions of ``services/`` that one ``SendMessage`` runs, per service.

    python bench/call_path.py [--warmup 3] [--list]

How it counts (the same way on any commit): a throw-away suite (as ``throughput.py``) whose services
load ``bench/call_path_tracer/sitecustomize.py``. After ``--warmup`` messages to one agent (so caches
and lanes are in their steady state), every service starts recording (SIGUSR1) each distinct Python
function of ``services/`` that is called (``sys.setprofile``: module file and qualified name; a
coroutine resumed counts once; comprehensions count as part of their function); one ``SendMessage`` is sent and answered; half a second later (the
event writer and the lane finish their work) recording stops (SIGUSR2). Background work that
happens to run in that window (a lease renewal, a sweep) is counted too. Code of libraries and of
the generated ``agentsuite/`` stubs is not counted; ``services/common`` is counted with each
service that runs it. Prints one JSON document: per service the number of modules and functions,
and the totals (with ``--list``, the functions themselves).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentsuite.common.v1 import common_pb2  # noqa: E402
from agentsuite.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc  # noqa: E402
from bench.harness import log, running_suite  # noqa: E402
from bench.throughput import create_agents  # noqa: E402

TRACED = ("gateway", "agent", "memory", "tools")


async def measure(warmup: int, listed: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="agentsuite-call-path-") as out:
        env = {
            "PYTHONPATH": os.pathsep.join([str(ROOT / "bench" / "call_path_tracer"), str(ROOT)]),
            "AGENTSUITE_CALL_PATH_DIR": out,
            "AGENTSUITE_CALL_PATH_ROOT": str(ROOT),
        }
        async with running_suite(env=env) as running:
            metadata = (("authorization", f"Bearer {running.api_key}"),)
            async with grpc.aio.insecure_channel(running.gateway_address) as channel:
                (agent_id,) = await create_agents(channel, metadata, 1, "call-path")
                stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
                request = gateway_service_pb2.SendMessageRequest(
                    agent_id=agent_id, messages=[common_pb2.InputMessage(content="hello")]
                )
                for _ in range(warmup):
                    await stub.SendMessage(request, metadata=metadata, timeout=30)
                await asyncio.sleep(0.5)
                pids = {name: running.suite.processes[name].pid for name in TRACED}
                for pid in pids.values():
                    os.kill(pid, signal.SIGUSR1)
                await asyncio.sleep(0.2)
                reply = await stub.SendMessage(request, metadata=metadata, timeout=30)
                log(f"call_path: run {reply.run.id} ended with status {reply.run.status}")
                await asyncio.sleep(0.5)
                for pid in pids.values():
                    os.kill(pid, signal.SIGUSR2)
                await asyncio.to_thread(_wait_for, [Path(out) / f"{pid}.json" for pid in pids.values()])
                functions = {
                    name: [tuple(f) for f in json.loads((Path(out) / f"{pid}.json").read_text())]
                    for name, pid in pids.items()
                }
    result: dict = {"warmup_messages": warmup, "services": {}}
    for name, called in functions.items():
        result["services"][name] = {
            "modules": len({module for module, _ in called}),
            "functions": len(called),
            **({"called": [f"{m}:{q}" for m, q in called]} if listed else {}),
        }
    result["total"] = {
        "modules": sum(s["modules"] for s in result["services"].values()),
        "functions": sum(s["functions"] for s in result["services"].values()),
    }
    return result


def _wait_for(paths: list[Path], timeout: float = 10.0) -> None:
    """Until every file exists (each service writes its own when it stops recording)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(path.exists() for path in paths):
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/call_path.py", description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3, help="messages sent before the counted one")
    parser.add_argument("--list", action="store_true", help="also list every function counted")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.warmup, args.list)), indent=2))


if __name__ == "__main__":
    main()
