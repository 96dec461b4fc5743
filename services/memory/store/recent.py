"""The newest messages of recently read agents, so a context read fetches only what is new.

Every step of an agent reads its whole context again: up to a hundred messages the service read a
moment before, built as JSON by PostgreSQL and parsed again here. A stored message never changes
(memory only appends, and deletes an agent's messages all at once), so what was read once stays
true. A read names the newest message it holds (its seq and id) and fetches only the messages after
it; the same statement answers the id stored at that seq, so a forgotten agent set up again (new
ids) or any other surprise is noticed, and the read is made again in full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from services.memory.core.model import StoredMessage

DEFAULT_LIMIT = 64_000_000
"""Characters kept per process, counting ``OVERHEAD`` per message: the hundred-message contexts of
several hundred agents."""
OVERHEAD = 1_000
"""What a kept message costs beyond its text, roughly, in characters."""
PER_AGENT = 1_000
"""An agent whose window is longer than this is read in full every time: it would crowd the rest."""


class RecentMessages:
    """Per agent, its newest messages in seq order without gaps; least recently used dropped first."""

    def __init__(self, *, limit: int = DEFAULT_LIMIT, per_agent: int = PER_AGENT):
        self._limit = limit
        self._per_agent = per_agent
        self._by_agent: OrderedDict[str, tuple[tuple[StoredMessage, ...], int]] = OrderedDict()
        self._size = 0

    def newest(self, agent_id: str) -> tuple[StoredMessage, ...]:
        """What is kept of ``agent_id`` (empty when nothing)."""
        kept = self._by_agent.get(agent_id)
        if kept is None:
            return ()
        self._by_agent.move_to_end(agent_id)
        return kept[0]

    def keep(self, agent_id: str, messages: Sequence[StoredMessage]) -> None:
        """Keep ``messages`` (newest of the agent, seq without gaps) instead of what was kept."""
        self.forget(agent_id)
        if not messages or len(messages) > self._per_agent:
            return
        size = sum(len(m.content) + len(m.reasoning) for m in messages) + OVERHEAD * len(messages)
        self._by_agent[agent_id] = (tuple(messages), size)
        self._size += size
        while self._size > self._limit:
            _, (_, dropped) = self._by_agent.popitem(last=False)
            self._size -= dropped

    def extend(self, agent_id: str, appended: Sequence[StoredMessage]) -> None:
        """Add messages just appended, when they follow what is kept without a gap."""
        kept = self.newest(agent_id)
        if kept and appended and appended[0].seq == kept[-1].seq + 1:
            self.keep(agent_id, kept + tuple(appended))

    def forget(self, agent_id: str) -> None:
        _, size = self._by_agent.pop(agent_id, ((), 0))
        self._size -= size


def in_context(
    known: Sequence[StoredMessage],
    fetched: Sequence[StoredMessage],
    *,
    boundary_seq: int,
    max_messages: int,
) -> list[StoredMessage] | None:
    """The newest ``max_messages`` (0: all) messages after the boundary: the ``known`` ones followed by
    ``fetched`` (every message after the newest known one, up to the limit); None when ``known``
    does not reach back far enough, so the read must be made without it."""
    if max_messages and len(fetched) >= max_messages:
        return list(fetched[-max_messages:])
    messages = [m for m in known if m.seq > boundary_seq]
    messages.extend(fetched)
    if max_messages:
        del messages[:-max_messages]
    complete = (
        not messages
        or messages[0].seq == boundary_seq + 1
        or (max_messages and len(messages) == max_messages)
    )
    return messages if complete else None
