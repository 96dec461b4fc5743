"""The OpenAI Chat Completions wire format: request bodies out, SSE chunks and whole answers in.

No HTTP here (that, the retries and the deadlines are :mod:`.openai_compatible`'s): text and JSON
in, the provider-neutral events of :mod:`.types` out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.common.stored_cache import DEFAULT_LIMIT, MAX_CHARS

from .types import (
    ChatMessage,
    ChatRequest,
    Completion,
    LLMError,
    LLMEvent,
    ReasoningDelta,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolCallStarted,
)


@dataclass
class _PartialCall:
    """A tool call being assembled from deltas (mutable on purpose: it grows chunk by chunk)."""

    index: int
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    announced: bool = False


class StreamAssembler:
    """Turns SSE lines into events and remembers enough to build the final :class:`Completion`."""

    def __init__(self, *, redact: Callable[[str], str]):
        self._redact = redact
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self._usage: TokenUsage | None = None
        self._finish_reason: str | None = None

    async def events(self, batches: AsyncIterator[list[str]]) -> AsyncIterator[LLMEvent]:
        """Events from batches of SSE lines, one batch per network read. Text that arrived in one
        read is one delta: a fast server's whole answer is one event downstream, not one per
        chunk (each costs a gRPC write on the way to the client), while a slow one's text still
        goes on the moment it arrives."""
        data: list[str] = []
        done = False
        async for lines in batches:
            arrived: list[LLMEvent] = []
            for line in lines:
                if line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                    continue
                if line or not data:
                    continue  # comments (": keepalive"), other SSE fields, blank keepalives
                payload, data = "\n".join(data), []
                if payload == "[DONE]":
                    done = True
                    break
                arrived.extend(self._apply(payload))
            for event in _merged(arrived):
                yield event
            if done:
                break
        if done:
            await _drain(batches)
        elif data and (payload := "\n".join(data)) != "[DONE]":
            # Some servers end the body without the blank line that closes the last event.
            for event in _merged(list(self._apply(payload))):
                yield event
        if not done and self._finish_reason is None:
            # A body that ended cleanly but early (a proxy giving up, a server dying between
            # chunks, a connection without chunked encoding): what came is not the answer.
            raise LLMError(
                "the provider's stream ended before the answer did (no finish_reason, no [DONE])",
                retryable=True,
            )
        yield self._completion()

    def _apply(self, payload: str) -> Iterator[LLMEvent]:
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise _malformed_event("not JSON") from None
        try:
            yield from self._apply_chunk(_object(chunk, "the event", may_be_absent=False))
        except _Malformed as exc:
            raise _malformed_event(str(exc)) from None

    def _apply_chunk(self, chunk: dict[str, Any]) -> Iterator[LLMEvent]:
        if error := chunk.get("error"):
            raise stream_error(error, self._redact)
        if usage := chunk.get("usage"):
            self._usage = _parse_usage(usage)
        for choice in _array(chunk.get("choices"), "choices"):
            choice = _object(choice, "a choice", may_be_absent=False)
            if _count(choice.get("index"), "a choice's index") != 0:
                continue  # we never ask for n > 1
            if finish := _text(choice.get("finish_reason"), "finish_reason"):
                self._finish_reason = finish
            delta = _object(choice.get("delta"), "delta")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning := _text(reasoning, "reasoning"):
                self._reasoning.append(reasoning)
                yield ReasoningDelta(text=reasoning)
            if text := _text(delta.get("content"), "content"):
                self._content.append(text)
                yield TextDelta(text=text)
            for call_delta in _array(delta.get("tool_calls"), "tool_calls"):
                if started := self._apply_call_delta(_object(call_delta, "a tool call", may_be_absent=False)):
                    yield started

    def _apply_call_delta(self, delta: dict[str, Any]) -> ToolCallStarted | None:
        index = delta.get("index")
        call_id = _text(delta.get("id"), "a tool call's id")
        if index is None:
            # A few servers omit the index: a new id starts a new call, otherwise it continues the last.
            new_id = call_id and all(c.id != call_id for c in self._calls.values())
            index = len(self._calls) if new_id or not self._calls else max(self._calls)
        index = _count(index, "a tool call's index")
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _PartialCall(index=index)
        function = _object(delta.get("function"), "a tool call's function")
        name = _text(function.get("name"), "a tool call's name")
        arguments = _text(function.get("arguments"), "a tool call's arguments")
        # id and name come once, in the first delta; servers that repeat them must not double them.
        if not call.id and call_id:
            call.id = call_id
        if not call.name and name:
            call.name = name
        if arguments:
            call.arguments.append(arguments)
        if call.name and not call.announced:
            call.announced = True
            return ToolCallStarted(index=index, id=call.id or _fallback_call_id(index), name=call.name)
        return None

    def _completion(self) -> Completion:
        calls = tuple(
            ToolCall(id=c.id or _fallback_call_id(c.index), name=c.name, arguments="".join(c.arguments))
            for c in sorted(self._calls.values(), key=lambda c: c.index)
        )
        return Completion(
            content="".join(self._content),
            reasoning="".join(self._reasoning),
            tool_calls=calls,
            usage=self._usage,
            finish_reason=self._finish_reason,
        )


async def line_batches(chunks: AsyncIterator[str]) -> AsyncIterator[list[str]]:
    """The complete lines of each chunk of text as it arrives (``\\n``, ``\\r\\n`` or ``\\r`` ends
    a line); a line cut between chunks completes in the next one."""
    rest = ""
    async for chunk in chunks:
        text = rest + chunk
        # A chunk may end between the CR and the LF of one line end: keep the CR for the next.
        held = "\r" if text.endswith("\r") else ""
        lines = text[: len(text) - len(held)].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        rest = lines.pop() + held
        if lines:
            yield lines
    if rest.rstrip("\r"):
        yield [rest.rstrip("\r")]


def _merged(events: list[LLMEvent]) -> list[LLMEvent]:
    """Consecutive text (or reasoning) deltas joined into one."""
    merged: list[LLMEvent] = []
    for event in events:
        last = merged[-1] if merged else None
        if isinstance(event, TextDelta) and isinstance(last, TextDelta):
            merged[-1] = TextDelta(text=last.text + event.text)
        elif isinstance(event, ReasoningDelta) and isinstance(last, ReasoningDelta):
            merged[-1] = ReasoningDelta(text=last.text + event.text)
        else:
            merged.append(event)
    return merged


def stream_error(error: Any, redact: Callable[[str], str]) -> LLMError:
    """An ``{"error": ...}`` object sent inside an otherwise successful stream (OpenRouter, vLLM do this)."""
    message = error.get("message", "") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) else None
    retryable = status is None or status == 429 or status >= 500
    return LLMError(
        redact(f"the provider reported an error mid-stream: {message}"), status=status, retryable=retryable
    )


def _fallback_call_id(index: int) -> str:
    # Some local servers send no ids; tool results still need one to point at.
    return f"call_{index}"


def _parse_usage(usage: Any) -> TokenUsage:
    usage = _object(usage, "usage")
    prompt = _count(usage.get("prompt_tokens"), "prompt_tokens")
    completion = _count(usage.get("completion_tokens"), "completion_tokens")
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_count(usage.get("total_tokens"), "total_tokens") or prompt + completion,
    )


def parse_completion(body: bytes, *, redact: Callable[[str], str]) -> Completion:
    """A whole (``stream: false``) answer; :class:`LLMError` for one that is not well formed."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise _malformed_completion("not JSON") from None
    try:
        return _completion_of(_object(parsed, "the answer", may_be_absent=False), redact)
    except _Malformed as exc:
        raise _malformed_completion(str(exc)) from None


