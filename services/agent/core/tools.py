"""Tools as the agent loop sees them: what the model is offered, and what a call returned.

Built-in tools (memory, archival, recall, agent messaging) and custom tools (the tools service) share
these types, so the loop treats them alike: offer, validate, run (concurrently when parallel-safe),
report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from services.agent.llm import ToolSpec

DEFAULT_RESULT_CHAR_LIMIT = 10_000


class ToolStatus(IntEnum):
    """Outcome of one call; the numbers are those of ``common.v1.ToolReturnStatus``."""

    OK = 1
    ERROR = 2
    TIMEOUT = 3
    DENIED = 4


@dataclass(frozen=True, kw_only=True)
class ToolDefinition:
    """A tool an agent may call."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the arguments object."""
    id: str = ""
    """Id in the tools service; empty for a built-in tool."""
    parallel_safe: bool = False
    requires_approval: bool = False
    result_char_limit: int = DEFAULT_RESULT_CHAR_LIMIT
    timeout: float | None = None
    """Seconds; ``None`` uses the tools service's default."""

    @property
    def builtin(self) -> bool:
        return not self.id

    @cached_property
    def spec(self) -> ToolSpec:
        """What the model is told about the tool (made once per definition)."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


@dataclass(frozen=True, kw_only=True)
class ToolOutcome:
    """What a call returned, as the model will read it."""

    status: ToolStatus
    content: str
    seconds: float = 0.0
