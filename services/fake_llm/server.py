"""The fake OpenAI-compatible server.

Tests script replies per model name (unique names keep concurrent tests apart) and read back what the
agent sent; benchmarks use the unscripted echo reply. It speaks the real wire format — SSE
``chat.completion.chunk`` events, tool-call arguments split across chunks, parallel calls interleaved by
index — because the point is to exercise our HTTP client, not a mock of it. Per-request work is kept
small (one write per reply unless a test asks for pacing) so it sustains benchmark load.

Scripting: ``POST /_admin/script`` with ``{"model": "m", "replies": [...]}`` queues replies that
the next requests for ``m`` get in order (then the echo reply again); ``DELETE /_admin/script?model=m``
forgets them, ``GET /_admin/requests?model=m`` lists the request bodies received. A reply is an object
with these keys (all optional; see :class:`ScriptedReply`):

- ``content``, ``reasoning``, ``tool_calls`` (``[{"id", "name", "arguments"}]``): the answer.
- ``chunk_size``: characters per chunk; ``chunk_delay_ms``: a pause after each chunk (a slow
  stream); ``fragment_bytes``: the body written in pieces that cut lines in half.
- ``first_byte_delay_ms``: nothing at all is sent for this long, not even the status line (a
  provider queueing the request); ``latency_ms``: after the headers, the first chunk waits this long.
- ``error``: ``{"status": 429, "retry_after": "0.2", "message": "...", "times": N}`` answers that
  HTTP error (with a ``Retry-After`` header when given) to the next N requests instead.
- ``fault``: ``{"kind": ..., "after_chunks": K, "text": "...", "times": N}`` breaks the next N
  answers after their first K SSE chunks (the first chunk carries only the role; K = 0 breaks
  before any). ``kind`` is one of:

  - ``"drop"``: the connection is closed in the middle of the body (the chunked encoding never
    ends), as when a provider or a proxy dies mid-answer;
  - ``"end"``: the body ends cleanly there, without the rest and without ``data: [DONE]``, as when
    a proxy gives up on a long response;
  - ``"insert"``: ``text`` is written as it is (malformed JSON, a line that is not ``data:``, a
    chunk of the wrong shape ...), then the answer goes on.

  A whole (``stream: false``) answer with a fault: ``drop`` closes the connection without an
  answer, ``end`` sends half of its JSON body, ``insert`` sends ``text`` as the whole body.

``/v1/embeddings`` answers deterministic vectors and honours scripted errors the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import random
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.fake_llm.programs import Programs

DEFAULT_EMBEDDING_DIMENSION = 8
"""Size of ``/v1/embeddings`` vectors when the request names no ``dimensions`` (small: tests read them)."""

# Recorded request bodies per model are bounded, so a long benchmark does not grow memory.
_MAX_RECORDED = 1000

_REPLY_KEYS = {
    "content",
    "reasoning",
    "tool_calls",
    "latency_ms",
    "error",
    "chunk_size",
    "chunk_delay_ms",
    "fragment_bytes",
    "first_byte_delay_ms",
    "fault",
}
_FAULT_KEYS = {"kind", "after_chunks", "text", "times"}
FAULT_KINDS = ("drop", "end", "insert")
"""What a scripted fault does to an answer; see the module docstring."""


@dataclass(frozen=True, kw_only=True)
class ScriptedToolCall:
    """A tool call the fake model makes."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, kw_only=True)
class ScriptedError:
    """Answer with an HTTP error instead of a completion."""

    status: int
    retry_after: str | None = None
    """Sent as the ``Retry-After`` header when set."""
    message: str = "scripted failure"


