"""The rules a new agent must satisfy: every broken rule is named, so a caller fixes a request in one go."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.agent.core.agents import (
    DEFAULT_MAX_STEPS,
    MAX_NAME,
    MAX_SYSTEM_PROMPT,
    MAX_TAG,
    MAX_TAGS,
    Agent,
    AgentSpec,
    ModelChoice,
)
from services.agent.core.tool_rules import RuleKind, ToolRule
from services.common.errors import InvalidArgument

GOOD = AgentSpec(
    name="helper",
    system_prompt="You help.",
    model=ModelChoice(provider="scripted", model="scripted", temperature=0.7, max_output_tokens=100),
    tags=("support", "eu"),
    max_steps=10,
)


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def violated_fields(spec: AgentSpec) -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        spec.validate()
    return [v.field for v in caught.value.violations]


def test_good_spec_passes():
    GOOD.validate()


def test_limits_themselves_are_allowed():
    replace(
        GOOD,
        name="n" * MAX_NAME,
        system_prompt="p" * MAX_SYSTEM_PROMPT,
        tags=(*(f"t{i}" for i in range(MAX_TAGS - 1)), "x" * MAX_TAG),
        model=replace(GOOD.model, temperature=2.0, context_window=0, max_output_tokens=0),
        max_steps=1000,
    ).validate()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "   "}, "agent.name"),
        ({"name": "n" * (MAX_NAME + 1)}, "agent.name"),
        ({"system_prompt": "p" * (MAX_SYSTEM_PROMPT + 1)}, "agent.system_prompt"),
        ({"tags": tuple(f"t{i}" for i in range(MAX_TAGS + 1))}, "agent.tags"),
        ({"tags": ("ok", "")}, "agent.tags"),
        ({"tags": ("x" * (MAX_TAG + 1),)}, "agent.tags"),
        ({"model": replace(GOOD.model, context_window=-1)}, "agent.model.context_window"),
        ({"model": replace(GOOD.model, temperature=-0.1)}, "agent.model.temperature"),
        ({"model": replace(GOOD.model, temperature=2.1)}, "agent.model.temperature"),
        ({"model": replace(GOOD.model, max_output_tokens=-5)}, "agent.model.max_output_tokens"),
        ({"max_steps": -1}, "agent.max_steps"),
        ({"max_steps": 1001}, "agent.max_steps"),
        # What PostgreSQL or protobuf cannot hold is a field violation, never INTERNAL.
        ({"name": "bad\x00name"}, "agent.name"),
        ({"system_prompt": "\x00"}, "agent.system_prompt"),
        ({"tags": ("a\x00",)}, "agent.tags"),
        ({"metadata": {"score": float("nan")}}, "agent.metadata"),
        ({"metadata": {"k": "v\x00"}}, "agent.metadata"),
        ({"metadata": nested(40)}, "agent.metadata"),
        ({"model": replace(GOOD.model, context_window=2**40)}, "agent.model.context_window"),
        (
            {
                "tool_rules": (
                    ToolRule(tool_name="conversation_search", kind=RuleKind.MAX_CALLS, max_calls=2**40),
                )
            },
            "agent.tool_rules[0].max_calls.max_calls",
        ),
    ],
)
def test_each_broken_rule_names_its_field(change, field):
    assert violated_fields(replace(GOOD, **change)) == [field]


def test_every_bad_field_is_named_in_one_error():
    bad = replace(
        GOOD,
        name="",
        system_prompt="p" * (MAX_SYSTEM_PROMPT + 1),
        tags=("",),
        model=ModelChoice(
            provider="scripted", model="m", context_window=-1, temperature=3.0, max_output_tokens=-1
        ),
        max_steps=5000,
    )

    with pytest.raises(InvalidArgument) as caught:
        bad.validate()

    assert [v.field for v in caught.value.violations] == [
        "agent.name",
        "agent.system_prompt",
        "agent.tags",
        "agent.model.context_window",
        "agent.model.temperature",
        "agent.model.max_output_tokens",
        "agent.max_steps",
    ]
    for field in ("agent.name", "agent.system_prompt", "agent.max_steps"):
        assert field in caught.value.message


def test_persisted_agent_without_a_step_limit_uses_the_default():
    now = datetime.now(UTC)
    agent = Agent(name="helper", model=GOOD.model, id="a-1", created_at=now, updated_at=now)

    assert agent.step_limit == DEFAULT_MAX_STEPS
    assert replace(agent, max_steps=3).step_limit == 3
