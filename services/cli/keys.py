"""``agentsuite keys``: the admin command for API keys, straight against the gateway's schema.

It uses the database of a running suite (or ``DATABASE_URL``) and never starts the embedded
PostgreSQL itself: a server it started would either outlive it or be stopped under a suite that
came up meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path

from services.cli.console import Column
from services.cli.context import Context
from services.cli.exits import CliError, ExitCode
from services.cli.parsing import command, noun
from services.common.settings import Settings

GATEWAY_MIGRATIONS = Path(__file__).resolve().parent.parent / "gateway" / "migrations"
COLUMNS = (
    Column("ID", lambda k: k["id"]),
    Column("TENANT", lambda k: k["tenant"]),
    Column("PREFIX", lambda k: f"{k['prefix']}…"),
    Column("NAME", lambda k: k["name"]),
    Column("CREATED", lambda k: f"{k['created_at']:%Y-%m-%d %H:%M}"),
    Column("STATE", lambda k: f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"),
)


def add_commands(commands) -> None:
    group = noun(commands, "keys", "create, list and revoke API keys (admin: uses the database directly)")
    create = command(
        group, "create", "issue a key for a tenant (created if new); shown once", _create, gateway=False
    )
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="", help="what the key is for")
    listing = command(group, "list", "list keys (never the keys themselves)", _list, gateway=False)
    listing.add_argument("--tenant", default=None)
    revoke = command(group, "revoke", "revoke a key, given the key or its id", _revoke, gateway=False)
    revoke.add_argument("key_or_id")
    for sub in (create, listing, revoke):
        sub.add_argument("--state-dir", type=Path, help="state directory of the running suite")


async def gateway_database(settings: Settings):
    """The gateway's schema, migrated (so keys can be managed before the gateway first ran)."""
    from services.common.app import open_database
    from services.gateway.store.tables import SCHEMA

    return await open_database(settings, schema=SCHEMA, migrations=GATEWAY_MIGRATIONS)


async def _store(settings: Settings):
    from services.common.embedded_pg import EmbeddedPostgres
    from services.gateway.store.keys import KeyStore

    url = settings.database_url or await asyncio.to_thread(EmbeddedPostgres(settings.state_dir).running_url)
    if url is None:
        raise CliError(
            f"the suite is down: its database (the embedded PostgreSQL in {settings.state_dir}) is not running.\n"
            "Start the suite with `agentsuite up` (same state directory) in another terminal and try again, "
            "or set DATABASE_URL.",
            ExitCode.UNAVAILABLE,
        )
    engine = await gateway_database(replace(settings, database_url=url))
    return engine, KeyStore(engine)


async def _with_store(context: Context, work):
    from services.common.errors import AgentSuiteError, NotFound

    engine, store = await _store(context.settings)
    try:
        return await work(store)
    except AgentSuiteError as exc:
        raise CliError(
            exc.message, ExitCode.NOT_FOUND if isinstance(exc, NotFound) else ExitCode.USAGE
        ) from None
    finally:
        await engine.dispose()


async def _create(context: Context, args: argparse.Namespace) -> None:
    issued = await _with_store(context, lambda store: store.issue(args.tenant, name=args.name))
    output = context.output
    if output.json_mode:
        output.json({"id": issued.id, "tenant": issued.tenant, "key": issued.key})
        return
    output.out.print(f"tenant: {issued.tenant}\nkey id: {issued.id}\nkey:    {issued.key}", markup=False)
    output.note("The key is shown once and stored only as a hash; keep it now.")


async def _list(context: Context, args: argparse.Namespace) -> None:
    rows = await _with_store(context, lambda store: store.list(args.tenant))
    context.output.table(rows, COLUMNS, empty="no keys")


async def _revoke(context: Context, args: argparse.Namespace) -> None:
    await _with_store(context, lambda store: store.revoke(args.key_or_id))
    context.output.result("revoked", {"revoked": args.key_or_id})
