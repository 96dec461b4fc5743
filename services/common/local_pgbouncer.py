"""Debian's PgBouncer, run in front of a PostgreSQL URL on this machine: for the end-to-end test and
the benchmark of the suite behind a transaction pooler, and for trying that setup by hand.

    python -m services.common.local_pgbouncer DATABASE_URL [--pool-size N]

prints the pooled URL (give it to the services as ``DATABASE_URL``, and ``DATABASE_URL`` itself as
``AGENTSUITE_DATABASE_DIRECT_URL``) and runs until interrupted. ``make setup`` installs the
``pgbouncer`` package when run as root. PgBouncer refuses to run as root, so as root it runs as
``nobody``; its files (config, and the password in ``userlist.txt``) are then world-readable in a
private temporary directory: fine for a test, not for production.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from services.common.ports import free_port

SEARCH_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/local/sbin"


def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable, or None when it is not installed."""
    return shutil.which("pgbouncer", path=SEARCH_PATH)


def pgbouncer_version() -> str | None:
    binary = pgbouncer_binary()
    if binary is None:
        return None
    first = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    return first.splitlines()[0].removeprefix("PgBouncer ").strip() if first else None


def config_text(upstream_url: str, *, port: int, directory: Path, pool_size: int, max_clients: int) -> str:
    """A transaction-pooling config with one database: the upstream's, under its own name."""
    upstream = make_url(upstream_url)
    return "\n".join(
        [
            "[databases]",
            f"{upstream.database} = host={upstream.host} port={upstream.port or 5432} dbname={upstream.database}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {directory / 'userlist.txt'}",
            "pool_mode = transaction",
            f"default_pool_size = {pool_size}",
            f"max_client_conn = {max_clients}",
            "log_connections = 0",
            "log_disconnections = 0",
            "",
        ]
    )


@dataclass(frozen=True)
class RunningPgBouncer:
    url: str
    """The upstream database through PgBouncer (same user, password and database name)."""
    pid: int


@contextmanager
def running_pgbouncer(
    upstream_url: str, *, pool_size: int = 20, max_clients: int = 1000, log_file: Path | None = None
) -> Iterator[RunningPgBouncer]:
    """Run PgBouncer (transaction mode) in front of ``upstream_url`` until the context ends."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (as root: apt-get install pgbouncer; make setup does)")
    upstream = make_url(upstream_url)
    with tempfile.TemporaryDirectory(prefix="agentsuite-pgbouncer-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o755)
        port = free_port()
        (directory / "userlist.txt").write_text(f'"{upstream.username}" "{upstream.password}"\n')
        config = directory / "pgbouncer.ini"
        config.write_text(
            config_text(
                upstream_url, port=port, directory=directory, pool_size=pool_size, max_clients=max_clients
            )
        )
        for path in directory.iterdir():
            path.chmod(0o644)
        command = [binary, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(config)]
        log = (log_file or directory / "pgbouncer.log").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        log.close()
        try:
            _wait_listening(process, port, log_file or directory / "pgbouncer.log")
            url = upstream.set(port=port, host="127.0.0.1").render_as_string(hide_password=False)
            yield RunningPgBouncer(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(process: subprocess.Popen, port: int, log_file: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with code {process.returncode}: {_tail(log_file)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on {port} in {timeout:.0f}s: {_tail(log_file)}")


def _tail(log_file: Path) -> str:
    try:
        return " | ".join(log_file.read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.local_pgbouncer", description=__doc__.splitlines()[0]
    )
    parser.add_argument("database_url")
    parser.add_argument("--pool-size", type=int, default=20, help="server connections per database and user")
    args = parser.parse_args(argv)
    with running_pgbouncer(args.database_url, pool_size=args.pool_size) as bouncer:
        print(bouncer.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
