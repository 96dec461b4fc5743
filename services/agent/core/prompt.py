"""Turning an agent and its context into the messages sent to the model."""

from __future__ import annotations

from collections.abc import Iterable

from services.agent.core.agents import Agent
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.llm import ChatMessage


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


def chat_messages(
    agent: Agent, context: ContextSnapshot, pending: Iterable[HistoryMessage] = ()
) -> tuple[ChatMessage, ...]:
    """System message, the in-context history, then this run's messages not yet in memory."""
    messages = [system_message(agent, context)]
    for message in (*context.messages, *pending):
        messages.append(
            ChatMessage(
                role=message.role,
                # An assistant message that only calls tools has no content, not an empty one.
                content=(message.content or None) if message.tool_calls else message.content,
                tool_calls=message.tool_calls,
                tool_call_id=message.tool_call_id or None,
                name=message.name or None,
            )
        )
    return tuple(messages)
