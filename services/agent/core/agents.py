"""Agents: what one is, the rules a new or changed agent must satisfy, and how an update merges."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Protocol

from services.agent.core.tool_rules import ToolRule, check_rules
from services.common.errors import Validation
from services.common.ids import is_uuid
from services.common.values import MAX_INT32, has_nul, value_problem

MAX_NAME = 200
MAX_SYSTEM_PROMPT = 100_000
MAX_TAGS = 64
MAX_TAG = 100
MAX_TOOLS = 100
DEFAULT_CONTEXT_WINDOW = 128_000
DEFAULT_MAX_STEPS = 50

BUILTIN_TOOL_NAMES = (
    "core_memory_append",
    "core_memory_replace",
    "core_memory_insert",
    "core_memory_rewrite",
    "archival_memory_insert",
    "archival_memory_search",
    "conversation_search",
    "send_message_to_agent_and_wait_for_reply",
    "send_message_to_agent_async",
    "send_message_to_agents_matching_tags",
)
"""Tools every agent has, run by the agent service itself. Tool rules may name them; a custom tool
may not take one of these names."""


@dataclass(frozen=True, kw_only=True)
class ModelChoice:
    """Which provider and model an agent talks to, and how."""

    provider: str
    model: str
    context_window: int = DEFAULT_CONTEXT_WINDOW
    temperature: float | None = None
    max_output_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class ModelCatalog:
    """The providers this agent service has, and what an agent that names none gets."""

    providers: tuple[str, ...]
    default_provider: str
    default_model: str

    def resolve(self, choice: ModelChoice) -> ModelChoice:
        """The provider and model a run of an agent with ``choice`` calls.

        An agent keeps an empty provider or model as empty: it follows the suite's default as
        configured when each run starts, so an agent made while the offline model was the default
        uses the real provider once one is configured. Naming them pins them."""
        return replace(
            choice,
            provider=choice.provider or self.default_provider,
            model=choice.model or self.default_model,
            context_window=choice.context_window or DEFAULT_CONTEXT_WINDOW,
        )

    def check(self, choice: ModelChoice, check: Validation, *, field: str = "agent.model.provider") -> None:
        check.check(
            not choice.provider or choice.provider in self.providers,
            field,
            f"unknown provider {choice.provider!r}; known: {', '.join(self.providers)}",
        )


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """What a caller asks for when creating an agent."""

    name: str
    description: str = ""
    system_prompt: str = ""
    model: ModelChoice
    tool_ids: tuple[str, ...] = ()
    tool_rules: tuple[ToolRule, ...] = ()
    tags: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    max_steps: int = 0

    def validate(self) -> None:
        """Raise InvalidArgument naming every field that breaks a rule."""
        check = Validation()
        self.record_violations(check)
        check.raise_if_any()

    def record_violations(self, check: Validation) -> None:
        """Record every field that breaks a rule in ``check``; whether the attached tools exist and
        what they are called is :func:`check_attached_tools`'s part."""
        check.check(bool(self.name.strip()), "agent.name", "must not be empty")
        check.check(len(self.name) <= MAX_NAME, "agent.name", f"must be at most {MAX_NAME} characters")
        check.check(
            len(self.system_prompt) <= MAX_SYSTEM_PROMPT,
            "agent.system_prompt",
            f"must be at most {MAX_SYSTEM_PROMPT} characters",
        )
        check.check(len(self.tags) <= MAX_TAGS, "agent.tags", f"must hold at most {MAX_TAGS} tags")
        check.check(
            all(0 < len(tag) <= MAX_TAG for tag in self.tags),
            "agent.tags",
            f"each tag must be 1 to {MAX_TAG} characters",
        )
        for field_name, text in (
            ("name", self.name),
            ("description", self.description),
            ("system_prompt", self.system_prompt),
            ("model.provider", self.model.provider),
            ("model.model", self.model.model),
        ):
            check.check(not has_nul(text), f"agent.{field_name}", "must not contain NUL characters")
        check.check(
            not any(has_nul(tag) for tag in self.tags), "agent.tags", "must not contain NUL characters"
        )
        problem = value_problem(self.metadata)
        check.check(problem is None, "agent.metadata", problem or "")
        check.check(
            0 <= self.model.context_window <= MAX_INT32,
            "agent.model.context_window",
            f"from 0 to {MAX_INT32}",
        )
        check.check(
            self.model.temperature is None or 0.0 <= self.model.temperature <= 2.0,
            "agent.model.temperature",
            "must be between 0 and 2",
        )
        check.check(
            0 <= self.model.max_output_tokens <= MAX_INT32,
            "agent.model.max_output_tokens",
            f"from 0 to {MAX_INT32}",
        )
        _check_tool_ids(self.tool_ids, check)
        check_rules(self.tool_rules, check)
        check.check(0 <= self.max_steps <= 1000, "agent.max_steps", "must be between 0 (default) and 1000")


def _check_tool_ids(tool_ids: tuple[str, ...], check: Validation) -> None:
    check.check(len(tool_ids) <= MAX_TOOLS, "agent.tool_ids", f"must hold at most {MAX_TOOLS} tools")
    seen: set[str] = set()
    for index, tool_id in enumerate(tool_ids):
        where = f"agent.tool_ids[{index}]"
        check.check(is_uuid(tool_id), where, f"{tool_id[:64]!r} is not a valid id (a UUID)")
        check.check(tool_id not in seen, where, f"tool {tool_id} is attached twice")
        seen.add(tool_id)


