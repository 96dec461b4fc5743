"""The SQL files of the stores, against the migrated PostgreSQL: every statement is valid, the SQL
functions the migrations made are the ones the files show, and the protobuf bytes one of them
builds are protobuf's own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentsuite.gateway.v1 import gateway_pb2
from services.common.sql_file import SqlFile, parse

ROOT = Path(__file__).resolve().parents[2]
STATEMENT_FILES = sorted(
    path for path in (ROOT / "services").glob("*/store/sql/*.sql") if path.name != "functions.sql"
)
FUNCTIONS = ROOT / "services" / "gateway" / "store" / "sql" / "functions.sql"


def _body(definition: str) -> str:
    """The text between the ``$$`` of a CREATE FUNCTION, whitespace-normalised."""
    return " ".join(definition.split("$$")[1].split())


@pytest.mark.parametrize("path", STATEMENT_FILES, ids=[p.name for p in STATEMENT_FILES])
async def test_every_statement_of_a_store_prepares(migrated_pool, path):
    statements = SqlFile(path)
    async with migrated_pool.acquire() as conn:
        for name in statements.written:
            await conn.prepare(statements[name].sql)  # raises on a typo, a missing column or type


@pytest.mark.parametrize("name", list(parse(FUNCTIONS.read_text())[0]))
async def test_a_migrated_sql_function_is_the_one_in_functions_sql(migrated_pool, name):
    written = parse(FUNCTIONS.read_text())[0][name]
    assert re.match(rf"CREATE FUNCTION gateway\.{name}\(", written)
    migrated = await migrated_pool.fetchval(
        "SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'gateway' AND p.proname = $1",
        name,
    )
    assert migrated is not None, f"gateway.{name} is not in the database"
    assert " ".join(migrated.split()) == _body(written)


@pytest.mark.parametrize("position", [0, 1, 127, 128, 300, 16_384, 2_000_000])
async def test_the_queued_event_built_in_sql_is_protobuf_s_serialization(migrated_pool, position):
    head = gateway_pb2.RunEvent(run_id="r", seq=1)
    built = await migrated_pool.fetchval(
        "SELECT gateway.queued_event($1, $2)", head.SerializeToString(), position
    )
    event = gateway_pb2.RunEvent.FromString(built)
    expected = gateway_pb2.RunEvent(run_id="r", seq=1, queued=gateway_pb2.RunQueued(position=position))
    assert event == expected
    assert event.HasField("queued")
