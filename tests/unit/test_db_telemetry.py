"""A SQL statement is named by its operation only: never its text, so never a value in it."""

from __future__ import annotations

from services.common.db_telemetry import operation_of


def test_a_statement_is_named_by_its_first_keyword():
    assert operation_of("SELECT 1") == "SELECT"
    assert operation_of("\n  with x as (select 1) insert into t select * from x") == "WITH"
    assert operation_of("-- a comment\nUPDATE t SET a = 'secret' WHERE id = 3") == "UPDATE"


def test_anything_else_is_other_and_never_its_text():
    assert operation_of("'secret' is not sql") == "OTHER"
    assert operation_of("") == "OTHER"
    assert operation_of("frobnicate everything") == "OTHER"
