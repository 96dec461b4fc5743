"""Tool rules: constraints on how an agent calls its tools, checked on every call of a run.

Four kinds, as in Letta: a *terminal* tool ends the run once it returns; a *run-first* tool must be the
first call of every run; *allowed children* restrict which tools may follow a tool; *max calls* caps
how often a tool runs per run. A call a rule forbids is not executed: the model gets a denied tool
result saying which rule refused it, so it can correct itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.common.errors import Validation

MAX_RULES = 100
MAX_CALLS_CAP = 1_000_000


class RuleKind(StrEnum):
    TERMINAL = "terminal"
    RUN_FIRST = "run_first"
    ALLOWED_CHILDREN = "allowed_children"
    MAX_CALLS = "max_calls"


@dataclass(frozen=True, kw_only=True)
class ToolRule:
    """One rule about one tool."""

    tool_name: str
    kind: RuleKind
    children: tuple[str, ...] = ()
    """For ``ALLOWED_CHILDREN``: the tools that may be called after ``tool_name``."""
    max_calls: int = 0
    """For ``MAX_CALLS``: how many times ``tool_name`` may run per run."""

    def to_json(self) -> dict[str, Any]:
        """The stored (and exported) form."""
        data: dict[str, Any] = {"tool_name": self.tool_name, "kind": self.kind.value}
        if self.kind is RuleKind.ALLOWED_CHILDREN:
            data["children"] = list(self.children)
        if self.kind is RuleKind.MAX_CALLS:
            data["max_calls"] = self.max_calls
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolRule:
        """Read the stored form; raises ``ValueError`` (or ``KeyError``) on a malformed rule."""
        return cls(
            tool_name=str(data["tool_name"]),
            kind=RuleKind(data["kind"]),
            children=tuple(str(c) for c in data.get("children") or ()),
            max_calls=int(data.get("max_calls") or 0),
        )


def check_rules(rules: Iterable[ToolRule], check: Validation, *, field: str = "agent.tool_rules") -> None:
    """Record every malformed rule in ``check``; whether the named tools exist is the caller's part."""
    rules = tuple(rules)
    check.check(len(rules) <= MAX_RULES, field, f"must hold at most {MAX_RULES} rules")
    run_first = [r.tool_name for r in rules if r.kind is RuleKind.RUN_FIRST]
    check.check(len(set(run_first)) <= 1, field, "at most one tool can be run-first")
    for index, rule in enumerate(rules):
        where = f"{field}[{index}]"
        check.check(bool(rule.tool_name), f"{where}.tool_name", "is required")
        if rule.kind is RuleKind.MAX_CALLS:
            check.check(
                0 < rule.max_calls <= MAX_CALLS_CAP,
                f"{where}.max_calls.max_calls",
                f"must be between 1 and {MAX_CALLS_CAP}",
            )
        if rule.kind is RuleKind.ALLOWED_CHILDREN:
            check.check(bool(rule.children), f"{where}.allowed_children.children", "must not be empty")
            check.check(all(rule.children), f"{where}.allowed_children.children", "names must not be empty")


class RunRules:
    """The rules of one agent applied to one run: asks whether a call may run, and whether it ends the run."""

    def __init__(self, rules: Iterable[ToolRule]):
        rules = tuple(rules)
        self._terminal = {r.tool_name for r in rules if r.kind is RuleKind.TERMINAL}
        self._first = next((r.tool_name for r in rules if r.kind is RuleKind.RUN_FIRST), None)
        self._children: dict[str, set[str]] = {}
        for rule in rules:
            if rule.kind is RuleKind.ALLOWED_CHILDREN:
                self._children.setdefault(rule.tool_name, set()).update(rule.children)
        self._max_calls = {r.tool_name: r.max_calls for r in rules if r.kind is RuleKind.MAX_CALLS}

    def is_terminal(self, name: str) -> bool:
        return name in self._terminal

    def allowed_next(self, *, previous: str | None, calls: Mapping[str, int]) -> set[str] | None:
        """The only tools the next call may use, or ``None`` when the rules leave it open (before the
        max-calls caps, which :meth:`refusal` adds)."""
        if not calls and self._first is not None:
            return {self._first}
        if previous is not None and previous in self._children:
            return set(self._children[previous])
        return None

    def exhausted(self, calls: Mapping[str, int]) -> set[str]:
        """Tools that reached their max-calls cap in this run."""
        return {name for name, cap in self._max_calls.items() if calls.get(name, 0) >= cap}

    def refusal(self, name: str, *, previous: str | None, calls: Mapping[str, int]) -> str | None:
        """Why a call to ``name`` is not allowed now (a message for the model), or ``None``."""
        allowed = self.allowed_next(previous=previous, calls=calls)
        if allowed is not None and name not in allowed:
            if not calls and self._first is not None:
                return f"tool rule: {self._first} must be the first call of every run; call it first"
            return f"tool rule: after {previous} only these tools may be called: {', '.join(sorted(allowed))}"
        if name in self._max_calls and calls.get(name, 0) >= self._max_calls[name]:
            return f"tool rule: {name} may be called at most {self._max_calls[name]} times per run"
        return None
