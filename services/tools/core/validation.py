"""JSON-schema checks: an explicit tool schema against the meta-schema and the OpenAI function shape,
and a call's arguments against the tool's schema (before any process starts)."""

from __future__ import annotations

import json
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from services.common.errors import InvalidArgument
from services.tools.core.schema import FunctionInfo

SCHEMA_FIELD = "tool.json_schema"
MAX_ARGUMENTS_CHARS = 1_000_000
_OPENAI_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def function_schema(name: str, description: str, parameters: dict) -> dict:
    """The OpenAI function-calling form ``{name, description, parameters}``."""
    return {"name": name, "description": description, "parameters": parameters}


def check_explicit_schema(schema: dict, *, tool_name: str, function: FunctionInfo) -> dict:
    """``schema`` in the OpenAI function shape, checked; INVALID_ARGUMENT naming what is wrong.

    Its name must be the tool's name (filled in when absent); its parameters must be a valid JSON
    schema of an object whose properties the function accepts and which requires every parameter
    the function has no default for.
    """
    unknown = set(schema) - {"name", "description", "parameters", "strict"}
    if unknown:
        raise InvalidArgument.field(
            SCHEMA_FIELD, f"unknown keys {sorted(unknown)}; expected name, description, parameters"
        )
    name = schema.get("name", tool_name)
    if name != tool_name:
        raise InvalidArgument.field(
            f"{SCHEMA_FIELD}.name", f"{name!r} differs from the tool's name {tool_name!r}"
        )
    description = schema.get("description", "")
    if not isinstance(description, str):
        raise InvalidArgument.field(f"{SCHEMA_FIELD}.description", "must be a string")
    parameters = schema.get("parameters")
    if not isinstance(parameters, dict):
        raise InvalidArgument.field(f"{SCHEMA_FIELD}.parameters", "required, a JSON schema object")
    try:
        Draft202012Validator.check_schema(parameters)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path)
        raise InvalidArgument.field(
            f"{SCHEMA_FIELD}.parameters", f"not a valid JSON schema at '{path}': {exc.message[:300]}"
        ) from None
    if parameters.get("type") != "object":
        raise InvalidArgument.field(f"{SCHEMA_FIELD}.parameters.type", "must be 'object'")
    properties = parameters.get("properties", {})
    required = parameters.get("required", [])
    if not function.takes_kwargs:
        extra = sorted(set(properties) - set(function.parameter_names))
        if extra:
            raise InvalidArgument.field(
                f"{SCHEMA_FIELD}.parameters.properties",
                f"{extra} are not parameters of {function.name}()",
            )
    missing = sorted(set(function.required) - set(required))
    if missing:
        raise InvalidArgument.field(
            f"{SCHEMA_FIELD}.parameters.required",
            f"must list {missing}: {function.name}() has no default for them",
        )
    checked = function_schema(name, description, parameters)
    if "strict" in schema:
        checked["strict"] = bool(schema["strict"])
    return checked


def check_tool_name(name: str, field: str = "tool.name") -> None:
    """A tool name is a Python identifier the OpenAI API accepts (1 to 64 characters)."""
    if not name:
        raise InvalidArgument.field(field, "is required")
    if not (name.isidentifier() and _OPENAI_NAME.match(name)):
        raise InvalidArgument.field(field, f"{name[:80]!r} is not an identifier of at most 64 characters")


def parse_arguments(arguments_json: str, schema: dict, *, field: str = "arguments_json") -> dict:
    """The call's arguments: a JSON object that satisfies the tool's parameters schema."""
    if len(arguments_json) > MAX_ARGUMENTS_CHARS:
        raise InvalidArgument.field(field, f"must be at most {MAX_ARGUMENTS_CHARS} characters")
    try:
        arguments = json.loads(arguments_json) if arguments_json.strip() else {}
    except ValueError as exc:
        raise InvalidArgument.field(field, f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(arguments, dict):
        raise InvalidArgument.field(field, "must be a JSON object")
    parameters = schema.get("parameters") or {"type": "object"}
    errors = sorted(Draft202012Validator(parameters).iter_errors(arguments), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        raise InvalidArgument.field(
            field, f"does not match the tool's schema at {where}: {first.message[:300]}"
        )
    return arguments
