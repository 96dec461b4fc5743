"""A run's events as a person reads them, in ``chat`` and ``runs watch``: the reply as it streams,
each tool call and its result on lines of their own linked by a number (``[2]``), memory edits as
what changed in the block, approvals asked for, and why the run stopped when it was not a plain
answer. Usage (model, steps, tokens) on request."""

from __future__ import annotations

import json

from agentsuite.client import Client
from agentsuite.client.events import (
    ApprovalRequested,
    AssistantDelta,
    AssistantMessage,
    Event,
    ReasoningDelta,
    RunError,
    RunFinished,
    RunQueued,
    RunRetried,
    ToolCalled,
    ToolReturned,
    UsageUpdated,
)
from agentsuite.client.types import Run, StopReason, ToolCall, ToolReturnStatus, Usage
from services.cli.blocks import diff_lines
from services.cli.console import Output, one_line
from services.cli.messages import model_of

MEMORY_EDITS = ("core_memory_append", "core_memory_replace", "core_memory_insert", "core_memory_rewrite")


def stop_name(reason: int) -> str:
    return StopReason.Name(reason).removeprefix("STOP_REASON_").lower()


def usage_line(usage: Usage | None, model: str) -> str:
    """Which model answered, the steps and the tokens of a run."""
    if usage is None:
        return f"model {model or '?'}"
    llm = usage.llm_time.ToTimedelta().total_seconds()
    tools = usage.tool_time.ToTimedelta().total_seconds()
    return (
        f"model {model or '?'} · {usage.steps} step{'s' if usage.steps != 1 else ''} · "
        f"{usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion = {usage.total_tokens:,} tokens"
        f" · model {llm:.1f} s, tools {tools:.1f} s"
    )


def call_text(call: ToolCall, limit: int = 100) -> str:
    """``name(arg=value, ...)`` on one line."""
    try:
        arguments = json.loads(call.arguments_json or "{}")
        shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    except (json.JSONDecodeError, AttributeError):
        shown = call.arguments_json
    return f"{call.name}({one_line(shown, limit)})"


class BlockWatch:
    """The agent's core memory as last seen, so an edit shows as the lines it changed."""

    def __init__(self, client: Client, agent_id: str):
        self._client = client
        self._agent_id = agent_id
        self.values: dict[str, str] = {}

    async def load(self) -> None:
        self.values = {b.label: b.value async for b in self._client.blocks.list(agent_id=self._agent_id)}

    async def changes(self, label: str) -> list[str]:
        """The lines of block ``label`` that changed since last seen."""
        now = [b async for b in self._client.blocks.list(agent_id=self._agent_id, label=label)]
        if not now:
            return []
        before, self.values[label] = self.values.get(label, ""), now[0].value
        return diff_lines(before, now[0].value)


