"""An agent's memory from its creation to its deletion: its first blocks and archive, and forgetting
it all. The agent service calls these when it creates, imports or deletes an agent; every call is
safe to repeat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.common.errors import AlreadyExists
from services.memory.core.archival import Archive
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.blocks import Block, BlockFields


class AgentBlocks(Protocol):
    async def initialize_agent(
        self, tenant: str, agent_id: str, new: Sequence[BlockFields], existing_ids: Sequence[str]
    ) -> list[Block]:
        """Give a new agent its blocks, once: a repeated call returns the blocks it already has."""
        ...


class AgentArchives(Protocol):
    async def list_for_agent(self, *, tenant: str, agent_id: str) -> list[Archive]: ...


class MemoryRemoval(Protocol):
    async def forget(self, tenant: str, agent_id: str) -> None:
        """Delete the agent's memory in one transaction; an unknown agent is left alone."""
        ...


class AgentSetup:
    """Sets an agent's memory up and forgets it."""

    def __init__(
        self, blocks: AgentBlocks, archives: AgentArchives, archival: ArchivalMemory, removal: MemoryRemoval
    ):
        self._blocks = blocks
        self._archives = archives
        self._archival = archival
        self._removal = removal

    async def initialize(
        self,
        *,
        tenant: str,
        agent_id: str,
        new_blocks: Sequence[BlockFields],
        existing_block_ids: Sequence[str],
        create_archive: bool,
        archive_embedder: str,
    ) -> tuple[list[Block], str]:
        """The agent's blocks (new ones made, existing ones attached) and its archive's id ("" when
        none was asked for)."""
        labels = [fields.label for fields in new_blocks]
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        if duplicated:
            raise AlreadyExists(
                f"two blocks for agent {agent_id} share a label: {', '.join(duplicated)}",
                reason="BLOCK_LABEL_TAKEN",
            )
        blocks = await self._blocks.initialize_agent(tenant, agent_id, new_blocks, existing_block_ids)
        archive_id = ""
        if create_archive:
            archive_id = await self._agent_archive(tenant, agent_id, archive_embedder)
        return blocks, archive_id

    async def _agent_archive(self, tenant: str, agent_id: str, embedder: str) -> str:
        """The agent's archive: the one it already has (a repeated set-up), or a new one."""
        present = await self._archives.list_for_agent(tenant=tenant, agent_id=agent_id)
        if present:
            return present[0].id
        archive = await self._archival.create_archive(
            tenant=tenant, name=f"archive of agent {agent_id}", embedder=embedder, agent_id=agent_id
        )
        return archive.id

    async def forget(self, *, tenant: str, agent_id: str) -> None:
        await self._removal.forget(tenant, agent_id)
