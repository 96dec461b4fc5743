"""``agentsuite keys``: the admin command for API keys, straight against the gateway's schema.

It uses the database of a running suite (or ``DATABASE_URL``) and never starts the embedded
PostgreSQL itself: a server it started would either outlive it or be stopped under a suite that
came up meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.app import open_database
from services.common.embedded_pg import EmbeddedPostgres
from services.common.errors import AgentSuiteError
from services.common.settings import Settings
from services.gateway.store.keys import KeyStore
from services.gateway.store.tables import SCHEMA

GATEWAY_MIGRATIONS = Path(__file__).resolve().parent.parent / "gateway" / "migrations"


async def gateway_database(settings: Settings) -> AsyncEngine:
    """The gateway's schema, migrated (so keys can be managed before the gateway first ran)."""
    return await open_database(settings, schema=SCHEMA, migrations=GATEWAY_MIGRATIONS)


async def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.database_url or await asyncio.to_thread(EmbeddedPostgres(settings.state_dir).running_url)
    if url is None:
        print(
            f"agentsuite keys: the suite is down: its database (the embedded PostgreSQL in "
            f"{settings.state_dir}) is not running.\nStart the suite with `agentsuite up` (same state "
            "directory) in another terminal and try again, or set DATABASE_URL.",
            file=sys.stderr,
        )
        return 1
    engine = await gateway_database(replace(settings, database_url=url))
    store = KeyStore(engine)
    try:
        if args.keys_command == "create":
            issued = await store.issue(args.tenant, name=args.name)
            print(f"tenant: {issued.tenant}\nkey id: {issued.id}\nkey:    {issued.key}")
            print("The key is shown once and stored only as a hash; keep it now.")
        elif args.keys_command == "revoke":
            await store.revoke(args.key_or_id)
            print("revoked")
        else:
            for row in await store.list(args.tenant):
                state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
                print(f"{row['id']}  {row['tenant']:<20} {row['prefix']}…  {row['name'] or '-':<16} {state}")
        return 0
    except AgentSuiteError as exc:
        print(f"agentsuite keys: {exc.message}")
        return 1
    finally:
        await engine.dispose()