class RunPrinter:
    """Prints the events of one run (or several in a row) and remembers what a caller asks after:
    the run as it ended, its usage, the model that answered, the calls awaiting approval."""

    def __init__(
        self, output: Output, *, agent_name: str, blocks: BlockWatch | None = None, usage: bool = False
    ):
        self._output = output
        self._agent = agent_name
        self._blocks = blocks
        self.show_usage = usage
        self.run: Run | None = None
        self.usage: Usage | None = None
        self.model = ""
        self.run_id = ""
        self.pending: list[ToolCall] = []
        self._numbers: dict[str, int] = {}
        self._calls: dict[str, ToolCall] = {}
        self._streaming = ""  # "assistant" or "reasoning" while deltas are printed on an open line
        self._streamed = False

    def start_turn(self) -> None:
        """Forget the previous run's approvals and stop (a new message, or approvals sent)."""
        self.run = None
        self.pending = []

    async def show(self, event: Event) -> None:
        if event.run_id and event.run_id != self.run_id:
            self.run_id = event.run_id
            self._numbers, self._calls = {}, {}  # calls are numbered per run
        out = self._output
        match event:
            case AssistantDelta(text=text):
                self._open("assistant")
                out.stream(text)
                self._streamed = True
            case ReasoningDelta(text=text):
                self._open("reasoning")
                out.stream(text, style="dim italic")
            case AssistantMessage(message=message):
                self.model = model_of(message) or self.model
                if message.content and not self._streamed:
                    self._open("assistant")
                    out.stream(message.content)
                self._close()
                self._streamed = False
            case ToolCalled(call=call):
                self._close()
                number = self._numbers.setdefault(call.id, len(self._numbers) + 1)
                self._calls[call.id] = call
                out.line(f"  ⚙ [{number}] {call_text(call)}", style="cyan")
            case ToolReturned(result=result):
                self._close()
                await self._show_return(result)
            case ApprovalRequested(call=call):
                self._close()
                number = self._numbers.setdefault(call.id, len(self._numbers) + 1)
                self._calls[call.id] = call
                self.pending.append(call)
                out.line(f"  ? [{number}] {call_text(call)} waits for your approval", style="yellow")
            case UsageUpdated(usage=usage):
                self.usage = usage
            case RunQueued(position=position) if position > 0:
                out.line(f"  (queued behind {position} run{'s' if position > 1 else ''})", style="dim")
            case RunRetried(reason=reason):
                self._close()
                self._streamed = False
                out.line(
                    f"  (tried again: {reason}; the text since the last step is written again)", style="dim"
                )
            case RunError(error=error):
                self._close()
                out.line(f"  error: {error.message}", style="red")
            case RunFinished(run=run):
                self._close()
                self._finished(run)

    async def _show_return(self, result) -> None:
        out = self._output
        number = self._numbers.get(result.tool_call_id, 0)
        status = ToolReturnStatus.Name(result.status).removeprefix("TOOL_RETURN_STATUS_").lower()
        millis = result.duration.ToTimedelta().total_seconds() * 1000
        ok = result.status == ToolReturnStatus.TOOL_RETURN_STATUS_OK
        call = self._calls.get(result.tool_call_id)
        if ok and result.name in MEMORY_EDITS and call is not None:
            label = _argument(call, "label")
            changed = await self._blocks.changes(label) if self._blocks else _described(call)
            out.line(f"  ✎ [{number}] memory {label!r} changed", style="magenta")
            for line in changed:
                out.line(f"      {line}", style="green" if line.startswith("+") else "red")
            return
        style = "green" if ok else "red"
        out.line(f"  ↳ [{number}] {status} in {millis:.0f} ms: {one_line(result.content, 160)}", style=style)

    def _finished(self, run: Run) -> None:
        self.run = run
        if run.HasField("usage"):
            self.usage = run.usage
        if run.stop_reason not in (StopReason.STOP_REASON_END_TURN, StopReason.STOP_REASON_APPROVAL_REQUIRED):
            detail = f": {run.stop_detail}" if run.stop_detail else ""
            style = "yellow" if run.stop_reason == StopReason.STOP_REASON_CANCELLED else "red"
            self._output.line(f"[run stopped: {stop_name(run.stop_reason)}{detail}]", style=style)
        if self.show_usage and run.stop_reason != StopReason.STOP_REASON_APPROVAL_REQUIRED:
            self._output.line(f"  {usage_line(self.usage, self.model)}", style="dim")

    def _open(self, kind: str) -> None:
        if self._streaming == kind:
            return
        self._close()
        prefix = f"{self._agent}> " if kind == "assistant" else "  (thinking) "
        self._output.stream(prefix, style="bold" if kind == "assistant" else "dim")
        self._streaming = kind

    def _close(self) -> None:
        if self._streaming:
            self._output.stream("\n")
            self._streaming = ""


def _argument(call: ToolCall, name: str) -> str:
    try:
        return str(json.loads(call.arguments_json or "{}").get(name, ""))
    except (json.JSONDecodeError, AttributeError):
        return ""


def _described(call: ToolCall) -> list[str]:
    """A memory edit as its arguments say (when the block itself cannot be compared)."""
    if call.name == "core_memory_replace":
        return [f"- {_argument(call, 'old_content')}", f"+ {_argument(call, 'new_content')}"]
    if call.name == "core_memory_rewrite":
        return [f"+ {line}" for line in _argument(call, "new_content").splitlines()]
    return [f"+ {line}" for line in _argument(call, "content").splitlines()]
