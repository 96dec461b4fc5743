"""The offline scripted model: answers without any network so the demo and tests run anywhere.

Every reply says plainly that it comes from a scripted model, so nobody mistakes it for a real LLM.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

from services.common.errors import DeadlineExceeded

from .types import ChatRequest, Completion, LLMEvent, TextDelta, TokenUsage

LABEL = "[offline scripted model] "

# Keeps each word's trailing whitespace, so the deltas concatenate back to the exact reply.
_WORDS = re.compile(r"\S+\s*")


class ScriptedModel:
    """A deterministic :class:`~services.agent.llm.types.ChatModel` that echoes the last user message."""

    def __init__(self, *, word_delay: float = 0.0):
        # A small delay makes the demo look like streaming; tests keep it at zero.
        self._word_delay = word_delay

    def __repr__(self) -> str:
        return "ScriptedModel()"

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[LLMEvent]:
        """Stream the reply word by word, then a :class:`Completion` with an estimated usage."""
        reply = reply_for(request)
        for word in _WORDS.findall(reply):
            _check_deadline(deadline)
            # Even at zero delay, yield to the loop so a cancel lands between words.
            await asyncio.sleep(self._word_delay)
            yield TextDelta(text=word)
        yield _completion(request, reply)

    async def complete(self, request: ChatRequest, *, deadline: float | None = None) -> Completion:
        """The same reply in one piece."""
        _check_deadline(deadline)
        return _completion(request, reply_for(request))

    async def aclose(self) -> None:
        """Nothing to release."""


def reply_for(request: ChatRequest) -> str:
    """The scripted reply: a function of the last user message only, so tests can predict it."""
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user" and m.content), None)
    heard = f'You said: "{last_user.strip()}". ' if last_user else "I did not receive a message. "
    return (
        f"{LABEL}{heard}Thanks for trying agentsuite! I am an offline scripted model, not a real LLM. "
        "Set AGENTSUITE_OPENAI_BASE_URL / OPENAI_API_KEY to talk to a real one."
    )


def _completion(request: ChatRequest, reply: str) -> Completion:
    prompt_chars = sum(len(m.content or "") for m in request.messages)
    prompt, completion = _estimate_tokens(prompt_chars), _estimate_tokens(len(reply))
    return Completion(
        content=reply,
        reasoning="",
        tool_calls=(),
        usage=TokenUsage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        ),
        finish_reason="stop",
    )


def _estimate_tokens(chars: int) -> int:
    # The usual rule of thumb for English text: about four characters per token.
    return max(1, round(chars / 4))


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("the deadline passed while the scripted model was answering")
