"""Updating an agent by field mask, and the rules about the tools an agent has: every refusal names
its field, so a caller fixes a request in one go."""

from __future__ import annotations

import uuid

import pytest

from agentsuite.agent.v1 import agent_pb2
from services.agent.api.convert import tool_rule_to_proto, tool_rules_from_proto
from services.agent.core.agents import (
    BUILTIN_TOOL_NAMES,
    WRITABLE,
    AgentSpec,
    ModelChoice,
    apply_update,
    check_attached_tools,
    update_paths,
)
from services.agent.core.builtin_tools import BUILTIN_TOOLS
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.common.errors import InvalidArgument, Validation

LOOKUP, SEND = str(uuid.uuid4()), str(uuid.uuid4())
CURRENT = AgentSpec(
    name="helper",
    system_prompt="old",
    model=ModelChoice(provider="openai", model="gpt-x", temperature=0.5, max_output_tokens=100),
    tags=("a",),
    max_steps=5,
)
CHANGES = AgentSpec(
    name="",
    system_prompt="new",
    model=ModelChoice(provider="scripted", model="other", temperature=None),
    tags=("b",),
)


def test_a_mask_changes_only_the_fields_it_names():
    merged = apply_update(CURRENT, CHANGES, update_paths(["system_prompt", "model.model"]))

    assert merged.system_prompt == "new"
    assert merged.model == ModelChoice(
        provider="openai", model="other", temperature=0.5, max_output_tokens=100
    )
    assert (merged.name, merged.tags, merged.max_steps) == ("helper", ("a",), 5)


def test_a_masked_field_left_unset_is_cleared():
    merged = apply_update(CURRENT, CHANGES, update_paths(["model.temperature", "max_steps"]))

    assert (merged.model.temperature, merged.max_steps) == (None, 0)


def test_model_as_a_whole_takes_every_model_field():
    assert apply_update(CURRENT, CHANGES, update_paths(["model"])).model == CHANGES.model


def test_an_empty_mask_means_every_writable_field():
    assert update_paths([]) == frozenset(WRITABLE)
    assert apply_update(CURRENT, CHANGES, update_paths([])) == CHANGES


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("archive_id", "output only"),
        ("create_time", "output only"),
        ("id", "output only"),
        ("block_ids", "output only"),
        ("colour", "unknown path"),
        ("model.colour", "unknown path"),
        ("model.", "unknown path"),
    ],
)
def test_output_only_and_unknown_paths_are_refused_on_update_mask(path, says):
    with pytest.raises(InvalidArgument) as caught:
        update_paths(["name", path])

    [violation] = caught.value.violations
    assert violation.field == "update_mask"
    assert says in violation.description and path in violation.description


def violations(spec: AgentSpec, names: dict[str, str]) -> dict[str, str]:
    check = Validation()
    check_attached_tools(spec, names, check)
    return {v.field: v.description for v in check.violations}


def test_rules_may_name_attached_and_built_in_tools():
    spec = AgentSpec(
        name="a",
        model=CURRENT.model,
        tool_ids=(LOOKUP,),
        tool_rules=(
            ToolRule(tool_name="lookup", kind=RuleKind.ALLOWED_CHILDREN, children=("conversation_search",)),
            ToolRule(tool_name="send_message_to_agent_async", kind=RuleKind.TERMINAL),
        ),
    )

    assert violations(spec, {LOOKUP: "lookup"}) == {}


def test_a_rule_naming_a_tool_the_agent_cannot_call_is_named():
    spec = AgentSpec(
        name="a",
        model=CURRENT.model,
        tool_ids=(LOOKUP,),
        tool_rules=(
            ToolRule(tool_name="lookup", kind=RuleKind.ALLOWED_CHILDREN, children=("ghost",)),
            ToolRule(tool_name="phantom", kind=RuleKind.TERMINAL),
        ),
    )

    assert set(violations(spec, {LOOKUP: "lookup"})) == {
        "agent.tool_rules[0].allowed_children.children",
        "agent.tool_rules[1].tool_name",
    }


def test_tools_clashing_with_a_built_in_or_with_each_other_are_named():
    spec = AgentSpec(name="a", model=CURRENT.model, tool_ids=(LOOKUP, SEND))

    assert "built-in" in violations(spec, {LOOKUP: "core_memory_append", SEND: "send"})["agent.tool_ids[0]"]
    assert "distinct" in violations(spec, {LOOKUP: "send", SEND: "send"})["agent.tool_ids[1]"]


def test_tool_ids_must_be_distinct_uuids():
    spec = AgentSpec(name="a", model=CURRENT.model, tool_ids=(LOOKUP, "nope", LOOKUP))

    with pytest.raises(InvalidArgument) as caught:
        spec.validate()

    assert [v.field for v in caught.value.violations] == ["agent.tool_ids[1]", "agent.tool_ids[2]"]


def test_tool_rules_convert_to_protobuf_and_back():
    rules = (
        ToolRule(tool_name="a", kind=RuleKind.TERMINAL),
        ToolRule(tool_name="b", kind=RuleKind.RUN_FIRST),
        ToolRule(tool_name="c", kind=RuleKind.ALLOWED_CHILDREN, children=("a", "b")),
        ToolRule(tool_name="d", kind=RuleKind.MAX_CALLS, max_calls=2),
    )

    messages = [tool_rule_to_proto(rule) for rule in rules]

    assert [m.WhichOneof("rule") for m in messages] == [
        "terminal",
        "run_first",
        "allowed_children",
        "max_calls",
    ]
    assert tool_rules_from_proto(messages) == rules


def test_a_proto_rule_without_its_kind_is_named():
    with pytest.raises(InvalidArgument) as caught:
        tool_rules_from_proto(
            [agent_pb2.ToolRule(tool_name="a", terminal={}), agent_pb2.ToolRule(tool_name="b")]
        )

    assert [v.field for v in caught.value.violations] == ["agent.tool_rules[1]"]


def test_the_built_in_names_rules_may_use_are_the_loops_built_in_tools():
    assert BUILTIN_TOOL_NAMES == tuple(tool.name for tool in BUILTIN_TOOLS)