@dataclass(frozen=True, kw_only=True)
class ScriptedFault:
    """Break an answer after its first chunks: the connection dropped, the body ended early, or raw
    text written between chunks (see the module docstring)."""

    kind: str
    """``"drop"``, ``"end"`` or ``"insert"``."""
    after_chunks: int = 0
    """SSE chunks of the answer sent before the fault (the first carries only the role)."""
    text: str = ""
    """What ``"insert"`` writes, as it is."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"a fault's kind is one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")
        if self.after_chunks < 0:
            raise ValueError("a fault's after_chunks must not be negative")
        if self.kind == "insert" and not self.text:
            raise ValueError("an insert fault needs the text to insert")

    @classmethod
    def from_json(cls, data: Any) -> tuple[ScriptedFault, int]:
        """The fault of one JSON reply, and how many answers in a row it breaks."""
        if not isinstance(data, dict) or not set(data) <= _FAULT_KEYS:
            raise ValueError(f"a fault is an object with keys among {sorted(_FAULT_KEYS)}")
        fault = cls(
            kind=str(data.get("kind")),
            after_chunks=int(data.get("after_chunks", 0)),
            text=str(data.get("text", "")),
        )
        return fault, int(data.get("times", 1))


@dataclass(frozen=True, kw_only=True)
class ScriptedReply:
    """One scripted answer; the JSON form used by ``POST /_admin/script`` has the same fields."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    latency_ms: float | None = None
    """Delay before the first chunk; ``None`` uses the server-wide latency."""
    error: ScriptedError | None = None
    chunk_size: int | None = None
    """Characters of content/reasoning/arguments per chunk; by default each is cut into about four."""
    chunk_delay_ms: float = 0
    """Pause between chunks (each chunk is then its own write); 0 sends the whole reply in one write."""
    fragment_bytes: int | None = None
    """Write the SSE body in pieces of this many bytes, cutting lines in half, to test line reassembly."""
    first_byte_delay_ms: float = 0
    """Delay before anything is sent, the status line included (``latency_ms`` follows the headers)."""
    fault: ScriptedFault | None = None
    """Break the answer part-way (see :class:`ScriptedFault`)."""

    @classmethod
    def from_json(cls, data: Any) -> list[ScriptedReply]:
        """Parse one JSON reply; an error or a fault with ``times: N`` becomes N queued replies."""
        if not isinstance(data, dict) or not set(data) <= _REPLY_KEYS:
            raise ValueError(f"a reply is an object with keys among {sorted(_REPLY_KEYS)}")
        calls = tuple(
            ScriptedToolCall(
                id=str(c.get("id") or f"call_{i + 1}"),
                name=str(c["name"]),
                arguments=c["arguments"]
                if isinstance(c.get("arguments"), str)
                else json.dumps(c.get("arguments", {})),
            )
            for i, c in enumerate(data.get("tool_calls") or ())
        )
        error, times = None, 1
        if (raw_error := data.get("error")) is not None:
            retry_after = raw_error.get("retry_after")
            error = ScriptedError(
                status=int(raw_error["status"]),
                retry_after=None if retry_after is None else str(retry_after),
                message=str(raw_error.get("message", "scripted failure")),
            )
            times = int(raw_error.get("times", 1))
        fault = None
        if (raw_fault := data.get("fault")) is not None:
            if error is not None:
                raise ValueError("a reply has an error or a fault, not both")
            fault, times = ScriptedFault.from_json(raw_fault)
        reply = cls(
            content=str(data.get("content") or ""),
            reasoning=str(data.get("reasoning") or ""),
            tool_calls=calls,
            latency_ms=data.get("latency_ms"),
            error=error,
            chunk_size=data.get("chunk_size"),
            chunk_delay_ms=float(data.get("chunk_delay_ms") or 0),
            fragment_bytes=data.get("fragment_bytes"),
            first_byte_delay_ms=float(data.get("first_byte_delay_ms") or 0),
            fault=fault,
        )
        return [reply] * times


