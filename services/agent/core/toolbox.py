"""The tools of one agent for one run: what the model is offered, and whether a call it made is valid.

A call naming an unknown tool, with arguments that are not a JSON object, or that do not match the
tool's schema is not executed: the model gets a tool error saying exactly what was wrong, so it can
correct itself on the next step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from services.agent.core.tools import ToolDefinition, ToolOutcome
from services.agent.llm import ToolCall, ToolSpec

MAX_SCHEMA_ERRORS = 5


class CustomTools(Protocol):
    """The tools service, as the loop uses it."""

    async def definitions(self, tool_ids: Sequence[str]) -> list[ToolDefinition]:
        """The current definitions of the agent's attached tools."""
        ...

    async def execute(
        self, tool: ToolDefinition, arguments_json: str, *, agent_id: str, run_id: str, key: str
    ) -> ToolOutcome:
        """Run one call in the sandbox, once per ``key`` (a call repeated with the same key is
        answered with the first one's outcome)."""
        ...


@dataclass(frozen=True, kw_only=True)
class CheckedCall:
    """A call the model made, with its tool and parsed arguments, or why it cannot run."""

    call: ToolCall
    tool: ToolDefinition | None = None
    arguments: dict[str, Any] | None = None
    problem: str = ""

    @property
    def valid(self) -> bool:
        return not self.problem


class Toolbox:
    """Built-in and custom tools by name."""

    def __init__(self, tools: Iterable[ToolDefinition]):
        self._tools: dict[str, ToolDefinition] = {tool.name: tool for tool in tools}

    def specs(self, *, only: set[str] | None = None, without: set[str] = frozenset()) -> tuple[ToolSpec, ...]:
        """The tools offered to the model: those the rules still allow."""
        return tuple(
            tool.spec
            for name, tool in self._tools.items()
            if (only is None or name in only) and name not in without
        )

    def check(self, call: ToolCall) -> CheckedCall:
        tool = self._tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return CheckedCall(call=call, problem=f"unknown tool {call.name!r}; the tools you have: {known}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return CheckedCall(call=call, tool=tool, problem=f"the arguments are not valid JSON: {exc}")
        if not isinstance(arguments, dict):
            return CheckedCall(call=call, tool=tool, problem="the arguments must be a JSON object")
        if problems := schema_problems(tool.parameters, arguments):
            return CheckedCall(
                call=call,
                tool=tool,
                problem=f"the arguments do not match the schema of {tool.name}: " + "; ".join(problems),
            )
        return CheckedCall(call=call, tool=tool, arguments=arguments)


def schema_problems(schema: Mapping[str, Any], arguments: dict[str, Any]) -> list[str]:
    """What is wrong with ``arguments`` for ``schema`` (at most a few), or nothing."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    if validator is None:
        return []  # a schema we cannot read is the tools service's concern, not the model's
    problems = []
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path)
        problems.append(f"{where or '(arguments)'}: {error.message}")
        if len(problems) == MAX_SCHEMA_ERRORS:
            break
    return problems


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator | None:
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return Draft202012Validator(schema)
