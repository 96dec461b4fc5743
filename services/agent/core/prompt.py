"""Turning an agent and its context into the messages sent to the model."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from services.agent.core.agents import Agent
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.llm import ChatMessage

_NAME_UNSAFE = re.compile(r"[\s<|\\/>]")
NOT_RUN = (
    "no result: the run ended before this call was answered (it was cancelled, failed, or never "
    "approved); assume it did not run"
)


def system_message(agent: Agent, context: ContextSnapshot) -> ChatMessage:
    """The agent's system prompt followed by its core memory and the running summary."""
    parts = [agent.system_prompt.strip()]
    if context.compiled_memory:
        parts.append(context.compiled_memory)
    if context.summary:
        parts.append(
            f"<summary_of_earlier_conversation>\n{context.summary}\n</summary_of_earlier_conversation>"
        )
    return ChatMessage(role="system", content="\n\n".join(part for part in parts if part))


def chat_message(message: HistoryMessage) -> ChatMessage:
    """One stored message as the model reads it."""
    return ChatMessage(
        role=message.role,
        # An assistant message that only calls tools has no content, not an empty one.
        content=(message.content or None) if message.tool_calls else message.content,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id or None,
        name=_name(message.name),
    )


def _name(name: str) -> str | None:
    """A sender name providers accept (OpenAI: no spaces or ``<|\\/>``, at most 64 characters);
    a stored name like "John Smith" must not make every later request fail."""
    if not name:
        return None
    cleaned = _NAME_UNSAFE.sub("_", name)[:64]
    return cleaned or None


def chat_messages(
    agent: Agent,
    context: ContextSnapshot,
    convert: Callable[[HistoryMessage], ChatMessage] = chat_message,
) -> tuple[ChatMessage, ...]:
    """System message, then the in-context history (each message as ``convert`` makes it: a
    caller may cache :func:`chat_message` by message id, as stored messages never change).

    Providers refuse a history where a tool call has no result. A call that waited for approval
    and was overtaken by a new message never got one, so it reads as not run.
    """
    messages = [system_message(agent, context)]
    unanswered: list[str] = []
    for message in context.messages:
        if message.role == "tool":
            if message.tool_call_id not in unanswered:
                continue  # a result that answers no open call; providers refuse it
            unanswered.remove(message.tool_call_id)
        elif unanswered:
            messages.extend(_not_run(unanswered))
            unanswered = []
        messages.append(convert(message))
        if message.tool_calls:
            unanswered = [call.id for call in message.tool_calls]
    messages.extend(_not_run(unanswered))
    return tuple(messages)


def _not_run(call_ids: Iterable[str]) -> list[ChatMessage]:
    return [ChatMessage(role="tool", content=NOT_RUN, tool_call_id=call_id) for call_id in call_ids]
