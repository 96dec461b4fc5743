"""Hostile tools against the real tools service process over real gRPC. Each case proves the tool
got nowhere (its status says what stopped it), nothing of it is left running on the host, and the
service still answers SERVING. The limits are small (see conftest) so every case ends in seconds."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2
from tests.e2e.tools.conftest import CANARY

ROOT = Path(__file__).resolve().parents[3]


def sandbox_processes(service_pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(service_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


async def wait_until_no_sandbox(service_pid: int, within: float = 1.0) -> None:
    for _ in range(int(within / 0.02) + 1):
        left = sandbox_processes(service_pid)
        if not left:
            return
        await asyncio.sleep(0.02)
    assert not left, f"sandbox processes still alive after {within}s: {left}"


@pytest.fixture
async def run(tools, channel, tools_process, tenant):
    """Run source in the sandbox; afterwards check the host is clean and the service SERVING."""
    rss_before = psutil.Process(tools_process.process.pid).memory_info().rss

    async def run(
        source: str, arguments: dict | None = None, *, timeout: float = 20
    ) -> tools_pb2.ExecutionResult:
        reply = await tools.RunTool(
            tools_service_pb2.RunToolRequest(source_code=source, arguments_json=json.dumps(arguments or {})),
            metadata=tools_process.metadata(tenant),
            timeout=timeout,
        )
        return reply.result

    yield run
    await wait_until_no_sandbox(tools_process.process.pid)
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert tools_process.process.poll() is None
    grown = psutil.Process(tools_process.process.pid).memory_info().rss - rss_before
    assert grown < 200 * 1024 * 1024, f"the service grew by {grown} bytes"


def tool(body: str, params: str = "") -> str:
    indented = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return f'def hostile({params}):\n    """A hostile tool."""\n{indented}\n'


async def test_infinite_loop_is_killed_at_its_cpu_limit(run):
    started = time.monotonic()
    result = await run(tool("while True:\n    pass"))

    assert result.status == tools_pb2.EXECUTION_STATUS_KILLED
    assert "CPU" in result.error_message
    assert time.monotonic() - started < 12, "stopped by its CPU limit, before the wall clock's"


async def test_fork_bomb_is_stopped_by_the_process_limit_and_leaves_nothing(run):
    result = await run(
        tool(
            """
import os
children = 0
while True:
    os.fork()
    children += 1
"""
        )
    )

    assert result.status in (tools_pb2.EXECUTION_STATUS_ERROR, tools_pb2.EXECUTION_STATUS_KILLED)
    assert result.error_type == "BlockingIOError" or result.status == tools_pb2.EXECUTION_STATUS_KILLED


async def test_allocating_10_gb_hits_the_memory_limit(run):
    result = await run(tool("data = bytearray(10 * 1024 ** 3)\nreturn len(data)"))

    assert result.status == tools_pb2.EXECUTION_STATUS_KILLED
    assert result.error_type == "MemoryError"
    assert "memory limit" in result.error_message


async def test_writing_a_huge_file_stops_at_the_file_size_limit_inside_the_sandbox(run):
    name = f"agentsuite-huge-{uuid.uuid4()}"
    result = await run(
        tool(
            f"""
with open("/tmp/{name}", "wb") as f:
    for _ in range(1024):
        f.write(b"x" * (1024 * 1024))
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_ERROR
    assert "File too large" in result.error_message
    assert name not in await asyncio.to_thread(os.listdir, "/tmp")


