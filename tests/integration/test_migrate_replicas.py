"""Migrations with many replicas at once: ten ``python -m services.migrate`` processes started
together against a fresh database apply each revision exactly once, and every one of them ends
successfully with every schema at its newest revision."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import asyncpg
from alembic.script import ScriptDirectory

from services.common.migrations import alembic_config
from services.migrate import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 10


def heads() -> dict[str, str]:
    return {
        service: ScriptDirectory.from_config(
            alembic_config(schema, ROOT / "services" / service / "migrations")
        ).get_current_head()
        for service, schema in SCHEMAS.items()
    }


def every_revision(service: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(service, ROOT / "services" / service / "migrations"))
    return [revision.revision for revision in script.walk_revisions()]


async def run_migrate(url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": url, "AGENTSUITE_LOG_LEVEL": "WARNING"}
    env.pop("AGENTSUITE_DATABASE_DIRECT_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.migrate",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


def applied_by(output: str) -> dict[str, list[str]]:
    """``{service: [revisions]}`` from the command's lines ``<service>: applied <rev> <rev>``."""
    applied = {}
    for line in output.splitlines():
        service, _, rest = line.partition(": ")
        applied[service] = rest.removeprefix("applied ").split() if rest.startswith("applied ") else []
    return applied


async def test_ten_replicas_at_once_migrate_a_fresh_database_once_and_all_end_ready(fresh_database):
    results = await asyncio.gather(*(run_migrate(fresh_database) for _ in range(REPLICAS)))

    assert [code for code, _, _ in results] == [0] * REPLICAS, [err for _, _, err in results]
    for service in SCHEMAS:
        runs = Counter(rev for _, out, _ in results for rev in applied_by(out)[service])
        assert runs == Counter(every_revision(service)), f"{service}: each revision applied once, got {runs}"
    connection = await asyncpg.connect(fresh_database)
    try:
        for service, head in heads().items():
            assert (
                await connection.fetchval(f"SELECT version_num FROM {SCHEMAS[service]}.alembic_version")
                == head
            )
    finally:
        await connection.close()


async def test_migrating_a_current_schema_applies_nothing_and_succeeds(fresh_database):
    assert (await run_migrate(fresh_database, "--service", "memory"))[0] == 0

    code, out, _ = await run_migrate(fresh_database, "--service", "memory")

    assert (code, out.strip()) == (0, "memory: already at the newest revision")


async def test_an_unreachable_database_fails_with_one_clear_line_and_exit_code_1(fresh_database):
    from services.common.ports import free_port

    code, out, err = await run_migrate(
        f"postgresql://nobody:x@127.0.0.1:{free_port()}/none", "--service", "tools", "--wait-seconds", "0.5"
    )

    assert code == 1 and out == ""
    assert err.startswith("agentsuite-migrate: migration failed: database unreachable")
    assert "Traceback" not in err
