"""Warm sandboxes (started ahead, one call each): faster, and still nothing shared between calls."""

from __future__ import annotations

import json

import grpc
import pytest

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc
from tests.e2e.tools.conftest import start_tools_service, stop

LEAVE_TRACES = '''
import os

def trace(n: int) -> dict:
    """Report what earlier calls left behind, then leave traces of this one."""
    seen = {"files": sorted(os.listdir("/tmp")), "env": os.environ.get("LEFT_BEHIND"), "global": globals().get("MARK")}
    open(f"/tmp/call-{n}", "w").write("x")
    os.environ["LEFT_BEHIND"] = str(n)
    globals()["MARK"] = n
    return seen
'''


@pytest.fixture(scope="module")
def warm_process(database_url, tmp_path_factory):
    running = start_tools_service(
        database_url, tmp_path_factory.mktemp("warm") / "tools.log", AGENTSUITE_TOOLS_WARM_SANDBOXES="2"
    )
    try:
        yield running
    finally:
        stop(running.process)


async def test_consecutive_calls_in_warm_sandboxes_see_nothing_of_each_other(warm_process, tenant):
    async with grpc.aio.insecure_channel(warm_process.address) as channel:
        tools = tools_service_pb2_grpc.ToolServiceStub(channel)
        for n in range(5):
            reply = await tools.RunTool(
                tools_service_pb2.RunToolRequest(
                    source_code=LEAVE_TRACES, arguments_json=json.dumps({"n": n})
                ),
                metadata=warm_process.metadata(tenant),
                timeout=10,
            )
            assert reply.result.status == tools_pb2.EXECUTION_STATUS_OK, reply.result.stderr
            assert json.loads(reply.result.result_json) == {"files": [], "env": None, "global": None}
