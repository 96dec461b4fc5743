"""What an operator sees of one model call: a span by OpenTelemetry's GenAI conventions (model,
token usage, finish reason; the prompt and the answer only when an operator sets
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``) and the ``agentsuite.llm.*`` metrics."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from services.agent.llm import ChatRequest, Completion
from services.common import metrics
from services.common.telemetry import capture_content, tracer, traces_recorded


class ModelCallObservation:
    """Opened before the request is sent; ``first_token`` at the first piece of the answer;
    ``close`` with the completion (or None when the call failed)."""

    def __init__(self, provider: str, request: ChatRequest):
        self._model = request.model
        self._started = time.monotonic()
        self._first_token: float | None = None
        self._span = None
        if traces_recorded():
            attributes: dict[str, str | int] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": request.model,
            }
            if request.max_tokens is not None:
                attributes["gen_ai.request.max_tokens"] = request.max_tokens
            if capture_content():
                messages = [asdict(message) for message in request.messages]
                attributes["gen_ai.input.messages"] = json.dumps(messages, default=str)
            self._span = tracer().start_span(
                f"chat {request.model}", kind=SpanKind.CLIENT, attributes=attributes
            )

    def first_token(self) -> None:
        if self._first_token is None:
            self._first_token = time.monotonic() - self._started

    def close(self, completion: Completion | None, error: BaseException | None = None) -> None:
        seconds = time.monotonic() - self._started
        usage = completion.usage if completion is not None else None
        outcome = "ok" if completion is not None else _outcome(error)
        metrics.record_llm_call(
            self._model,
            outcome,
            seconds,
            self._first_token,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
        )
        if self._span is None:
            return
        if usage is not None:
            self._span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": usage.completion_tokens,
                }
            )
        if completion is not None:
            self._span.set_attribute(
                "gen_ai.response.finish_reasons", [completion.finish_reason or "unknown"]
            )
            if capture_content():
                self._span.set_attribute("gen_ai.output.messages", completion.content)
        else:
            self._span.set_status(trace.StatusCode.ERROR, outcome)
            self._span.set_attribute("error.type", type(error).__name__ if error else "incomplete")
        self._span.end()


def _outcome(error: BaseException | None) -> str:
    name = type(error).__name__ if error is not None else ""
    if name == "CancelledError":
        return "cancelled"
    if name == "DeadlineExceeded":
        return "deadline"
    return "error"
