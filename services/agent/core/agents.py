"""Agents: what one is, and the rules a new or changed agent must satisfy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.agent.core.tool_rules import ToolRule, check_rules
from services.common.errors import Validation

MAX_NAME = 200
MAX_SYSTEM_PROMPT = 100_000
MAX_TAGS = 64
MAX_TAG = 100
DEFAULT_CONTEXT_WINDOW = 128_000
DEFAULT_MAX_STEPS = 50


@dataclass(frozen=True, kw_only=True)
class ModelChoice:
    """Which provider and model an agent talks to, and how."""

    provider: str
    model: str
    context_window: int = DEFAULT_CONTEXT_WINDOW
    temperature: float | None = None
    max_output_tokens: int = 0


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
        check.check(bool(self.name.strip()), "agent.name", "must not be empty")
        check.check(len(self.name) <= MAX_NAME, "agent.name", f"at most {MAX_NAME} characters")
        check.check(
            len(self.system_prompt) <= MAX_SYSTEM_PROMPT,
            "agent.system_prompt",
            f"at most {MAX_SYSTEM_PROMPT} characters",
        )
        check.check(len(self.tags) <= MAX_TAGS, "agent.tags", f"at most {MAX_TAGS} tags")
        check.check(
            all(0 < len(tag) <= MAX_TAG for tag in self.tags),
            "agent.tags",
            f"each tag 1 to {MAX_TAG} characters",
        )
        check.check(self.model.context_window >= 0, "agent.model.context_window", "must not be negative")
        check.check(
            self.model.temperature is None or 0.0 <= self.model.temperature <= 2.0,
            "agent.model.temperature",
            "must be between 0 and 2",
        )
        check.check(
            self.model.max_output_tokens >= 0, "agent.model.max_output_tokens", "must not be negative"
        )
        check_rules(self.tool_rules, check)
        check.check(0 <= self.max_steps <= 1000, "agent.max_steps", "must be between 0 (default) and 1000")
        check.raise_if_any()


@dataclass(frozen=True, kw_only=True)
class Agent(AgentSpec):
    """A persisted agent."""

    id: str
    archive_id: str = ""
    created_at: datetime
    updated_at: datetime

    @property
    def step_limit(self) -> int:
        return self.max_steps or DEFAULT_MAX_STEPS


@dataclass(frozen=True, kw_only=True)
class InitialBlock:
    """A core memory block a new agent starts with: created from its fields, or an existing
    (shared) block attached by ``block_id``. Memory validates and stores it."""

    label: str = ""
    value: str = ""
    limit: int = 0
    read_only: bool = False
    description: str = ""
    block_id: str = ""


class AgentDirectory(Protocol):
    """Where the loop reads an agent's configuration (scoped to the caller's tenant)."""

    async def get(self, agent_id: str) -> Agent:
        """The agent; NotFound when the caller's tenant has no such agent."""
        ...
