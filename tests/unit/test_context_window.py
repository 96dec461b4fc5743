"""Context window bookkeeping: estimates err high, the meter trusts providers only so far, eviction
never separates a tool call from its results, and the summariser sees what it replaces."""

from __future__ import annotations

import pytest

from services.agent.core.context_window import (
    ContextBudget,
    ContextMeter,
    choose_eviction,
    estimate_tokens,
    history_tokens,
    overflow_detail,
    summary_request,
    text_tokens,
)
from services.agent.core.history import HistoryMessage
from services.agent.llm import ChatMessage, ToolCall, ToolSpec

BUDGET = ContextBudget(window=1_000, reserve_output=100)


def user(seq: int, text: str = "hi") -> HistoryMessage:
    return HistoryMessage(role="user", content=text, seq=seq)


def reply(seq: int, text: str = "hello") -> HistoryMessage:
    return HistoryMessage(role="assistant", content=text, seq=seq)


def call(seq: int, *ids: str) -> HistoryMessage:
    calls = tuple(ToolCall(id=i, name="search", arguments='{"q": "x"}') for i in ids)
    return HistoryMessage(role="assistant", tool_calls=calls, seq=seq)


def result(seq: int, call_id: str) -> HistoryMessage:
    return HistoryMessage(role="tool", content="found", tool_call_id=call_id, name="search", seq=seq)


def evict(messages, *, fixed=0, budget=BUDGET, each=100):
    return choose_eviction(messages, fixed_tokens=fixed, budget=budget, tokens_of=lambda _m: each)


def assert_no_split(messages, boundary):
    kept = [m for m in messages if m.seq > boundary]
    evicted = [m for m in messages if m.seq <= boundary]
    evicted_calls = {c.id for m in evicted for c in m.tool_calls}
    kept_results = {m.tool_call_id for m in kept if m.role == "tool"}
    assert kept[0].role != "tool"
    assert not evicted[-1].tool_calls
    assert not evicted_calls & kept_results


# --- estimates ------------------------------------------------------------------------------------


def test_estimate_is_at_least_a_third_of_the_characters_plus_overhead():
    for length in (0, 1, 2, 3, 10, 999, 10_000):
        text = "a" * length
        tokens = estimate_tokens([ChatMessage(role="user", content=text)])
        assert tokens >= length / 3 + 4


def test_estimate_grows_with_every_message_and_character():
    messages = [ChatMessage(role="user", content="hello world")]
    previous = estimate_tokens(messages)
    for text in ("a", "longer text " * 10, "ünïcödé", "漢字テキスト"):
        messages.append(ChatMessage(role="assistant", content=text))
        current = estimate_tokens(messages)
        assert current > previous
        previous = current


def test_non_ascii_text_counts_more_than_ascii_of_the_same_length():
    assert text_tokens("漢字" * 30) > text_tokens("ab" * 30)
    assert text_tokens("漢字" * 30) >= 60  # CJK runs at about a token per character or more


def test_tool_calls_and_their_arguments_count():
    bare = ChatMessage(role="assistant")
    calling = ChatMessage(
        role="assistant",
        tool_calls=(ToolCall(id="c1", name="search", arguments='{"q": "' + "x" * 300 + '"}'),),
    )
    assert estimate_tokens([calling]) >= estimate_tokens([bare]) + 100


def test_tool_schemas_count():
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(30)}}
    tool = ToolSpec(name="lookup", description="Look something up.", parameters=schema)
    messages = [ChatMessage(role="user", content="hi")]
    assert estimate_tokens(messages, [tool]) > estimate_tokens(messages) + 100


def test_history_tokens_match_the_chat_estimate_of_the_same_message():
    message = call(1, "c1")
    as_chat = ChatMessage(role="assistant", tool_calls=message.tool_calls)
    assert history_tokens(message) == estimate_tokens([as_chat]) - estimate_tokens([])


# --- meter ----------------------------------------------------------------------------------------


def test_meter_without_observation_answers_the_raw_estimate():
    messages = [ChatMessage(role="user", content="x" * 300)]
    assert ContextMeter().tokens(messages) == estimate_tokens(messages)


def test_meter_follows_the_provider_within_limits():
    messages = [ChatMessage(role="user", content="x" * 3000)]
    raw = estimate_tokens(messages)
    meter = ContextMeter()
    meter.observe(1000, 1500)
    assert meter.tokens(messages) == pytest.approx(raw * 1.5, abs=1)


def test_meter_never_goes_below_eight_tenths_of_the_estimate():
    meter = ContextMeter()
    meter.observe(1000, 600)
    assert meter.scale(1000) == 800


def test_meter_clamps_a_wildly_off_report():
    high, low = ContextMeter(), ContextMeter()
    high.observe(1000, 50_000)
    low.observe(1000, 3)
    assert high.ratio == 2.0
    assert low.ratio == 0.5
    assert high.scale(1000) == 2000
    assert low.scale(1000) == 800


def test_meter_ignores_a_provider_that_reports_nothing():
    meter = ContextMeter()
    meter.observe(1000, 0)
    meter.observe(0, 500)
    assert meter.ratio is None


def test_meter_smooths_one_odd_report():
    meter = ContextMeter()
    meter.observe(1000, 1000)
    meter.observe(1000, 2000)
    assert meter.ratio == pytest.approx(1.5)


# --- budget ---------------------------------------------------------------------------------------


def test_budget_thresholds():
    budget = ContextBudget(window=10_000, reserve_output=1_000)
    assert not budget.over_threshold(7_500)
    assert budget.over_threshold(7_501)
    assert budget.fits(9_000)
    assert not budget.fits(9_001)


