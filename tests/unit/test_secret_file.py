"""Secrets generated as files: complete or absent, shared by replicas, never weak."""

from __future__ import annotations

import pytest

from services.common.secret_file import configured_or_file, internal_token
from services.common.settings import SettingsError


def test_a_generated_secret_is_written_once_and_then_shared(tmp_path):
    path = tmp_path / "state" / "token"

    first = configured_or_file(None, path, generate=lambda: "a" * 40, variable="X")
    second = configured_or_file(None, path, generate=lambda: "b" * 40, variable="X")

    assert first == second == "a" * 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token"], "no draft is left behind"


def test_a_configured_secret_wins_over_the_file(tmp_path):
    assert configured_or_file(" set ", tmp_path / "t", generate=lambda: "x", variable="X") == "set"
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("weak", ["short", "   " + "x" * 10])
def test_a_weak_internal_token_stops_the_service(tmp_path, weak):
    with pytest.raises(SettingsError, match="at least 32 characters"):
        internal_token(weak, tmp_path)


def test_the_generated_internal_token_is_strong(tmp_path):
    assert len(internal_token(None, tmp_path)) >= 32