class FakeLLMServer:
    """The fake server, startable in-process (tests) or from ``python -m services.fake_llm``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0):
        self._host = host
        self._port = port
        self._latency_ms = latency_ms
        self._scripts: dict[str, deque[ScriptedReply]] = defaultdict(deque)
        self._requests: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=_MAX_RECORDED))
        self._ids = itertools.count(1)
        self._active_streams = 0
        self._client_ports: set[int] = set()
        self._runner: web.AppRunner | None = None
        self.programs = Programs()
        """Replies computed from each request, per model (see ``programs.py``)."""

    @property
    def port(self) -> int:
        """The bound port (known after :meth:`start`, also when asked for port 0)."""
        return self._port

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as its base URL, e.g. ``http://127.0.0.1:8123/v1``."""
        return f"http://{self._host}:{self._port}/v1"

    @property
    def connections_seen(self) -> int:
        """Distinct client connections that asked for a completion (keep-alive reuse keeps it low)."""
        return len(self._client_ports)

    @property
    def active_streams(self) -> int:
        """Streamed responses still being written; drops when a client hangs up."""
        return self._active_streams

    async def start(self) -> None:
        """Listen; returns once the port is bound."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/_admin/script", self._admin_script)
        app.router.add_delete("/_admin/script", self._admin_clear)
        app.router.add_get("/_admin/requests", self._admin_requests)
        app.router.add_post("/_admin/program", self.programs.admin_set)
        app.router.add_get("/health", self._health)
        # No access log: formatting a line per request costs more than the fake answer itself. A short
        # shutdown timeout: tests stop the server while scripted latencies are still sleeping.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def script(self, *, model: str, replies: list[ScriptedReply]) -> None:
        """Queue replies for ``model`` (the in-process twin of ``POST /_admin/script``)."""
        self._scripts[model].extend(replies)

    def clear(self, *, model: str) -> None:
        """Forget the queued replies and recorded requests of ``model``."""
        self._scripts.pop(model, None)
        self._requests.pop(model, None)

    def requests(self, *, model: str) -> list[dict[str, Any]]:
        """The request bodies received for ``model``, oldest first."""
        return list(self._requests.get(model, ()))

    async def _health(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _admin_script(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            model = data["model"]
            replies = [r for raw in data["replies"] for r in ScriptedReply.from_json(raw)]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"bad script: {exc}"}, status=400)
        self.script(model=model, replies=replies)
        return web.json_response({"model": model, "queued": len(self._scripts[model])})

    async def _admin_clear(self, request: web.Request) -> web.Response:
        self.clear(model=request.query.get("model", ""))
        return web.json_response({})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests(model=request.query.get("model", "")))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            model = str(body["model"])
            messages = body["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            return _error_response(400, f"bad request: {exc}", "invalid_request_error")
        self._requests[model].append(body)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self._client_ports.add(peer[1])
        queue = self._scripts.get(model)
        program = None if queue else self.programs.reply(model, body)
        reply = queue.popleft() if queue else _echo_reply(messages)
        if program is not None:
            reply = ScriptedReply.from_json(program)[0]
        latency = (self._latency_ms if reply.latency_ms is None else reply.latency_ms) / 1000
        await _sleep(reply.first_byte_delay_ms / 1000)
        if reply.error is not None:
            await _sleep(latency)
            headers = (
                {"Retry-After": reply.error.retry_after} if reply.error.retry_after is not None else None
            )
            return _error_response(reply.error.status, reply.error.message, "scripted_error", headers)
        answer = _Answer(reply=reply, model=model, id=f"chatcmpl-{next(self._ids)}", messages=messages)
        if not body.get("stream"):
            await _sleep(latency)
            if reply.fault is not None:
                return await _broken_completion(request, answer.completion(), reply.fault)
            return web.json_response(answer.completion())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._stream(request, answer.frames(include_usage=include_usage), reply, latency)

    async def _embeddings(self, request: web.Request) -> web.Response:
        """``/v1/embeddings``: deterministic vectors (see :func:`fake_embedding`); scripted errors
        queued for the model are answered first, like for chat."""
        try:
            body = await request.json()
            model = str(body["model"])
            given = body["input"]
            texts = [given] if isinstance(given, str) else [str(t) for t in given]
            dimension = int(body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSION)
        except (ValueError, KeyError, TypeError) as exc:
            return _error_response(400, f"bad request: {exc}", "invalid_request_error")
        self._requests[model].append(body)
        queue = self._scripts.get(model)
        reply = queue.popleft() if queue else None
        if reply is not None and reply.error is not None:
            headers = (
                {"Retry-After": reply.error.retry_after} if reply.error.retry_after is not None else None
            )
            return _error_response(reply.error.status, reply.error.message, "scripted_error", headers)
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "model": model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(t, dimension)}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _stream(
        self, request: web.Request, frames: list[bytes], reply: ScriptedReply, latency: float
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        self._active_streams += 1
        fault = reply.fault
        try:
            await response.prepare(request)
            await _sleep(latency)
            if fault is None:
                await _write_frames(response, frames, reply)
                await response.write_eof()
                return response
            await _write_frames(response, frames[: fault.after_chunks], reply)
            if fault.kind == "insert":
                await response.write(fault.text.encode())
                await _write_frames(response, frames[fault.after_chunks :], reply)
                await response.write_eof()
            elif fault.kind == "end":
                await response.write_eof()
            else:
                _drop(request)
        except ConnectionError:
            pass  # the client hung up (a cancelled run): nothing left to send
        finally:
            self._active_streams -= 1
        return response


async def _write_frames(response: web.StreamResponse, frames: list[bytes], reply: ScriptedReply) -> None:
    """Write SSE frames paced as the reply asks: one write, one per chunk, or fragments."""
    if not frames:
        return
    if reply.chunk_delay_ms:
        for frame in frames:
            await response.write(frame)
            await asyncio.sleep(reply.chunk_delay_ms / 1000)
    elif reply.fragment_bytes:
        data = b"".join(frames)
        for start in range(0, len(data), reply.fragment_bytes):
            await response.write(data[start : start + reply.fragment_bytes])
            await asyncio.sleep(0)
    else:
        await response.write(b"".join(frames))


async def _broken_completion(
    request: web.Request, completion: dict[str, Any], fault: ScriptedFault
) -> web.StreamResponse:
    """A whole answer broken by ``fault``: no answer, half of its body, or ``text`` instead."""
    if fault.kind == "drop":
        _drop(request)
        return web.Response()  # never sent: the connection is gone
    body = json.dumps(completion).encode()
    if fault.kind == "end":
        body = body[: len(body) // 2]
    else:
        body = fault.text.encode()
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(body)
    await response.write_eof()
    return response


def _drop(request: web.Request) -> None:
    """Close the connection under a response being written: its body never ends."""
    if request.transport is not None:
        request.transport.close()


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """Renders one reply in the OpenAI wire format, streamed or whole."""

    reply: ScriptedReply
    model: str
    id: str
    messages: list[Any]

    def frames(self, *, include_usage: bool) -> list[bytes]:
        reply, size = self.reply, self.reply.chunk_size
        created = int(time.time())
        frames = [self._chunk(created, {"role": "assistant", "content": ""})]
        frames += [self._chunk(created, {"reasoning_content": p}) for p in _pieces(reply.reasoning, size)]
        frames += [self._chunk(created, {"content": p}) for p in _pieces(reply.content, size)]
        # Round-robin over the calls: index 0, 1, 0, 1, ... as parallel calls arrive from real models.
        parts = [_pieces(c.arguments, size) or [""] for c in reply.tool_calls]
        for round_ in range(max(map(len, parts), default=0)):
            for index, (call, pieces) in enumerate(zip(reply.tool_calls, parts, strict=True)):
                if round_ >= len(pieces):
                    continue
                delta: dict[str, Any] = {"index": index, "function": {"arguments": pieces[round_]}}
                if round_ == 0:
                    delta = {
                        "index": index,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": pieces[0]},
                    }
                frames.append(self._chunk(created, {"tool_calls": [delta]}))
        frames.append(self._chunk(created, {}, finish_reason=self._finish_reason()))
        if include_usage:
            usage_chunk = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [],
                "usage": self._usage(),
            }
            frames.append(_sse(usage_chunk))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.content or None}
        if self.reply.reasoning:
            message["reasoning_content"] = self.reply.reasoning
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.reply.tool_calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason()}
            ],
            "usage": self._usage(),
        }

    def _chunk(self, created: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
        )

    def _finish_reason(self) -> str:
        return "tool_calls" if self.reply.tool_calls else "stop"

    def _usage(self) -> dict[str, int]:
        prompt_chars = sum(len(m.get("content") or "") for m in self.messages if isinstance(m, dict))
        completion_chars = len(self.reply.content) + len(self.reply.reasoning)
        completion_chars += sum(len(c.arguments) + len(c.name) for c in self.reply.tool_calls)
        prompt, completion = max(1, prompt_chars // 4), max(1, completion_chars // 4)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _echo_reply(messages: list[Any]) -> ScriptedReply:
    last_user = next(
        (m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), ""
    )
    return ScriptedReply(
        content=f"echo: {last_user if isinstance(last_user, str) else json.dumps(last_user)}"
    )


def _pieces(text: str, size: int | None) -> list[str]:
    if not text:
        return []
    step = size if size and size > 0 else math.ceil(len(text) / 4)
    return [text[i : i + step] for i in range(0, len(text), step)]


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A unit vector for ``text``: the sum of one pseudo-random vector per lower-cased word, seeded by
    the word, so texts sharing words are similar and the same text always gets the same vector."""
    total = [0.0] * dimension
    for word in text.lower().split() or [""]:
        rng = random.Random(hashlib.sha256(word.encode()).digest())
        for i in range(dimension):
            total[i] += rng.gauss(0.0, 1.0)
    norm = math.sqrt(sum(v * v for v in total)) or 1.0
    return [v / norm for v in total]


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _error_response(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.json_response(body, status=status, headers=headers)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
