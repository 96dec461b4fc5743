"""``python -m services.migrate [--service NAME]``: apply the migrations of every service (or one)
and exit, for a deployment's one-shot step (a compose service, a Kubernetes Job) before the
services start.

Exit 0 when every schema is at its newest revision; 1 with one line on stderr when the database
cannot be reached or a migration fails; 2 for bad settings or arguments. Safe to run while
replicas start (each schema migrates under an advisory lock, once). It uses
``AGENTSUITE_DATABASE_DIRECT_URL`` (else ``DATABASE_URL``, else the embedded server): migrations
need a session, never a transaction pooler. Prints one line per service: the revisions it applied,
or that the schema was already current.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.common.db import create_engine, domain_error, resolve_database_url, wait_for_database
from services.common.errors import AgentSuiteError
from services.common.migrations import upgrade
from services.common.settings import Settings, SettingsError

SCHEMAS = {"gateway": "gateway", "agent": "agent", "memory": "memory", "tools": "tools"}
"""Each service's schema (its ``store/tables.py`` ``SCHEMA``), in the order they are migrated."""
SERVICES_DIR = Path(__file__).resolve().parent


async def migrate(
    settings: Settings, services: list[str], *, wait_seconds: float = 60.0
) -> dict[str, list[str]]:
    """Migrate each of ``services`` (waiting up to ``wait_seconds`` for the database to answer);
    the revisions applied to each."""
    url = settings.database_direct_url or await asyncio.to_thread(resolve_database_url, settings)
    engine = create_engine(url, settings, pool_size=1)
    try:
        await wait_for_database(engine, timeout=wait_seconds)
        return {
            service: await upgrade(
                engine, schema=SCHEMAS[service], script_location=SERVICES_DIR / service / "migrations"
            )
            for service in services
        }
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=sorted(SCHEMAS), help="only this service's schema")
    parser.add_argument(
        "--wait-seconds", type=float, default=60.0, help="how long to wait for the database to answer (60)"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env("migrate")
    except SettingsError as exc:
        print(f"agentsuite-migrate: {exc}", file=sys.stderr)
        return 2
    services = [args.service] if args.service else list(SCHEMAS)
    try:
        applied = asyncio.run(migrate(settings, services, wait_seconds=args.wait_seconds))
    except Exception as exc:  # one clear line, never a traceback, for a Job's log
        error = exc if isinstance(exc, AgentSuiteError) else domain_error(exc)
        reason = error.message if error is not None else f"{type(exc).__name__}: {exc}"
        print(f"agentsuite-migrate: migration failed: {reason}", file=sys.stderr)
        return 1
    for service, revisions in applied.items():
        done = f"applied {' '.join(revisions)}" if revisions else "already at the newest revision"
        print(f"{service}: {done}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
