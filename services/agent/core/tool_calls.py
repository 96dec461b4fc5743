"""Executing the tool calls of one step: built-ins in this process, custom tools in the sandbox,
parallel-safe calls concurrently and the others one at a time, every outcome bounded in size.

A call's failure is its result (the model reads it and can react); only what makes the whole run
invalid escapes: a stale fencing epoch (the lease passed on), the deadline, a cancellation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from services.agent.core.builtin_tools import BuiltinTools, CallSite, ToolFailure
from services.agent.core.tool_observation import ToolCallObservation
from services.agent.core.toolbox import CheckedCall, CustomTools
from services.agent.core.tools import ToolOutcome, ToolStatus
from services.common.errors import AgentSuiteError, DeadlineExceeded, FailedPrecondition

DEADLINE_MARGIN = 0.05
"""Seconds left below which a tool's deadline error is the run's own deadline running out."""


@dataclass(frozen=True)
class Executed:
    """The outcome of the call at ``index`` in the step's list of calls."""

    index: int
    outcome: ToolOutcome


class ToolExecutor:
    """Runs checked calls; one instance serves every run."""

    def __init__(self, *, builtins: BuiltinTools, custom: CustomTools):
        self._builtins = builtins
        self._custom = custom

    async def run_all(
        self, calls: Sequence[tuple[int, CheckedCall]], site: CallSite
    ) -> AsyncIterator[Executed]:
        """Execute in order, overlapping consecutive parallel-safe calls; yield outcomes as they end.

        Closing the iterator early (the run was cancelled) cancels the calls in flight, which kills
        their sandboxes.
        """
        for group in _groups(calls):
            tasks = {asyncio.create_task(self._run_one(checked, site)): index for index, checked in group}
            try:
                waiting = set(tasks)
                while waiting:
                    done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    for task in sorted(done, key=tasks.__getitem__):
                        yield Executed(tasks[task], task.result())
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_one(self, checked: CheckedCall, site: CallSite) -> ToolOutcome:
        tool, started = checked.tool, time.monotonic()
        assert tool is not None and checked.arguments is not None
        site = replace(site, call_id=checked.call.id)
        with ToolCallObservation(tool.name, builtin=tool.builtin) as observed:
            outcome = await self._run_tool(checked, site)
            observed.outcome(outcome.status.name.lower())
        return ToolOutcome(
            status=outcome.status,
            content=_bounded(outcome.content, tool.result_char_limit),
            seconds=time.monotonic() - started,
        )

    async def _run_tool(self, checked: CheckedCall, site: CallSite) -> ToolOutcome:
        tool = checked.tool
        assert tool is not None and checked.arguments is not None
        try:
            if tool.builtin:
                content = await self._builtins.call(tool.name, site, checked.arguments)
                outcome = ToolOutcome(status=ToolStatus.OK, content=content)
            else:
                outcome = await self._custom.execute(
                    tool,
                    checked.call.arguments or "{}",
                    agent_id=site.agent_id,
                    run_id=site.run_id,
                    key=site.effect_key,
                )
        except ToolFailure as exc:
            outcome = ToolOutcome(status=ToolStatus.ERROR, content=f"error: {exc}")
        except AgentSuiteError as exc:
            if _ends_the_run(exc, site):
                raise
            outcome = ToolOutcome(status=ToolStatus.ERROR, content=f"error: {exc.message}")
        return outcome


def _ends_the_run(error: AgentSuiteError, site: CallSite) -> bool:
    """Whether a tool's failure is the run's own: its lease passed on (memory refused this agent's
    epoch) or its deadline is spent. Anything else, including the same errors of another agent's
    run reached through messaging, is the tool's result."""
    if isinstance(error, FailedPrecondition) and error.reason == "STALE_EPOCH":
        return error.metadata.get("agent_id") == site.agent_id
    if isinstance(error, DeadlineExceeded):
        return site.deadline is not None and site.deadline - time.monotonic() <= DEADLINE_MARGIN
    return False


def _groups(calls: Sequence[tuple[int, CheckedCall]]) -> list[list[tuple[int, CheckedCall]]]:
    """Consecutive parallel-safe calls form one group; any other call is a group of its own."""
    groups: list[list[tuple[int, CheckedCall]]] = []
    for item in calls:
        tool = item[1].tool
        if tool is not None and tool.parallel_safe and groups and _all_parallel(groups[-1]):
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _all_parallel(group: list[tuple[int, CheckedCall]]) -> bool:
    return all(c.tool is not None and c.tool.parallel_safe for _, c in group)


def _bounded(content: str, limit: int) -> str:
    if limit <= 0 or len(content) <= limit:
        return content
    return content[:limit] + f"… [truncated: {len(content) - limit} more characters]"