def _completion_of(body: dict[str, Any], redact: Callable[[str], str]) -> Completion:
    if error := body.get("error"):
        raise stream_error(error, redact)
    choices = _array(body.get("choices"), "choices")
    if not choices:
        raise _Malformed("no choices")
    choice = _object(choices[0], "a choice", may_be_absent=False)
    message = _object(choice.get("message"), "message")
    calls = []
    for i, call in enumerate(_array(message.get("tool_calls"), "tool_calls")):
        call = _object(call, "a tool call", may_be_absent=False)
        function = _object(call.get("function"), "a tool call's function")
        calls.append(
            ToolCall(
                id=_text(call.get("id"), "a tool call's id") or _fallback_call_id(i),
                name=_text(function.get("name"), "a tool call's name"),
                arguments=_text(function.get("arguments"), "a tool call's arguments"),
            )
        )
    usage = body.get("usage")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    return Completion(
        content=_text(message.get("content"), "content"),
        reasoning=_text(reasoning, "reasoning"),
        tool_calls=tuple(calls),
        usage=_parse_usage(usage) if usage else None,
        finish_reason=_text(choice.get("finish_reason"), "finish_reason") or None,
    )


async def _drain(batches: AsyncIterator[list[str]]) -> None:
    """Read on to the end of a body whose answer is complete (the server ends it right after
    [DONE]): a response closed before its end cannot go back to the pool, and every call would
    then pay for a new connection. A failure here loses nothing, so it is not one."""
    try:
        async for _ in batches:
            pass
    except Exception:  # the answer is whole; the response is closed, not reused
        pass


