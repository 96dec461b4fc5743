"""Per-agent lanes inside one gateway: one run at a time per agent, in arrival order.

A lane exists only while some run of its agent is running or waiting, so memory grows with the
number of active agents, not with every agent ever seen. (Leases across replicas and durable
queues come with the runs of the gateway issue; this is the in-process half.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Lane:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # FIFO: waiters acquire in the order they asked
        self.users = 0


class AgentLanes:
    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    @asynccontextmanager
    async def turn(self, agent_id: str) -> AsyncIterator[None]:
        """Wait for this agent's earlier runs in this process, then hold the lane until exit."""
        lane = self._lanes.get(agent_id)
        if lane is None:
            lane = self._lanes[agent_id] = _Lane()
        lane.users += 1
        try:
            async with lane.lock:
                yield
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[agent_id]

    def ahead(self, agent_id: str) -> int:
        """Runs of this agent running or waiting here: how many a new run would wait behind."""
        lane = self._lanes.get(agent_id)
        return lane.users if lane is not None else 0

    def __len__(self) -> int:
        """Number of agents with a run running or waiting here."""
        return len(self._lanes)
