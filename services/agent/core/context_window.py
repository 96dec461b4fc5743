"""How full the model's context window is, and what to evict into the running summary when it fills.

Pure functions and small value types: the agent loop measures the context with :class:`ContextMeter`,
asks :class:`ContextBudget` whether to summarise, picks the boundary with :func:`choose_eviction`,
asks the model for the new summary with :func:`summary_request`, then moves the boundary through
memory. Memory refuses a boundary that splits a tool call from its return; :func:`choose_eviction`
never proposes one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.agent.core.history import HistoryMessage
from services.agent.llm import ChatMessage, ChatRequest, ToolCall, ToolSpec

CHARS_PER_TOKEN = 3
"""English runs at about 4 characters per token with common tokenizers; 3 errs on the side of more."""
MESSAGE_OVERHEAD = 4
"""Tokens every message costs besides its text (role and delimiters)."""
TOOL_CALL_OVERHEAD = 4
"""Tokens every tool call costs besides its id, name and arguments."""
TOOL_SPEC_OVERHEAD = 8
"""Tokens every tool definition costs besides its JSON schema."""
REPLY_PRIMING = 3
"""Tokens the provider adds to start the reply."""

# A provider report off by more than these factors is clamped: it counts something else (cached
# tokens only, a different request) rather than telling us how far our estimate is off.
MIN_RATIO = 0.5
MAX_RATIO = 2.0
MIN_SCALE = 0.8
""":meth:`ContextMeter.tokens` never answers less than this share of the raw estimate."""

TURN_SLACK = 0.2
"""Share of the kept budget :func:`choose_eviction` may evict beyond the minimum to cut between turns."""
SUMMARY_MESSAGE_CHARS = 2_000
"""Characters of one evicted message shown to the summariser; the middle of a longer one is cut."""


def estimate_tokens(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
    """A conservative token count of a request: it over-estimates rather than under-estimates.

    Every text counts ``ceil(chars / 3)`` (non-ASCII characters more, as tokenizers split them
    finer), every message and tool call a fixed overhead, tool definitions their JSON schema.
    """
    total = REPLY_PRIMING
    for message in messages:
        total += _message_tokens(
            message.content or "", message.tool_calls, message.tool_call_id or "", message.name or ""
        )
    for tool in tools:
        total += TOOL_SPEC_OVERHEAD + text_tokens(tool.schema_json)
    return total


def history_tokens(message: HistoryMessage) -> int:
    """:func:`estimate_tokens` of one stored message as the model sees it (reasoning is not sent)."""
    return _message_tokens(message.content, message.tool_calls, message.tool_call_id, message.name)


def text_tokens(text: str) -> int:
    """Conservative tokens of one text: ``ceil(chars / 3)``, plus half a token per extra UTF-8 byte."""
    if text.isascii():
        return -(-len(text) // CHARS_PER_TOKEN)
    extra_bytes = len(text.encode("utf-8", "surrogatepass")) - len(text)
    return math.ceil(len(text) / CHARS_PER_TOKEN + extra_bytes / 2)


def _message_tokens(content: str, tool_calls: Sequence[ToolCall], tool_call_id: str, name: str) -> int:
    total = MESSAGE_OVERHEAD + text_tokens(content)
    # Most messages have neither (every step counts the whole context again).
    if tool_call_id:
        total += text_tokens(tool_call_id)
    if name:
        total += text_tokens(name)
    for call in tool_calls:
        total += (
            TOOL_CALL_OVERHEAD + text_tokens(call.id) + text_tokens(call.name) + text_tokens(call.arguments)
        )
    return total


class ContextMeter:
    """Token counts calibrated by what the provider reported for earlier requests.

    One meter per run (or per agent): after each model call the loop reports the raw estimate of the
    request it sent and the provider's ``prompt_tokens``; later estimates are scaled by the observed
    ratio, smoothed, clamped to [0.5, 2.0] and never below 0.8 of the raw estimate.
    """

    def __init__(self) -> None:
        self._ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """The calibration in use (reported ÷ estimated), or None before any usable report."""
        return self._ratio

    def observe(self, estimated: int, reported_prompt_tokens: int) -> None:
        """Record one model call: our raw estimate of its request and the provider's prompt tokens.

        A report of zero (a provider that does not count) is ignored.
        """
        if estimated <= 0 or reported_prompt_tokens <= 0:
            return
        ratio = min(MAX_RATIO, max(MIN_RATIO, reported_prompt_tokens / estimated))
        # Half old, half new: the context changes little from one step to the next, but one odd
        # request (a giant tool result in another script) must not swing the meter alone.
        self._ratio = ratio if self._ratio is None else (self._ratio + ratio) / 2

    def tokens(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        """The calibrated token count of a request (the raw estimate until something was observed)."""
        return self.scale(estimate_tokens(messages, tools))

    def scale(self, estimated: int) -> int:
        """Calibrate a raw estimate (of a request, a message or the fixed part)."""
        if self._ratio is None:
            return estimated
        return math.ceil(estimated * max(MIN_SCALE, self._ratio))


@dataclass(frozen=True, kw_only=True)
class ContextBudget:
    """How much of a model's context window the agent may fill, and how far a summary empties it."""

    window: int
    """The model's context window in tokens (prompt and reply together)."""
    threshold: float = 0.75
    """Summarise once the context passes this share of the window."""
    target: float = 0.5
    """After summarising, the context (fixed part and kept messages) takes about this share."""
    reserve_output: int
    """Tokens always left free for the reply."""

    def __post_init__(self) -> None:
        if self.window <= 0:
            raise ValueError("window must be positive")
        if not 0 < self.target < self.threshold <= 1:
            raise ValueError("need 0 < target < threshold <= 1")
        if not 0 <= self.reserve_output < self.window:
            raise ValueError("reserve_output must be at least 0 and less than the window")

    @classmethod
    def for_model(cls, *, context_window: int, max_output_tokens: int = 0) -> ContextBudget:
        """The budget of a model: the reply's reserve is its ``max_output_tokens`` when set, else
        ``min(4096, window // 8)``; never more than half the window."""
        reserve = max_output_tokens or min(4096, context_window // 8)
        return cls(window=context_window, reserve_output=min(reserve, context_window // 2))

    @property
    def summarise_above(self) -> int:
        """Tokens past which the context is summarised: the threshold, or less when the reply's
        reserve would not fit otherwise."""
        return min(int(self.threshold * self.window), self.window - self.reserve_output)

    @property
    def keep_within(self) -> int:
        """Tokens the context should take right after summarising."""
        return min(int(self.target * self.window), self.window - self.reserve_output)

    def over_threshold(self, tokens: int) -> bool:
        """Whether a context of ``tokens`` should be summarised."""
        return tokens > self.summarise_above

    def fits(self, tokens: int) -> bool:
        """Whether a context of ``tokens`` leaves room for the reply."""
        return tokens + self.reserve_output <= self.window


def choose_eviction(
    messages: Sequence[HistoryMessage],
    *,
    fixed_tokens: int,
    budget: ContextBudget,
    tokens_of: Callable[[HistoryMessage], int],
) -> int | None:
    """The seq of the last message to evict so that the kept ones fit the budget's target.

    ``messages`` are the in-context messages in ascending seq; ``fixed_tokens`` is what the context
    takes besides them (system prompt, memory, summary, tools). Evicts as little as fits, but moves
    the cut forward to the next user message (a whole turn) when that costs at most ``TURN_SLACK``
    of the kept budget more. When nothing fits, keeps as little as possible. The cut never separates
    an assistant message with tool calls from any of its results, and the newest message is always
    kept. None when nothing can be evicted, or nothing needs to be.
    """
    if len(messages) < 2:
        return None
    kept = _suffix_sums([tokens_of(m) for m in messages])  # kept[i]: tokens of messages[i:]
    allowed = budget.keep_within - fixed_tokens
    cuts = _safe_cuts(messages)
    if kept[0] <= allowed or not cuts:
        return None
    cut = next((i for i in cuts if kept[i] <= allowed), cuts[-1])
    slack = TURN_SLACK * max(allowed, 0)
    for later in cuts[cuts.index(cut) :]:
        if kept[cut] - kept[later] > slack:
            break
        if messages[later].role == "user":
            cut = later
            break
    return messages[cut - 1].seq


def _suffix_sums(values: list[int]) -> list[int]:
    sums = [0] * (len(values) + 1)
    for index in range(len(values) - 1, -1, -1):
        sums[index] = sums[index + 1] + values[index]
    return sums


def _safe_cuts(messages: Sequence[HistoryMessage]) -> list[int]:
    """Indices ``i`` (1 ≤ i < len) where evicting ``messages[:i]`` splits no call from a result."""
    # A result may follow its call at a distance (after an approval), so spans are tracked by call
    # id; ids are only unique among recent calls (some servers send none and we number them per
    # step), so a result belongs to the latest earlier call with its id.
    spans = [0] * (len(messages) + 1)
    latest_call: dict[str, int] = {}
    for index, message in enumerate(messages):
        if message.role == "tool" and (call := latest_call.get(message.tool_call_id)) is not None:
            spans[call + 1] += 1
            spans[index + 1] -= 1
        for tool_call in message.tool_calls:
            latest_call[tool_call.id] = index
    cuts, open_spans = [], spans[0]
    for index in range(1, len(messages)):
        open_spans += spans[index]
        if open_spans == 0 and messages[index].role != "tool" and not messages[index - 1].tool_calls:
            cuts.append(index)
    return cuts


_SUMMARY_INSTRUCTIONS = """\
You keep the running summary of a conversation between a user and an AI agent. The oldest \
messages are leaving the agent's context window; from now on your summary replaces them and the \
previous summary. Write one concise summary that merges the previous summary with the messages \
below: who said what, facts learned about the user and the world, decisions made, tasks still \
open, and the tool calls made with their results in brief. Keep names, numbers, dates and ids \
exactly. Write in the third person, in plain prose or short bullet points, and answer with the \
summary only."""


def summary_request(
    *,
    model: str,
    previous_summary: str,
    evicted: Sequence[HistoryMessage],
    max_tokens: int | None,
    max_message_chars: int = SUMMARY_MESSAGE_CHARS,
) -> ChatRequest:
    """The model call that writes the new running summary (no tools)."""
    previous = previous_summary.strip() or "(none yet)"
    transcript = "\n".join(_render(message, max_message_chars) for message in evicted)
    prompt = (
        f"<previous_summary>\n{previous}\n</previous_summary>\n\n"
        f"<messages_to_summarise>\n{transcript}\n</messages_to_summarise>"
    )
    return ChatRequest(
        model=model,
        messages=(
            ChatMessage(role="system", content=_SUMMARY_INSTRUCTIONS),
            ChatMessage(role="user", content=prompt),
        ),
        max_tokens=max_tokens,
    )


def _render(message: HistoryMessage, limit: int) -> str:
    """One line per message: ``role: content``, calls as ``name(args)``, results with their tool's name."""
    parts = [message.content] if message.content else []
    parts += [f"{call.name}({call.arguments})" for call in message.tool_calls]
    speaker = message.role
    if message.role == "tool":
        speaker = f"tool result of {message.name or message.tool_call_id or 'a call'}"
    elif message.tool_calls:
        speaker = f"{message.role} called"
    return f"{speaker}: {_truncate(' '.join(parts), limit)}"


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    head = limit * 3 // 4
    return f"{text[:head]} […{omitted} characters omitted…] {text[len(text) - (limit - head) :]}"


def overflow_detail(fixed_tokens: int, budget: ContextBudget) -> str:
    """Why a run stops with CONTEXT_OVERFLOW: the fixed part alone leaves no room."""
    return (
        f"the system prompt, core memory and summary take about {fixed_tokens:,} tokens, but the "
        f"model's context window is {budget.window:,} tokens with {budget.reserve_output:,} kept for "
        "the reply; shorten the system prompt or the memory blocks, detach tools, or choose a model "
        "with a larger context window"
    )
