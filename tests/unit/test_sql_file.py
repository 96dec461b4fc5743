"""SQL files: named statements and fragments, named parameters turned into asyncpg's ``$n``."""

from __future__ import annotations

import pytest

from services.common.sql_file import SqlFile, positional

TEXT = """-- What the file is for.

-- fragment: columns
a, b + :offset::bigint AS c

-- name: pick
-- One row.
SELECT {{columns}} FROM t WHERE t.id = :id AND t.tenant = :tenant AND t.other = :id;

-- name: touch
UPDATE t SET at = now() WHERE id = :id
"""


def test_a_statement_numbers_its_parameters_in_order_of_first_use_and_keeps_casts(tmp_path):
    path = tmp_path / "store.sql"
    path.write_text(TEXT)
    statements = SqlFile(path)

    pick = statements["pick"]
    assert pick.sql == (
        "-- One row.\nSELECT a, b + $1::bigint AS c FROM t WHERE t.id = $2 AND t.tenant = $3 AND t.other = $2"
    )
    assert pick.arguments({"tenant": "t1", "id": "x", "offset": 3}) == [3, "x", "t1"]
    assert statements["touch"].names == ("id",)
    assert "columns" not in statements, "a fragment is no statement"


def test_casts_and_text_with_colons_are_not_parameters():
    statement = positional("s", "SELECT x::text, '12:30', :a::int[], ARRAY[1,2][1:2] FROM t")
    assert statement.names == ("a",)
    assert statement.sql == "SELECT x::text, '12:30', $1::int[], ARRAY[1,2][1:2] FROM t"


def test_a_name_defined_twice_or_a_missing_fragment_is_refused(tmp_path):
    twice = tmp_path / "twice.sql"
    twice.write_text("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
    with pytest.raises(ValueError, match="twice"):
        SqlFile(twice)
    missing = tmp_path / "missing.sql"
    missing.write_text("-- name: a\nSELECT {{nothing}};\n")
    with pytest.raises(ValueError, match="no fragment"):
        SqlFile(missing)
