"""Replies computed from the request: for tests that run many conversations of one model at once.

A script (``POST /_admin/script``) is a queue of replies consumed in order, which fits one
conversation at a time. A program instead reads each request and answers what that request's own
context calls for, so concurrent runs, a step retried after a crash and a run taken over by another
gateway each get the answer their history asks for, whatever order the requests arrive in.

One program exists, ``effects``, made for the fault tests (issue 14): every user message is a
*marker*, and the model answers it in two steps —

1. the prompt ends with a user message: call ``core_memory_append`` (the marker into a block),
   ``archival_memory_insert`` (the marker as a passage) and, when the program names one, a custom
   tool with ``{"marker": marker}``; fresh tool-call ids every time, as a real provider makes them;
2. the prompt ends with anything else (tool results; an answer a crashed try already stored):
   answer ``done: <marker>`` and call nothing. A model that acted again on a message it had acted on
   would hide the suite's own repeats behind the model's.

A request without tools (the agent's summariser) gets a short summary. Set a program with
``POST /_admin/program`` and the JSON form of :class:`EffectsProgram` plus ``"model"``; scripted
replies queued for the model still come first.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

SUMMARY = "The user sent markers; each was stored."


@dataclass(frozen=True, kw_only=True)
class EffectsProgram:
    """Answers each user message with memory edits and a custom tool call carrying the message."""

    label: str = "human"
    """Core memory block the marker is appended to."""
    tool: str = ""
    """Custom tool called with ``{"marker": ...}`` in the first step; none when empty."""
    latency_ms: tuple[float, float] = (0.0, 0.0)
    """Delay before each reply, spread over this range by a hash of the marker and the step (so
    the same request is always as slow, and different conversations differ)."""
    first_step_latency_ms: float | None = None
    """Delay of the first step's reply (the one with the tool calls) instead, e.g. 8000 for a call a
    gateway is frozen across; the final reply keeps ``latency_ms``."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EffectsProgram:
        low, high = data.get("latency_ms") or (0.0, 0.0)
        first = data.get("first_step_latency_ms")
        return cls(
            label=str(data.get("label") or "human"),
            tool=str(data.get("tool") or ""),
            latency_ms=(float(low), float(high)),
            first_step_latency_ms=None if first is None else float(first),
        )

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The reply to one chat request, in the JSON form of a scripted reply."""
        messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
        marker = next(
            (str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        if not body.get("tools"):
            return {"content": SUMMARY, "latency_ms": self._latency(marker, "summary")}
        if not messages or messages[-1].get("role") != "user":
            return {"content": f"done: {marker}", "latency_ms": self._latency(marker, "final")}
        calls = [
            _call("core_memory_append", {"label": self.label, "content": marker}),
            _call("archival_memory_insert", {"content": marker}),
        ]
        if self.tool:
            calls.append(_call(self.tool, {"marker": marker}))
        latency = self.first_step_latency_ms
        return {
            "tool_calls": calls,
            "latency_ms": self._latency(marker, "tools") if latency is None else latency,
        }

    def _latency(self, marker: str, step: str) -> float:
        low, high = self.latency_ms
        if high <= low:
            return low
        spread = int.from_bytes(hashlib.sha256(f"{step}:{marker}".encode()).digest()[:4], "big")
        return low + (high - low) * spread / 0xFFFFFFFF


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"call_{uuid.uuid4().hex[:16]}", "name": name, "arguments": arguments}


class Programs:
    """The programs set per model name (a model without one is answered as before)."""

    def __init__(self) -> None:
        self._by_model: dict[str, EffectsProgram] = {}

    def set(self, model: str, program: EffectsProgram) -> None:
        self._by_model[model] = program

    def reply(self, model: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The program's reply for ``model``, or None when it has no program."""
        program = self._by_model.get(model)
        return None if program is None else program.reply(body)

    async def admin_set(self, request: web.Request) -> web.Response:
        """``POST /_admin/program``: ``{"model": ..., "program": "effects", ...EffectsProgram}``."""
        try:
            data = await request.json()
            model = str(data["model"])
            if data.get("program", "effects") != "effects":
                raise ValueError(f"unknown program {data['program']!r}; there is only 'effects'")
            program = EffectsProgram.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return web.json_response({"error": f"bad program: {exc}"}, status=400)
        self.set(model, program)
        return web.json_response({"model": model, "program": "effects"})
