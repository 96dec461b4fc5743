"""What the model is sent: system prompt with memory and summary, then history, then the new input."""

from __future__ import annotations

from datetime import UTC, datetime

from services.agent.core.agents import Agent, ModelChoice
from services.agent.core.history import ContextSnapshot, HistoryMessage
from services.agent.core.prompt import NOT_RUN, chat_messages, system_message
from services.agent.llm import ChatMessage, ToolCall


def make_agent(system_prompt: str = "  You are terse.  ") -> Agent:
    now = datetime.now(UTC)
    return Agent(
        id="a-1",
        name="terse",
        system_prompt=system_prompt,
        model=ModelChoice(provider="scripted", model="scripted"),
        created_at=now,
        updated_at=now,
    )


def snapshot(*, memory: str = "", summary: str = "", messages: tuple[HistoryMessage, ...] = ()):
    return ContextSnapshot(compiled_memory=memory, summary=summary, messages=messages, epoch=1)


def test_system_message_is_the_stripped_prompt_then_memory_then_summary():
    message = system_message(
        make_agent(), snapshot(memory="<memory_blocks>human: Ada</memory_blocks>", summary="They met.")
    )

    assert message.role == "system"
    assert message.content == (
        "You are terse.\n\n"
        "<memory_blocks>human: Ada</memory_blocks>\n\n"
        "<summary_of_earlier_conversation>\nThey met.\n</summary_of_earlier_conversation>"
    )


def test_system_message_leaves_out_empty_parts():
    assert system_message(make_agent(), snapshot()).content == "You are terse."
    assert system_message(make_agent(system_prompt=""), snapshot(summary="s")).content == (
        "<summary_of_earlier_conversation>\ns\n</summary_of_earlier_conversation>"
    )


def test_history_is_sent_in_order_after_the_system_message():
    history = (
        HistoryMessage(role="user", content="first", seq=1),
        HistoryMessage(role="assistant", content="reply", seq=2),
        HistoryMessage(role="user", content="second", seq=3),
    )

    messages = chat_messages(make_agent(), snapshot(messages=history))

    assert [(m.role, m.content) for m in messages] == [
        ("system", "You are terse."),
        ("user", "first"),
        ("assistant", "reply"),
        ("user", "second"),
    ]


def test_tool_calls_and_tool_results_keep_their_ids_and_names():
    call = ToolCall(id="call-1", name="lookup", arguments='{"q": "x"}')
    history = (
        HistoryMessage(role="assistant", content="", tool_calls=(call,)),
        HistoryMessage(role="tool", content='{"hits": 0}', tool_call_id="call-1", name="lookup"),
    )

    _, assistant, tool = chat_messages(make_agent(), snapshot(messages=history))

    assert assistant == ChatMessage(role="assistant", content=None, tool_calls=(call,))
    assert tool == ChatMessage(role="tool", content='{"hits": 0}', tool_call_id="call-1", name="lookup")


def test_plain_messages_send_empty_optional_fields_as_none_not_empty_strings():
    history = (HistoryMessage(role="user", content="hi"),)
    (_, user) = chat_messages(make_agent(), snapshot(messages=history))

    assert user == ChatMessage(role="user", content="hi", tool_call_id=None, name=None)


def test_assistant_text_next_to_tool_calls_is_kept():
    call = ToolCall(id="c", name="t", arguments="{}")
    history = (HistoryMessage(role="assistant", content="Let me check.", tool_calls=(call,)),)

    _, assistant, _ = chat_messages(make_agent(), snapshot(messages=history))

    assert assistant.content == "Let me check."


def test_a_call_left_unanswered_reads_as_not_run_before_the_next_message():
    calls = (ToolCall(id="a", name="t", arguments="{}"), ToolCall(id="b", name="t", arguments="{}"))
    history = (
        HistoryMessage(role="assistant", content="", tool_calls=calls),
        HistoryMessage(role="tool", content="done", tool_call_id="a", name="t"),
        HistoryMessage(role="user", content="never mind"),
    )

    messages = chat_messages(make_agent(), snapshot(messages=history))

    assert [(m.role, m.tool_call_id) for m in messages[1:]] == [
        ("assistant", None),
        ("tool", "a"),
        ("tool", "b"),
        ("user", None),
    ]
    assert messages[3].content == NOT_RUN