# -- shapes of the provider's JSON: anything else is a malformed answer, never a TypeError -------


class _Malformed(Exception):
    """A value of the provider's JSON has the wrong type (its message names which)."""


def _malformed_event(problem: str) -> LLMError:
    return LLMError(f"the provider sent a malformed stream event: {problem}")


def _malformed_completion(problem: str) -> LLMError:
    return LLMError(f"the provider sent a malformed completion: {problem}")


def _object(value: Any, what: str, *, may_be_absent: bool = True) -> dict[str, Any]:
    if value is None and may_be_absent:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object")
    return value


def _array(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{what} is not a list")
    return value


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"{what} is not a string")
    return value


def _count(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f"{what} is not a whole number")
    return value


def _message_json(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def request_body(request: ChatRequest, *, stream: bool, encoded: EncodedMessages) -> bytes:
    """The request as httpx encoded ``json=``: compact, UTF-8, no NaN. The messages come from
    ``encoded`` and the tools as encoded once per spec: every step sends them again."""
    options: dict[str, Any] = {"model": request.model, "stream": stream}
    if stream:
        options["stream_options"] = {"include_usage": True}
    if request.tools:
        # Only sent with tools: several servers reject the flag on a request without any.
        options["parallel_tool_calls"] = request.parallel_tool_calls
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens is not None:
        options["max_tokens"] = request.max_tokens
    parts = [_json(options)[:-1], ',"messages":[', encoded.joined(request.messages), "]"]
    if request.tools:
        functions = (f'{{"type":"function","function":{tool.schema_json}}}' for tool in request.tools)
        parts += [',"tools":[', ",".join(functions), "]"]
    parts.append("}")
    return "".join(parts).encode()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class EncodedMessages:
    """Each message's JSON, encoded once: every step of a run, and every run of an agent, sends
    the messages of its context again. The oldest entries are dropped past ``limit``."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self._limit = limit
        self._json: dict[ChatMessage, str] = {}

    def joined(self, messages: Iterable[ChatMessage]) -> str:
        """The messages' JSON, comma-separated."""
        known = self._json
        return ",".join([known.get(message) or self._encode(message) for message in messages])

    def _encode(self, message: ChatMessage) -> str:
        encoded = _json(_message_json(message))
        if len(encoded) <= MAX_CHARS:
            if len(self._json) >= self._limit:
                del self._json[next(iter(self._json))]
            self._json[message] = encoded
        return encoded