def check_attached_tools(spec: AgentSpec, names: Mapping[str, str], check: Validation) -> None:
    """Record attached tools whose names clash (with a built-in tool or with each other) and rules
    naming a tool the agent cannot call. ``names`` maps each of ``spec.tool_ids`` to its name."""
    first: dict[str, int] = {}
    for index, tool_id in enumerate(spec.tool_ids):
        name = names[tool_id]
        where = f"agent.tool_ids[{index}]"
        if name in BUILTIN_TOOL_NAMES:
            check.check(False, where, f"tool {tool_id} is named {name!r}, the name of a built-in tool")
        elif name in first:
            check.check(
                False,
                where,
                f"tool {tool_id} is named {name!r} like agent.tool_ids[{first[name]}]; "
                "an agent's tools need distinct names",
            )
        else:
            first[name] = index
    callable_names = set(first) | set(BUILTIN_TOOL_NAMES)
    for index, rule in enumerate(spec.tool_rules):
        where = f"agent.tool_rules[{index}]"
        if rule.tool_name and rule.tool_name not in callable_names:
            check.check(False, f"{where}.tool_name", _not_callable(rule.tool_name))
        for child in rule.children:
            if child and child not in callable_names:
                check.check(False, f"{where}.allowed_children.children", _not_callable(child))


def _not_callable(name: str) -> str:
    return f"{name[:80]!r} is neither a tool attached to the agent nor a built-in tool"


@dataclass(frozen=True, kw_only=True)
class Agent(AgentSpec):
    """A persisted agent."""

    id: str
    archive_id: str = ""
    block_ids: tuple[str, ...] = ()
    """The core memory blocks attached to it, as memory says (filled for single-agent answers)."""
    created_at: datetime
    updated_at: datetime

    @property
    def step_limit(self) -> int:
        return self.max_steps or DEFAULT_MAX_STEPS

    def spec(self) -> AgentSpec:
        """The caller-settable part of the agent."""
        return AgentSpec(**{f.name: getattr(self, f.name) for f in fields(AgentSpec)})


@dataclass(frozen=True, kw_only=True)
class InitialBlock:
    """A core memory block a new agent starts with: created from its fields, or an existing
    (shared) block attached by ``block_id``. Memory validates and stores it."""

    label: str = ""
    value: str = ""
    limit: int = 0
    read_only: bool = False
    description: str = ""
    metadata: dict = field(default_factory=dict)
    block_id: str = ""


# --- updates -------------------------------------------------------------------------------------

WRITABLE = (
    "name",
    "description",
    "system_prompt",
    "model",
    "tool_ids",
    "tool_rules",
    "tags",
    "metadata",
    "max_steps",
)
"""Fields an update may change; an empty update mask means all of them."""
MODEL_FIELDS = ("provider", "model", "context_window", "temperature", "max_output_tokens")
"""Fields of the model an update may change one by one (``model.<field>``)."""
OUTPUT_ONLY = ("id", "block_ids", "archive_id", "create_time", "update_time")


def update_paths(paths: Iterable[str]) -> frozenset[str]:
    """The fields an update mask names: every writable one for an empty mask; InvalidArgument on
    ``update_mask`` for an output-only or unknown path."""
    paths = tuple(paths)
    if not paths:
        return frozenset(WRITABLE)
    writable = {*WRITABLE, *(f"model.{name}" for name in MODEL_FIELDS)}
    check = Validation()
    for path in paths:
        if path in OUTPUT_ONLY or path.split(".")[0] in OUTPUT_ONLY:
            check.check(False, "update_mask", f"{path!r} is output only")
        else:
            check.check(
                path in writable,
                "update_mask",
                f"unknown path {path[:80]!r}; updatable: {', '.join(WRITABLE)}, model.<{'|'.join(MODEL_FIELDS)}>",
            )
    check.raise_if_any()
    return frozenset(paths)


def apply_update(current: AgentSpec, changes: AgentSpec, paths: Collection[str]) -> AgentSpec:
    """``current`` with the fields named in ``paths`` (from :func:`update_paths`) taken from
    ``changes``."""
    model = changes.model
    if "model" not in paths:
        model = replace(
            current.model,
            **{name: getattr(changes.model, name) for name in MODEL_FIELDS if f"model.{name}" in paths},
        )
    top = {name: getattr(changes, name) for name in WRITABLE if name in paths and name != "model"}
    return replace(current, model=model, **top)


def changes_tools(paths: Collection[str]) -> bool:
    """Whether an update with ``paths`` can change which tools the agent has or their rules."""
    return "tool_ids" in paths or "tool_rules" in paths


def changes_provider(paths: Collection[str]) -> bool:
    return "model" in paths or "model.provider" in paths


class AgentDirectory(Protocol):
    """Where the loop reads an agent's configuration (scoped to the caller's tenant)."""

    async def get(self, agent_id: str) -> Agent:
        """The agent; NotFound when the caller's tenant has no such agent."""
        ...