async def test_opening_thousands_of_files_stops_at_the_open_file_limit(run):
    result = await run(
        tool(
            """
import os
handles = []
try:
    while len(handles) < 20000:
        handles.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    return {"opened": len(handles), "error": exc.strerror}
return {"opened": len(handles), "error": None}
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_OK, result.error_message
    outcome = json.loads(result.result_json)
    assert outcome["error"] == "Too many open files"
    assert outcome["opened"] < 256, "the sandbox's own open-file limit (256 by default) applies"


@pytest.mark.parametrize(
    "body",
    [
        "os.killpg(0, signal.SIGKILL)",  # its whole process group, itself included
        "os.kill(os.getpid(), signal.SIGKILL)",
    ],
)
async def test_a_tool_killed_by_a_signal_it_sent_is_not_reported_as_past_a_limit(run, body):
    result = await run(tool(f"import os, signal\n{body}\nimport time\ntime.sleep(5)"))

    assert result.status == tools_pb2.EXECUTION_STATUS_KILLED
    assert result.error_type == "SIGKILL"
    assert "exceeded" not in result.error_message, "no limit was reached"
    assert "SIGKILL" in result.error_message


async def test_printing_gigabytes_is_capped_and_the_tool_killed(run):
    result = await run(tool("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"))

    assert result.status == tools_pb2.EXECUTION_STATUS_KILLED
    assert result.truncated
    assert len(result.stdout) <= 65536
    assert "printed more than" in result.error_message


async def test_host_secrets_and_project_files_are_invisible(run):
    result = await run(
        tool(
            f"""
import os
found = {{}}
for path in ["/etc/shadow", "/etc/passwd", "/root", "/home", "/work", {str(ROOT / "pyproject.toml")!r}, {str(ROOT)!r}]:
    try:
        found[path] = os.listdir(path) if os.path.isdir(path) else open(path).read()[:100]
    except OSError as exc:
        found[path] = type(exc).__name__
return found
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_OK
    assert set(json.loads(result.result_json).values()) == {"FileNotFoundError"}


async def test_the_service_environment_is_invisible(run):
    result = await run(
        tool(
            """
import os
seen = [repr(dict(os.environ))]
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError:
            pass
return seen
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_OK
    assert CANARY not in result.result_json
    assert "DATABASE_URL" not in result.result_json
    assert "AGENTSUITE_SECRETS_KEY" not in result.result_json


async def test_no_network_neither_the_database_on_loopback_nor_outside(run, tools_process):
    result = await run(
        tool(
            f"""
import socket
answers = {{}}
for host, port in [("127.0.0.1", {tools_process.database_port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:
    s = socket.socket()
    s.settimeout(2)
    answers[f"{{host}}:{{port}}"] = s.connect_ex((host, port))
    s.close()
return answers
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_OK
    codes = json.loads(result.result_json)
    assert all(code != 0 for code in codes.values()), codes


async def test_a_background_process_does_not_outlive_the_call(run):
    marker = f"agentsuite-orphan-{uuid.uuid4()}"
    result = await run(
        tool(
            f"""
import subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}],
    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
return child.pid
"""
        )
    )

    assert result.status == tools_pb2.EXECUTION_STATUS_OK, result.stderr
    for _ in range(20):
        survivors = [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
        if not survivors:
            break
        await asyncio.sleep(0.05)
    assert not survivors


async def test_sleeping_past_the_deadline_returns_timeout_before_the_deadline(run):
    started = time.monotonic()
    result = await run(tool("import time\ntime.sleep(60)"), timeout=1.5)

    assert result.status == tools_pb2.EXECUTION_STATUS_TIMEOUT
    assert time.monotonic() - started < 1.5


async def test_cancelling_the_call_kills_the_sandbox_within_a_second(
    runtime, tools, tools_process, tenant, channel
):
    metadata = tools_process.metadata(tenant)
    created = await tools.CreateTool(
        tools_service_pb2.CreateToolRequest(
            tool=tools_pb2.Tool(source_code=tool("import time\ntime.sleep(60)"))
        ),
        metadata=metadata,
        timeout=10,
    )
    call = runtime.Execute(
        tools_service_pb2.ExecuteRequest(tool_id=created.tool.id, arguments_json="{}"),
        metadata=metadata,
        timeout=30,
    )
    for _ in range(250):
        if sandbox_processes(tools_process.process.pid):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the sandbox never started")

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await wait_until_no_sandbox(tools_process.process.pid, within=1.0)
    health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_passing_the_rpc_deadline_kills_the_sandbox_within_a_second(
    runtime, tools, tools_process, tenant
):
    metadata = tools_process.metadata(tenant)
    created = await tools.CreateTool(
        tools_service_pb2.CreateToolRequest(
            tool=tools_pb2.Tool(source_code=tool("import time\ntime.sleep(60)"))
        ),
        metadata=metadata,
        timeout=10,
    )
    started = time.monotonic()
    try:
        reply = await runtime.Execute(
            tools_service_pb2.ExecuteRequest(tool_id=created.tool.id, arguments_json="{}"),
            metadata=metadata,
            timeout=1.0,
        )
        assert reply.result.status == tools_pb2.EXECUTION_STATUS_TIMEOUT
    except grpc.aio.AioRpcError as exc:  # the deadline may win the race with the TIMEOUT answer
        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await wait_until_no_sandbox(tools_process.process.pid, within=1.0)
    assert time.monotonic() - started < 2.5
