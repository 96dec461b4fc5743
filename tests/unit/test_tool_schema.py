"""Deriving a tool's OpenAI function schema from its source, by parsing only (never running it)."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.tools.core.docstrings import parse_docstring
from services.tools.core.schema import derive_schema


def params(source: str) -> dict:
    return derive_schema(source).parameters


def prop(annotation: str, default: str | None = None) -> dict:
    tail = f" = {default}" if default is not None else ""
    source = f'from typing import *\n\ndef f(x: {annotation}{tail}):\n    """Do it."""\n'
    return params(source)["properties"]["x"]


def test_google_docstring_gives_summary_and_parameter_descriptions():
    derived = derive_schema(
        '''
def get_weather(city: str, days: int = 1) -> str:
    """Get the weather forecast.

    Looks it up somewhere.

    Args:
        city (str): Name of the city.
        days: How many days,
            counted from today.

    Returns:
        The forecast.
    """
'''
    )

    assert derived.function_name == "get_weather"
    assert derived.description == "Get the weather forecast.\n\nLooks it up somewhere."
    assert derived.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Name of the city."},
            "days": {"type": "integer", "default": 1, "description": "How many days, counted from today."},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


def test_numpy_docstring_gives_summary_and_parameter_descriptions():
    derived = derive_schema(
        '''
def area(width: float, height: float) -> float:
    """Area of a rectangle.

    Parameters
    ----------
    width : float
        The width,
        in metres.
    height : float
        The height.

    Returns
    -------
    float
    """
'''
    )

    assert derived.description == "Area of a rectangle."
    assert derived.parameters["properties"]["width"]["description"] == "The width, in metres."
    assert derived.parameters["properties"]["height"]["description"] == "The height."


def test_docstring_without_sections_is_all_summary():
    assert parse_docstring("Just this.\n\nAnd more.") == parse_docstring("Just this.\n\nAnd more.")
    assert parse_docstring("Just this.").parameters == {}


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        ("str", {"type": "string"}),
        ("int", {"type": "integer"}),
        ("float", {"type": "number"}),
        ("bool", {"type": "boolean"}),
        ("Any", {}),
        ("list", {"type": "array"}),
        ("dict", {"type": "object"}),
        ("list[int]", {"type": "array", "items": {"type": "integer"}}),
        ("List[str]", {"type": "array", "items": {"type": "string"}}),
        ("typing.List[str]", {"type": "array", "items": {"type": "string"}}),
        ("tuple[int, ...]", {"type": "array", "items": {"type": "integer"}}),
        (
            "tuple[int, str]",
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        ("dict[str, float]", {"type": "object", "additionalProperties": {"type": "number"}}),
        ("int | None", {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        ("Optional[str]", {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        ("Union[int, str]", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        ("Literal['c', 'f']", {"type": "string", "enum": ["c", "f"]}),
        ("Literal[1, 2]", {"type": "integer", "enum": [1, 2]}),
        ("Literal['a', 1]", {"enum": ["a", 1]}),
        ("'list[int]'", {"type": "array", "items": {"type": "integer"}}),
        ("Annotated[int, 'meta']", {"type": "integer"}),
        (
            "list[dict[str, int | None]]",
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            },
        ),
    ],
)
def test_each_supported_type_maps_to_its_json_schema(annotation, schema):
    assert prop(annotation) == schema


def test_defaults_make_parameters_optional_and_appear_in_the_schema():
    schema = params(
        '''
def f(a: int, b: str = "x", c: list[int] = [1, 2], d: int = len("abc"), *, e: bool = False, g: float):
    """Do it."""
'''
    )

    assert schema["required"] == ["a", "g"]
    assert schema["properties"]["b"] == {"type": "string", "default": "x"}
    assert schema["properties"]["c"]["default"] == [1, 2]
    assert "default" not in schema["properties"]["d"]  # computed: optional, default not shown
    assert schema["properties"]["e"] == {"type": "boolean", "default": False}


def test_default_none_also_accepts_null():
    assert prop("int", "None") == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert prop("int | None", "None") == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}


def test_typed_dict_becomes_a_nested_object_with_required_fields():
    schema = params(
        '''
from typing import NotRequired, TypedDict

class Address(TypedDict):
    """A postal address.

    Args:
        street: Street and number.
    """
    street: str
    zip: NotRequired[str]

class Options(TypedDict, total=False):
    verbose: bool

def send(to: Address, options: Options, copies: list[Address] | None = None) -> None:
    """Send a letter."""
'''
    )

    address = {
        "type": "object",
        "properties": {
            "street": {"type": "string", "description": "Street and number."},
            "zip": {"type": "string"},
        },
        "required": ["street"],
        "additionalProperties": False,
    }
    assert schema["properties"]["to"] == address
    assert schema["properties"]["options"]["required"] == []
    assert schema["properties"]["copies"]["anyOf"][0] == {"type": "array", "items": address}


def test_async_function_is_a_tool_too():
    assert derive_schema('async def f(x: int):\n    """Do it."""\n').function_name == "f"


def refusal(source: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        derive_schema(source)
    assert caught.value.violations[0].field == "tool.source_code"
    return caught.value.message


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("def f(:\n", "invalid Python"),
        ("x = 1\n", "exactly one top-level function, found 0"),
        ('def f():\n    """A."""\ndef g():\n    """B."""\n', "found 2 (f, g)"),
        ("def f(x: int):\n    return x\n", "needs a docstring"),
        ('def f(x):\n    """Do it."""\n', "parameter 'x' needs a type hint"),
        ('def f(*items: int):\n    """Do it."""\n', "*args is not supported"),
        ('def f(**options: int):\n    """Do it."""\n', "**kwargs is not supported"),
        ('def f(x: int, /):\n    """Do it."""\n', "positional-only"),
        (
            'import datetime\ndef f(when: datetime.datetime):\n    """Do it."""\n',
            "parameter 'when': unsupported type 'datetime.datetime'",
        ),
        ('def f(x: set[int]):\n    """Do it."""\n', "parameter 'x': unsupported type 'set[int]'"),
        ('def f(x: dict[int, str]):\n    """Do it."""\n', "JSON object keys are strings"),
        ('def f(x: Literal[1.5]):\n    """Do it."""\n', "Literal values must be"),
        ('def f(x: Widget):\n    """Do it."""\n', "parameter 'x': unsupported type 'Widget'"),
        (
            'from dataclasses import dataclass\n@dataclass\nclass P:\n    x: int\ndef f(p: P):\n    """Do it."""\n',
            "dataclasses are not supported (use a TypedDict)",
        ),
        (
            'from typing import TypedDict\nclass Node(TypedDict):\n    child: "Node"\ndef f(n: Node):\n    """Do it."""\n',
            "recursive types are not supported",
        ),
        (
            'from typing import TypedDict\nclass P(TypedDict):\n    when: bytes\ndef f(p: P):\n    """Do it."""\n',
            "parameter 'p.when': unsupported type 'bytes'",
        ),
    ],
)
def test_unsupported_source_is_refused_naming_the_problem(source, says):
    assert says in refusal(source)


def test_the_source_is_never_executed():
    # A side effect at import time would create this name; parsing must not.
    derive_schema('import builtins\nbuiltins.PWNED = True\ndef f(x: int):\n    """Do it."""\n')
    import builtins

    assert not hasattr(builtins, "PWNED")
