"""`agentsuite up` never harms another suite (docs/configuration.md, "`up` and other suites"): a
second `up` on the same state directory or the same ports is refused before it starts anything, and
the first keeps serving; commands that only need the database never leave a PostgreSQL running; the embedded
server keeps its port across restarts, also right after an immediate stop."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import grpc
import pytest
from cli_process import (
    new_state_dir,
    ports_of,
    postgres_running_in,
    read_until,
    run_cli,
    start_up,
    suite_env,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentsuite.agent.v1 import agent_service_pb2, agent_service_pb2_grpc
from services.common.embedded_pg import EmbeddedPostgres

REFUSED_WITHIN_S = 30
"""A refused `up` starts nothing, so it answers in about the time Python takes to import it."""


@pytest.fixture(scope="module")
def first_suite():
    """A suite started with `agentsuite up` on its own state directory and free ports; shared by
    this module's tests, which each leave it as they found it (or fail)."""
    state_dir = new_state_dir()
    env = suite_env(state_dir)
    up = start_up(env)
    try:
        read_until(up, "Stop with Ctrl-C.", timeout=180)
        yield env, state_dir, up
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=90)
        assert up.returncode == 0, rest
        assert not postgres_running_in(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _refused_up(env: dict[str, str]) -> subprocess.CompletedProcess:
    second = start_up(env)
    try:
        output, _ = second.communicate(timeout=REFUSED_WITHIN_S)
    except subprocess.TimeoutExpired:
        second.send_signal(signal.SIGINT)
        output, _ = second.communicate(timeout=90)
        raise AssertionError(f"the second `up` was not refused:\n{output}") from None
    return subprocess.CompletedProcess(second.args, second.returncode, output)


async def _serves(env: dict[str, str], state_dir: Path) -> None:
    """The suite answers SERVING on its gateway and a real call through it works."""
    key = (state_dir / "api_key").read_text().strip()
    async with grpc.aio.insecure_channel(env["AGENTSUITE_GATEWAY_ADDR"]) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        await agent_service_pb2_grpc.AgentServiceStub(channel).ListAgents(
            agent_service_pb2.ListAgentsRequest(), metadata=(("authorization", f"Bearer {key}"),), timeout=10
        )


def test_a_second_up_on_the_same_state_directory_is_refused_and_the_first_keeps_serving(first_suite):
    env, state_dir, first = first_suite
    other_ports = suite_env(state_dir)  # same state directory, ports nobody uses

    second = _refused_up(other_ports)

    assert second.returncode != 0
    assert f"another agentsuite up (pid {first.pid}) is running from {state_dir}" in second.stdout
    assert "agentsuite is up" not in second.stdout
    assert first.poll() is None
    asyncio.run(_serves(env, state_dir))


def test_a_second_up_on_ports_in_use_is_refused_before_it_starts_anything(first_suite):
    env, state_dir, first = first_suite
    other_dir = new_state_dir()
    try:
        same_ports = suite_env(other_dir, ports_of(env))

        second = _refused_up(same_ports)

        assert second.returncode != 0
        assert f"port {ports_of(env)['gateway']} (gateway) is in use" in second.stdout
        assert "agentsuite is up" not in second.stdout
        assert not (other_dir / "postgres").exists()  # nothing was started, not even initdb
        assert first.poll() is None
        asyncio.run(_serves(env, state_dir))
    finally:
        shutil.rmtree(other_dir, ignore_errors=True)


def test_keys_commands_use_the_running_suite_and_leave_its_database_to_it(first_suite):
    env, state_dir, _ = first_suite

    listed = run_cli("keys", "list", env=env)

    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert (state_dir / "api_key").read_text().strip()[:10] in listed.stdout
    assert postgres_running_in(state_dir)
    asyncio.run(_serves(env, state_dir))


@pytest.fixture
def stopped_cluster():
    """A state directory whose embedded PostgreSQL was initialised, then stopped (a suite that
    ran and was stopped)."""
    state_dir = new_state_dir()
    server = EmbeddedPostgres(state_dir, fast=True)
    server.ensure_running()
    server.stop()
    try:
        yield state_dir
    finally:
        if postgres_running_in(state_dir):
            server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.mark.parametrize(
    "command", [("keys", "list"), ("keys", "create", "--tenant", "acme"), ("keys", "revoke", "ags_x")]
)
def test_keys_commands_while_the_suite_is_down_say_so_and_start_nothing(stopped_cluster, command):
    env = suite_env(stopped_cluster)

    result = run_cli(*command, env=env)

    assert result.returncode != 0
    assert "the suite is down" in result.stdout + result.stderr
    assert "agentsuite up" in result.stdout + result.stderr
    assert not (stopped_cluster / "postgres" / "postmaster.pid").exists()
    assert not postgres_running_in(stopped_cluster)


def test_keys_list_on_a_state_directory_never_used_starts_nothing():
    state_dir = new_state_dir()
    try:
        result = run_cli("keys", "list", env=suite_env(state_dir))

        assert result.returncode != 0
        assert "the suite is down" in result.stdout + result.stderr
        assert not (state_dir / "postgres").exists()
        assert not postgres_running_in(state_dir)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _time_wait_on(port: int) -> int:
    """Sockets in TIME_WAIT whose local port is ``port`` (state 06 in /proc/net/tcp)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "06":
                count += 1
    return count


async def _connect_then_drop_at_immediate_stop(url: str, server: EmbeddedPostgres) -> None:
    connections = [await asyncpg.connect(url) for _ in range(3)]
    await asyncio.to_thread(server.stop, immediate=True)
    for connection in connections:
        connection.terminate()


def test_the_embedded_server_keeps_its_port_when_restarted_right_after_an_immediate_stop(stopped_cluster):
    server = EmbeddedPostgres(stopped_cluster, fast=True)
    url = server.ensure_running()
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    asyncio.run(_connect_then_drop_at_immediate_stop(url, server))
    assert _time_wait_on(port) > 0  # the case of the bug: the old port is in TIME_WAIT

    try:
        assert server.ensure_running() == url
    finally:
        server.stop()


def _start_owner(state_dir: Path) -> subprocess.Popen:
    """Another process that starts the embedded server (as a service started alone does) and stays."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from services.common.embedded_pg import EmbeddedPostgres; "
            "EmbeddedPostgres(Path(sys.argv[1]), fast=True).ensure_running(); print('up', flush=True); "
            "time.sleep(600)",
            str(state_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout.readline().strip() == "up"
    return owner


def test_a_server_started_by_another_live_process_is_never_stopped_and_an_orphan_is_adopted(
    stopped_cluster,
):
    server = EmbeddedPostgres(stopped_cluster, fast=True)
    owner = _start_owner(stopped_cluster)
    try:
        server.ensure_running(adopt=True)  # joins; the owner is alive
        assert not server.release()
        assert postgres_running_in(stopped_cluster)
    finally:
        owner.kill()
        owner.wait()

    server.ensure_running(adopt=True)  # its owner is gone: ours now
    assert server.release()
    assert not postgres_running_in(stopped_cluster)
