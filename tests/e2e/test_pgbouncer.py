"""The suite behind a real PgBouncer in transaction pooling mode (Debian's package): DATABASE_URL
names PgBouncer, whose few server connections every service's transactions share, and what needs a
session (the gateway's LISTEN, migrations, advisory locks) goes over AGENTSUITE_DATABASE_DIRECT_URL.
A conversation with a custom tool, a memory edit and an archival search works, and each process's
connections go where they should."""

from __future__ import annotations

import uuid

import grpc
import psutil
import pytest
from sqlalchemy.engine import make_url

from services.common.local_pgbouncer import pgbouncer_binary, running_pgbouncer
from tests.e2e.every_hop import converse_across_every_hop
from tests.e2e.own_suite import new_key, own_suite

pytestmark = pytest.mark.skipif(
    pgbouncer_binary() is None,
    reason="pgbouncer is not installed: `sudo apt-get install pgbouncer` (make setup installs it as root)",
)

SERVER_CONNECTIONS = 6
"""Far fewer than the services' pools: client connections must share server connections, so a
statement that relied on its session (a named prepared statement, a session setting) would fail."""


def connected_ports(pid: int) -> list[int]:
    """Remote ports of the TCP connections process ``pid`` has open."""
    return [c.raddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr]


async def test_the_suite_works_behind_pgbouncer_in_transaction_mode(database_url, fake_llm, tmp_path):
    with running_pgbouncer(
        database_url, pool_size=SERVER_CONNECTIONS, log_file=tmp_path / "pgbouncer.log"
    ) as bouncer:
        env = {"AGENTSUITE_DATABASE_DIRECT_URL": database_url}
        async with own_suite(bouncer.url, fake_llm.base_url, tmp_path / "logs", env=env) as suite:
            auth = (("authorization", f"Bearer {await new_key(database_url, f't-{uuid.uuid4().hex[:8]}')}"),)
            async with grpc.aio.insecure_channel(suite.gateway_address) as channel:
                await converse_across_every_hop(channel, auth, fake_llm)

            bouncer, postgres = make_url(bouncer.url).port, make_url(database_url).port
            ports = {name: connected_ports(process.pid) for name, process in suite.processes.items()}
            for name in ("gateway", "agent", "memory", "tools"):
                assert bouncer in ports[name], f"{name} does not use PgBouncer"
            assert postgres in ports["gateway"], (
                "the gateway listens for notifications on a direct connection"
            )
            assert postgres not in ports["agent"] and postgres not in ports["tools"], ports
