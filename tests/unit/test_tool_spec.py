"""Tool definitions: defaults from the source, explicit schemas, updates, arguments, the gate."""

from __future__ import annotations

import asyncio

import pytest

from services.common.errors import InvalidArgument, ResourceExhausted
from services.tools.core.executor import ExecutionGate
from services.tools.core.tools import ToolDraft, apply_update, build_spec
from services.tools.core.validation import parse_arguments

SOURCE = '''
def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: The first.
    """
    return a + b
'''
PARAMETERS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a"],
}


def build(**fields) -> object:
    return build_spec(ToolDraft(**{"source_code": SOURCE, **fields}), max_timeout_seconds=300)


def test_name_and_description_default_to_the_function_and_its_docstring():
    spec = build()

    assert (spec.name, spec.description, spec.function_name) == ("add", "Add two numbers.", "add")
    assert spec.json_schema["name"] == "add"
    assert spec.json_schema["description"] == "Add two numbers."
    assert spec.json_schema["parameters"]["required"] == ["a"]


def test_a_given_name_and_description_win_and_reach_the_schema():
    spec = build(name="plus", description="Adds.")

    assert spec.json_schema["name"] == "plus"
    assert spec.json_schema["description"] == "Adds."
    assert spec.function_name == "add"


def test_an_explicit_schema_is_validated_and_kept():
    spec = build(json_schema={"name": "add", "description": "Sum.", "parameters": PARAMETERS})

    assert spec.json_schema == {"name": "add", "description": "Sum.", "parameters": PARAMETERS}


@pytest.mark.parametrize(
    ("schema", "field", "says"),
    [
        (
            {"name": "other", "parameters": PARAMETERS},
            "tool.json_schema.name",
            "differs from the tool's name",
        ),
        (
            {"parameters": {"type": "object", "properties": {"a": {"type": "integr"}}, "required": ["a"]}},
            "tool.json_schema.parameters",
            "not a valid JSON schema",
        ),
        ({"parameters": {"type": "array"}}, "tool.json_schema.parameters.type", "must be 'object'"),
        ({"description": "x"}, "tool.json_schema.parameters", "required"),
        (
            {"parameters": {"type": "object", "properties": {"a": {}}, "required": []}},
            "tool.json_schema.parameters.required",
            "must list ['a']",
        ),
        (
            {"parameters": {"type": "object", "properties": {"a": {}, "zz": {}}, "required": ["a"]}},
            "tool.json_schema.parameters.properties",
            "['zz'] are not parameters of add()",
        ),
        ({"parameters": PARAMETERS, "extra": 1}, "tool.json_schema", "unknown keys ['extra']"),
    ],
)
def test_a_bad_explicit_schema_is_refused_naming_the_field(schema, field, says):
    with pytest.raises(InvalidArgument) as caught:
        build(json_schema=schema)

    assert caught.value.violations[0].field == field
    assert says in caught.value.violations[0].description


def test_an_explicit_schema_lets_unsupported_types_through():
    source = 'import datetime\ndef when(at: datetime.date):\n    """Parse."""\n'
    schema = {"parameters": {"type": "object", "properties": {"at": {"type": "string"}}, "required": ["at"]}}

    spec = build_spec(ToolDraft(source_code=source, json_schema=schema), max_timeout_seconds=300)

    assert spec.json_schema["parameters"]["properties"]["at"] == {"type": "string"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "not a name"}, "tool.name"),
        ({"secret_names": ("PATH",)}, "tool.secret_names"),
        ({"secret_names": ("LD_PRELOAD",)}, "tool.secret_names"),
        ({"secret_names": ("1BAD",)}, "tool.secret_names"),
        ({"timeout_seconds": 0.0}, "tool.timeout"),
        ({"timeout_seconds": 301.0}, "tool.timeout"),
        ({"result_char_limit": -1}, "tool.result_char_limit"),
        ({"tags": ("",)}, "tool.tags"),
    ],
)
def test_bad_flags_are_refused_naming_the_field(fields, field):
    with pytest.raises(InvalidArgument) as caught:
        build(**fields)

    assert caught.value.violations[0].field == field


def test_new_source_without_a_schema_re_derives_schema_and_description():
    current = build()
    new_source = (
        'def add(a: int, b: int, c: int) -> int:\n    """Add three numbers."""\n    return a + b + c\n'
    )

    updated = apply_update(
        current, ToolDraft(source_code=new_source), ["source_code"], max_timeout_seconds=300
    )

    assert updated.json_schema["parameters"]["required"] == ["a", "b", "c"]
    assert updated.description == "Add three numbers."


def test_renaming_carries_the_new_name_into_the_schema_and_keeps_the_rest():
    current = build(tags=("math",))

    updated = apply_update(current, ToolDraft(name="plus"), ["name"], max_timeout_seconds=300)

    assert updated.name == "plus"
    assert updated.json_schema["name"] == "plus"
    assert updated.json_schema["parameters"] == current.json_schema["parameters"]
    assert updated.tags == ("math",)


def test_updating_an_unknown_path_is_refused():
    with pytest.raises(InvalidArgument) as caught:
        apply_update(build(), ToolDraft(), ["id"], max_timeout_seconds=300)

    assert caught.value.violations[0].field == "update_mask"


def test_arguments_must_be_a_json_object_matching_the_schema():
    schema = build().json_schema

    assert parse_arguments('{"a": 1}', schema) == {"a": 1}
    assert parse_arguments("", {"parameters": {"type": "object"}}) == {}
    for bad, says in [
        ("[1]", "JSON object"),
        ("{", "not JSON"),
        ('{"a": "x"}', "at a"),
        ("{}", "'a' is a required"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            parse_arguments(bad, schema)
        assert says in caught.value.violations[0].description


async def test_the_gate_queues_up_to_its_bound_then_refuses():
    gate = ExecutionGate(running=1, queued=1)
    release = asyncio.Event()

    async def hold():
        async with gate:
            await release.wait()

    running = asyncio.create_task(hold())
    await asyncio.sleep(0)
    queued = asyncio.create_task(hold())
    await asyncio.sleep(0)

    with pytest.raises(ResourceExhausted):
        async with gate:
            pass
    release.set()
    await asyncio.gather(running, queued)
    async with gate:  # free again
        pass
