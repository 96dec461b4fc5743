"""Forgetting an agent: its messages, and the blocks and archives no other agent shares."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.memory.store.agents import knows_agent
from services.memory.store.archives import ArchiveStore
from services.memory.store.blocks import BlockStore
from services.memory.store.recall import RecallStore


class AgentRemoval:
    """Deletes one agent's memory in one transaction; shared blocks and archives are detached."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def forget(self, tenant: str, agent_id: str) -> None:
        """Forget ``agent_id``; an agent memory does not know (or another tenant's) is left alone,
        so a retry is safe."""
        async with self._engine.begin() as conn:
            if not await knows_agent(conn, tenant, agent_id):
                return
            await ArchiveStore.release_agent(conn, tenant, agent_id)
            await BlockStore.release_agent(conn, tenant, agent_id)
            await RecallStore.forget_agent(conn, agent_id)
