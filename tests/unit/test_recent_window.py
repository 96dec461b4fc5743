"""What is kept of an agent's newest messages, and the window a read makes of it (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from services.memory.core.model import Role, StoredMessage
from services.memory.store.recent import OVERHEAD, RecentMessages, in_context


def messages(*seqs: int, agent_id: str = "a") -> list[StoredMessage]:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    return [
        StoredMessage(
            role=Role.USER, id=f"{agent_id}{seq}", agent_id=agent_id, seq=seq, run_id="", created_at=moment
        )
        for seq in seqs
    ]


def seqs(found: list[StoredMessage] | None) -> list[int] | None:
    return None if found is None else [m.seq for m in found]


def test_the_window_continues_the_known_messages_with_the_fetched_ones():
    assert seqs(in_context(messages(3, 4, 5), messages(6), boundary_seq=0, max_messages=3)) == [4, 5, 6]
    assert seqs(in_context(messages(1, 2), messages(3), boundary_seq=0, max_messages=0)) == [1, 2, 3]
    assert seqs(in_context(messages(1, 2, 3), [], boundary_seq=2, max_messages=0)) == [3]


def test_enough_fetched_messages_need_nothing_known():
    assert seqs(in_context(messages(1, 2), messages(7, 8), boundary_seq=0, max_messages=2)) == [7, 8]


def test_known_messages_that_do_not_reach_back_far_enough_are_not_a_window():
    assert in_context(messages(4, 5), messages(6), boundary_seq=0, max_messages=4) is None
    assert in_context(messages(4, 5), messages(6), boundary_seq=2, max_messages=0) is None
    assert seqs(in_context(messages(4, 5), messages(6), boundary_seq=3, max_messages=0)) == [4, 5, 6]


def test_everything_evicted_is_an_empty_window():
    assert in_context(messages(1, 2), [], boundary_seq=2, max_messages=5) == []


def test_appends_extend_only_what_they_follow_without_a_gap():
    recent = RecentMessages()
    recent.extend("a", messages(1))
    assert recent.newest("a") == ()

    recent.keep("a", messages(1, 2))
    recent.extend("a", messages(3))
    recent.extend("a", messages(5))

    assert seqs(list(recent.newest("a"))) == [1, 2, 3]


def test_the_least_recently_read_agents_are_dropped_past_the_limit():
    recent = RecentMessages(limit=4 * OVERHEAD, per_agent=3)
    recent.keep("a", messages(1, 2, agent_id="a"))
    recent.keep("b", messages(1, 2, agent_id="b"))
    recent.newest("a")
    recent.keep("c", messages(1, 2, agent_id="c"))
    recent.keep("d", messages(1, 2, 3, 4, agent_id="d"))  # longer than one agent may keep

    assert [len(recent.newest(agent)) for agent in "abcd"] == [2, 0, 2, 0]


def test_long_messages_count_for_their_length():
    recent = RecentMessages(limit=3 * OVERHEAD)
    recent.keep("a", [replace(messages(1)[0], content="x" * 3 * OVERHEAD)])

    assert len(recent.newest("a")) == 0
