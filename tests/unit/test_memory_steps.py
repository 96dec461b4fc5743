"""The memory of one agent step (``AgentSteps``) over a fake repository: what it asks the store,
in which order, and what it does when the append's own read is not usable."""

from __future__ import annotations

from datetime import UTC, datetime

from services.memory.core.model import AgentContext, AppendResult, NewMessage, Role, StoredMessage
from services.memory.core.steps import AgentSteps

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def stored(seq: int) -> StoredMessage:
    return StoredMessage(
        role=Role.USER, content=f"m{seq}", id=f"id{seq}", agent_id="a", seq=seq, run_id="r", created_at=NOW
    )


def context(*seqs: int) -> AgentContext:
    return AgentContext(
        summary="",
        messages=tuple(stored(s) for s in seqs),
        boundary_seq=0,
        epoch=1,
        message_count=len(seqs),
    )


class FakeSteps:
    """A StepRepository that records its calls; ``appended_context`` is what an append reads."""

    def __init__(self, appended_context: AgentContext | None):
        self.calls: list[str] = []
        self.appended_context = appended_context

    async def read_context(self, *, tenant, agent_id, max_messages=0):
        self.calls.append(f"read {max_messages}")
        return context(1, 2)

    async def append(self, *, tenant, agent_id, epoch, run_id, idempotency_key, new_messages, **read):
        self.calls.append(f"append then_read={read.get('then_read', False)}")
        result = AppendResult((stored(2),))
        return result, self.appended_context if read.get("then_read") else None

    async def fence(self, *, tenant, agent_id, epoch):
        self.calls.append(f"fence {epoch}")

    async def move_boundary(self, **_):
        raise AssertionError("not used here")


APPEND = {
    "tenant": "t",
    "agent_id": "a",
    "epoch": 1,
    "run_id": "r",
    "idempotency_key": "k",
    "new_messages": [NewMessage(role=Role.USER, content="m2")],
}


async def test_a_context_read_fences_older_lease_holders_out_first():
    store = FakeSteps(None)
    await AgentSteps(store).context(tenant="t", agent_id="a", epoch=3, max_messages=10)
    assert store.calls == ["fence 3", "read 10"]


async def test_the_append_s_own_read_answers_when_it_could_make_it():
    store = FakeSteps(context(1, 2))
    _, read = await AgentSteps(store).append_then_read(**APPEND, max_messages=5)
    assert store.calls == ["append then_read=True"]
    assert [m.seq for m in read.messages] == [1, 2]


async def test_without_the_append_s_own_read_the_context_is_read_on_its_own():
    store = FakeSteps(None)  # deduplicated, raced by another append, or kept messages stale
    _, read = await AgentSteps(store).append_then_read(**APPEND, max_messages=5)
    assert store.calls == ["append then_read=True", "read 5"]
    assert [m.seq for m in read.messages] == [1, 2]


async def test_a_plain_append_reads_nothing():
    store = FakeSteps(context(1, 2))
    result = await AgentSteps(store).append(**APPEND)
    assert store.calls == ["append then_read=False"]
    assert [m.seq for m in result.messages] == [2]
