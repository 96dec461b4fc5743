"""The command line's pieces that need no suite: agent files and templates, argument parsing, what
an error says and its exit status, the chat command `up` prints."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agentsuite.client.errors import FieldViolation, InvalidArgument, NotFound, Unauthenticated, Unavailable
from services.cli.agent_files import load_agent_file, load_template, parse_block, parse_model, templates
from services.cli.blocks import diff_lines
from services.cli.context import Target
from services.cli.exits import CliError, ExitCode
from services.cli.messages import parse_time
from services.cli.up import chat_command
from services.common.settings import Settings, default_state_dir


def test_the_default_template_gives_persona_and_human_blocks_and_teaches_the_memory_tools():
    memgpt = load_template("memgpt")

    assert [block.label for block in memgpt.blocks] == ["persona", "human"]
    assert all(block.value and not block.value.endswith("\n") for block in memgpt.blocks)
    for tool in (
        "core_memory_append",
        "core_memory_replace",
        "archival_memory_search",
        "conversation_search",
    ):
        assert tool in memgpt.system_prompt
    assert {"memgpt", "researcher", "plain"} <= set(templates())


def test_anyone_adds_a_template_by_dropping_a_file_in_the_templates_directory(tmp_path, monkeypatch):
    (tmp_path / "pirate.yaml").write_text("system_prompt: Talk like a pirate.\nblocks: {persona: Captain}\n")
    monkeypatch.setenv("AGENTSUITE_TEMPLATES_DIR", str(tmp_path))

    pirate = load_template("pirate")

    assert pirate.system_prompt == "Talk like a pirate." and pirate.blocks[0].value == "Captain"
    with pytest.raises(CliError) as missing:
        load_template("ninja")
    assert missing.value.code is ExitCode.NOT_FOUND and "pirate" in missing.value.message


def test_an_agent_file_names_the_key_it_does_not_know(tmp_path):
    good = tmp_path / "a.yaml"
    good.write_text(
        "name: a\nmodel: openai/gpt-4o\ntools: [lookup]\nblocks:\n  - {label: human, value: Ana, limit: 100}\n"
    )
    bad = tmp_path / "b.yaml"
    bad.write_text("name: b\nsystem_promt: typo\n")

    draft = load_agent_file(good)

    assert (draft.model.provider, draft.model.model, draft.tools, draft.blocks[0].limit) == (
        "openai",
        "gpt-4o",
        ("lookup",),
        100,
    )
    with pytest.raises(CliError) as refused:
        load_agent_file(bad)
    assert refused.value.code is ExitCode.USAGE and "'system_promt'" in refused.value.message


def test_model_and_block_flags():
    assert (parse_model("openai/gpt-4o").provider, parse_model("openai/gpt-4o").model) == ("openai", "gpt-4o")
    assert (parse_model("gpt-4o").provider, parse_model("gpt-4o").model) == ("", "gpt-4o")
    assert parse_model("default") == parse_model("")
    assert (parse_block("human=Ana = nurse").label, parse_block("human=Ana = nurse").value) == (
        "human",
        "Ana = nurse",
    )
    with pytest.raises(CliError):
        parse_block("no equals sign")


def test_times_are_dates_or_a_time_ago():
    assert parse_time("2025-05-01").date().isoformat() == "2025-05-01"
    assert parse_time("2025-05-01T12:00:00+00:00").hour == 12
    assert (parse_time("1h") - parse_time("3h")).total_seconds() == pytest.approx(7200, abs=5)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("yesterday-ish")


def test_errors_read_as_what_to_do_with_an_exit_status_of_their_kind(tmp_path):
    target = Target("127.0.0.1:50051", "ags_x", f"the key file {tmp_path / 'api_key'}", tmp_path / "api_key")

    down = target.explain(Unavailable("failed to connect to all addresses; Connection refused"))
    dependency = target.explain(Unavailable("the memory service is unavailable; retry later"))
    refused = target.explain(Unauthenticated("the API key is not valid"))
    missing = target.explain(NotFound("agent 'x' not found"))
    bad = target.explain(
        InvalidArgument(
            "invalid request", field_violations=[FieldViolation("agent.name", "must not be empty")]
        )
    )

    assert down.code is ExitCode.UNAVAILABLE and "not running" in down.message and "make up" in down.message
    assert dependency.code is ExitCode.UNAVAILABLE and "memory service" in dependency.message
    assert refused.code is ExitCode.UNAUTHENTICATED and str(tmp_path / "api_key") in refused.message
    assert missing.code is ExitCode.NOT_FOUND
    assert bad.code is ExitCode.USAGE and bad.details == ("agent.name: must not be empty",)


def test_up_prints_a_chat_command_that_needs_no_environment():
    default = Settings(service="cli", state_dir=default_state_dir())
    elsewhere = Settings(service="cli", state_dir=Path("/tmp/my suite"))

    assert chat_command(default, "127.0.0.1:50051").split()[1:] == ["chat"]
    assert chat_command(elsewhere, "127.0.0.1:6000").endswith(
        "chat --state-dir '/tmp/my suite' --endpoint 127.0.0.1:6000"
    )


def test_a_block_change_is_the_lines_it_changed():
    assert diff_lines("Name: Ana\nLikes tea.", "Name: Ana\nLikes coffee.\nLisbon") == [
        "- Likes tea.",
        "+ Likes coffee.",
        "+ Lisbon",
    ]
