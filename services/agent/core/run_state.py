"""The state of one run while the loop executes it, and how a run is stopped from deep inside."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from services.agent.core.agents import Agent
from services.agent.core.builtin_tools import CallSite
from services.agent.core.context_window import ContextBudget, ContextMeter
from services.agent.core.events import RunUsage, StopReason, UsageReport
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.core.tool_rules import RunRules
from services.agent.core.toolbox import Toolbox
from services.agent.llm import ChatModel

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "llm_seconds", "tool_seconds")


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A human's decision on a call that waited for approval."""

    tool_call_id: str
    approve: bool
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """One run of an agent, as the gateway asked for it."""

    agent_id: str
    run_id: str
    epoch: int
    input: tuple[HistoryMessage, ...] = ()
    approvals: tuple[Decision, ...] = ()
    max_steps: int = 0
    """0 uses the agent's limit."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` by which the run must end."""


@dataclass(kw_only=True)
class RunState:
    """The mutable state of one run while it executes."""

    request: RunRequest
    agent: Agent
    model: ChatModel
    toolbox: Toolbox
    rules: RunRules
    budget: ContextBudget
    context: ContextSnapshot = field(
        default_factory=lambda: ContextSnapshot(compiled_memory="", summary="", messages=(), epoch=0)
    )
    meter: ContextMeter = field(default_factory=ContextMeter)
    step: int = 0
    calls: Counter = field(default_factory=Counter)
    previous_tool: str | None = None
    invalid_steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    tool_seconds: float = 0.0
    usage_mark: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)

    @property
    def site(self) -> CallSite:
        return CallSite(
            agent_id=self.agent.id,
            archive_id=self.agent.archive_id,
            run_id=self.request.run_id,
            epoch=self.request.epoch,
            deadline=self.request.deadline,
            step=self.step,
        )

    @property
    def step_limit(self) -> int:
        return self.request.max_steps or self.agent.step_limit

    def usage(self) -> UsageReport:
        return UsageReport(
            self.step,
            RunUsage(
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                steps=self.step,
                llm_seconds=self.llm_seconds,
                tool_seconds=self.tool_seconds,
            ),
        )

    def take_usage(self) -> dict[str, float]:
        """What the run spent since the last stored step; stored with that step, so a run that
        continues (after an approval, after a crash) keeps reporting the whole run's usage."""
        now = (self.prompt_tokens, self.completion_tokens, self.llm_seconds, self.tool_seconds)
        spent = {key: a - b for key, a, b in zip(_USAGE_KEYS, now, self.usage_mark, strict=True)}
        self.usage_mark = now
        return spent

    def restore_usage(self, messages: Sequence[HistoryMessage]) -> None:
        for message in messages:
            spent = message.metadata.get("usage") or {}
            self.prompt_tokens += int(spent.get("prompt_tokens", 0))
            self.completion_tokens += int(spent.get("completion_tokens", 0))
            self.llm_seconds += float(spent.get("llm_seconds", 0.0))
            self.tool_seconds += float(spent.get("tool_seconds", 0.0))
        self.usage_mark = (self.prompt_tokens, self.completion_tokens, self.llm_seconds, self.tool_seconds)

    def remember(self, stored: Sequence[HistoryMessage]) -> None:
        self.context = replace(self.context, messages=(*self.context.messages, *stored))


class RunStop(Exception):
    """Ends a run from deep inside a step with a stop reason."""

    def __init__(self, reason: StopReason, detail: str = ""):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