def test_budget_summarises_early_when_the_reply_reserve_would_not_fit():
    budget = ContextBudget(window=8_000, reserve_output=4_000)
    assert budget.over_threshold(4_001)
    assert budget.keep_within == 4_000


def test_budget_for_model_reserves_max_output_or_an_eighth():
    assert ContextBudget.for_model(context_window=128_000).reserve_output == 4096
    assert ContextBudget.for_model(context_window=8_000).reserve_output == 1000
    assert ContextBudget.for_model(context_window=8_000, max_output_tokens=2000).reserve_output == 2000


def test_budget_refuses_nonsense():
    with pytest.raises(ValueError):
        ContextBudget(window=1000, threshold=0.5, target=0.6, reserve_output=0)
    with pytest.raises(ValueError):
        ContextBudget(window=1000, reserve_output=1000)


def test_overflow_detail_names_the_numbers():
    detail = overflow_detail(130_000, ContextBudget(window=128_000, reserve_output=4096))
    assert "130,000" in detail and "128,000" in detail and "4,096" in detail


# --- eviction -------------------------------------------------------------------------------------


def test_evicts_the_oldest_messages_until_the_rest_fits_the_target():
    messages = [user(1), reply(2), user(3), reply(4), user(5), reply(6), user(7), reply(8), user(9)]
    # target 500 tokens, 100 each: keep 5 messages (seq 5..9), evict up to seq 4.
    assert evict(messages) == 4


def test_fixed_part_reduces_what_is_kept():
    messages = [user(1), reply(2), user(3), reply(4), user(5), reply(6), user(7), reply(8), user(9)]
    assert evict(messages, fixed=200) == 6


def test_never_splits_a_call_from_its_result():
    messages = [user(1), reply(2), user(3), call(4, "a"), result(5, "a"), reply(6), user(7)]
    for fixed in range(0, 500, 50):
        boundary = evict(messages, fixed=fixed)
        assert boundary is not None
        assert boundary != 4
        assert_no_split(messages, boundary)


def test_never_splits_parallel_results():
    messages = [
        user(1),
        reply(2),
        user(3),
        call(4, "a", "b", "c"),
        result(5, "a"),
        result(6, "b"),
        result(7, "c"),
        reply(8),
        user(9),
    ]
    for fixed in range(0, 900, 25):
        for each in (50, 100, 300):
            boundary = evict(messages, fixed=fixed, each=each)
            if boundary is not None:
                assert boundary not in (4, 5, 6)
                assert_no_split(messages, boundary)


def test_result_far_from_its_call_keeps_the_whole_span():
    # An approval in between: the result of "b" arrives after a user message.
    messages = [user(1), reply(2), call(3, "a", "b"), result(4, "a"), user(5), result(6, "b")]
    messages += [reply(7), user(8)]
    for fixed in range(0, 900, 25):
        boundary = evict(messages, fixed=fixed)
        if boundary is not None:
            assert boundary not in (3, 4, 5)
            assert_no_split(messages, boundary)


def test_repeated_call_ids_pair_with_the_latest_call():
    # Servers without ids: every step numbers its calls call_0, call_1, ...
    messages = [user(1), call(2, "call_0"), result(3, "call_0"), reply(4), user(5), call(6, "call_0")]
    messages += [result(7, "call_0"), reply(8), user(9)]
    assert evict(messages, each=100) == 4


def test_always_keeps_the_newest_message():
    messages = [user(1), reply(2), user(3)]
    assert evict(messages, fixed=10_000) == 2


def test_nothing_to_evict_from_one_message():
    assert evict([user(1, "x" * 100_000)], fixed=10_000, each=10_000) is None


def test_nothing_to_evict_when_every_cut_would_split_a_call():
    messages = [call(1, "a"), result(2, "a")]
    assert evict(messages, fixed=10_000) is None


def test_nothing_to_evict_when_everything_fits():
    assert evict([user(1), reply(2), user(3)], each=10) is None


def test_prefers_a_whole_turn_when_it_costs_little():
    # Minimal cut keeps seq 5..9 (after a reply); the next user turn starts at seq 6, one cheap
    # message later.
    messages = [user(1), reply(2), reply(3), reply(4), reply(5), user(6), reply(7), reply(8), reply(9)]
    sizes = {5: 10}
    boundary = choose_eviction(
        messages, fixed_tokens=0, budget=BUDGET, tokens_of=lambda m: sizes.get(m.seq, 100)
    )
    assert boundary == 5


def test_does_not_evict_a_costly_extra_to_reach_a_turn():
    # Reaching the turn at seq 7 would evict 200 tokens more than needed (slack: 100).
    messages = [user(1), reply(2), reply(3), reply(4), reply(5), reply(6), user(7), reply(8), reply(9)]
    assert evict(messages) == 4


# --- summary request ------------------------------------------------------------------------------


def test_summary_request_has_the_previous_summary_and_the_evicted_messages():
    evicted = [user(1, "my cat is called Tom"), call(2, "c1"), result(3, "c1"), reply(4, "noted")]
    request = summary_request(
        model="m", previous_summary="The user lives in Oslo.", evicted=evicted, max_tokens=500
    )
    assert request.model == "m"
    assert request.max_tokens == 500
    assert request.tools == ()
    text = "\n".join(m.content or "" for m in request.messages)
    assert "The user lives in Oslo." in text
    assert "my cat is called Tom" in text
    assert 'search({"q": "x"})' in text
    assert "found" in text and "noted" in text


def test_summary_request_truncates_giant_messages():
    giant = "start " + "x" * 100_000 + " end"
    request = summary_request(model="m", previous_summary="", evicted=[user(1, giant)], max_tokens=None)
    text = request.messages[-1].content or ""
    assert len(text) < 3_000
    assert "start" in text and "end" in text and "omitted" in text
