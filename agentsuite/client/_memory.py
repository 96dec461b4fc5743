"""``client.blocks``, ``client.archives`` and ``client.passages``: the public MemoryService's core
memory and archival memory (recall is ``client.messages``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf import field_mask_pb2

from agentsuite.client._call import DEFAULT, Caller, Timeout, enum_value, new_key
from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc

INSERT_TIMEOUT = 300.0
"""Embedding a batch of passages takes a while: inserts get more time by default."""


def memory_stub(caller: Caller) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(caller.channel)


class Blocks:
    """Core memory blocks: create, read, update, edit, attach, history and restore."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = memory_stub(caller)

    async def create(
        self,
        label: str,
        value: str = "",
        *,
        limit: int = 0,
        read_only: bool = False,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        agent_id: str = "",
        timeout: Timeout = DEFAULT,
    ) -> memory_pb2.Block:
        """A new block, attached to ``agent_id`` when given."""
        block = memory_pb2.Block(
            label=label,
            value=value,
            limit=limit,
            read_only=read_only,
            description=description,
            metadata=metadata,
        )
        request = memory_service_pb2.CreateBlockRequest(block=block, agent_id=agent_id)
        return (await self._call.unary(self._stub.CreateBlock, request, timeout)).block

    async def get(self, block_id: str, *, timeout: Timeout = DEFAULT) -> memory_pb2.Block:
        """One block."""
        request = memory_service_pb2.GetBlockRequest(block_id=block_id)
        return (await self._call.unary(self._stub.GetBlock, request, timeout)).block

    def list(
        self, *, agent_id: str = "", label: str = "", page_size: int = 0, timeout: Timeout = DEFAULT
    ) -> AsyncIterator[memory_pb2.Block]:
        """Every block (of ``agent_id``, with ``label``, when given)."""
        request = memory_service_pb2.ListBlocksRequest(agent_id=agent_id, label=label, page_size=page_size)
        return self._call.pages(self._stub.ListBlocks, request, "blocks", timeout)

    async def update(
        self, block_id: str, *, expected_version: int = 0, timeout: Timeout = DEFAULT, **fields: Any
    ) -> memory_pb2.Block:
        """Change the given fields (``value=``, ``limit=``, ``description=``...), refused with
        ``Aborted`` when ``expected_version`` is given and the block moved on."""
        if not fields:
            raise ValueError("update: name at least one field to change")
        request = memory_service_pb2.UpdateBlockRequest(
            block=memory_pb2.Block(id=block_id, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)),
            expected_version=expected_version,
        )
        return (await self._call.unary(self._stub.UpdateBlock, request, timeout)).block

    async def edit(
        self,
        edit: memory_pb2.BlockEdit,
        *,
        block_id: str = "",
        agent_id: str = "",
        label: str = "",
        expected_version: int = 0,
        idempotency_key: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> memory_pb2.Block:
        """Apply an edit as an agent's memory tools do (append, replace, insert, rewrite), to the
        block ``block_id`` or to the block ``label`` of ``agent_id``."""
        request = memory_service_pb2.EditBlockRequest(
            block_id=block_id,
            agent_id=agent_id,
            label=label,
            edit=edit,
            expected_version=expected_version,
            idempotency_key=idempotency_key or new_key(),
        )
        return (await self._call.unary(self._stub.EditBlock, request, timeout)).block

    async def delete(self, block_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Delete a block."""
        request = memory_service_pb2.DeleteBlockRequest(block_id=block_id)
        await self._call.unary(self._stub.DeleteBlock, request, timeout)

    async def attach(self, block_id: str, agent_id: str, *, timeout: Timeout = DEFAULT) -> memory_pb2.Block:
        """Attach a block to an agent (blocks may be shared)."""
        request = memory_service_pb2.AttachBlockRequest(block_id=block_id, agent_id=agent_id)
        return (await self._call.unary(self._stub.AttachBlock, request, timeout)).block

    async def detach(self, block_id: str, agent_id: str, *, timeout: Timeout = DEFAULT) -> memory_pb2.Block:
        """Detach a block from an agent."""
        request = memory_service_pb2.DetachBlockRequest(block_id=block_id, agent_id=agent_id)
        return (await self._call.unary(self._stub.DetachBlock, request, timeout)).block

    def history(
        self, block_id: str, *, page_size: int = 0, timeout: Timeout = DEFAULT
    ) -> AsyncIterator[memory_pb2.BlockHistoryEntry]:
        """Every change of a block."""
        request = memory_service_pb2.ListBlockHistoryRequest(block_id=block_id, page_size=page_size)
        return self._call.pages(self._stub.ListBlockHistory, request, "entries", timeout)

    async def restore(
        self, block_id: str, version: int, *, expected_version: int = 0, timeout: Timeout = DEFAULT
    ) -> memory_pb2.Block:
        """Set a block back to the value it had at ``version`` (a new version)."""
        request = memory_service_pb2.RestoreBlockVersionRequest(
            block_id=block_id, version=version, expected_version=expected_version
        )
        return (await self._call.unary(self._stub.RestoreBlockVersion, request, timeout)).block


class Archives:
    """Archives (searchable stores of passages): create, read, attach and delete."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = memory_stub(caller)

    async def create(
        self,
        name: str,
        *,
        embedder: str = "",
        dimension: int = 0,
        agent_id: str = "",
        timeout: Timeout = DEFAULT,
    ) -> memory_pb2.Archive:
        """A new archive (the service's default embedder unless named), attached to ``agent_id``
        when given."""
        request = memory_service_pb2.CreateArchiveRequest(
            name=name, embedder=embedder, dimension=dimension, agent_id=agent_id
        )
        return (await self._call.unary(self._stub.CreateArchive, request, timeout)).archive

    async def get(self, archive_id: str, *, timeout: Timeout = DEFAULT) -> memory_pb2.Archive:
        """One archive."""
        request = memory_service_pb2.GetArchiveRequest(archive_id=archive_id)
        return (await self._call.unary(self._stub.GetArchive, request, timeout)).archive

    def list(
        self, *, agent_id: str = "", page_size: int = 0, timeout: Timeout = DEFAULT
    ) -> AsyncIterator[memory_pb2.Archive]:
        """Every archive (of ``agent_id`` when given)."""
        request = memory_service_pb2.ListArchivesRequest(agent_id=agent_id, page_size=page_size)
        return self._call.pages(self._stub.ListArchives, request, "archives", timeout)

    async def delete(self, archive_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Delete an archive and its passages."""
        request = memory_service_pb2.DeleteArchiveRequest(archive_id=archive_id)
        await self._call.unary(self._stub.DeleteArchive, request, timeout)

    async def attach(
        self, archive_id: str, agent_id: str, *, timeout: Timeout = DEFAULT
    ) -> memory_pb2.Archive:
        """Attach an archive to an agent."""
        request = memory_service_pb2.AttachArchiveRequest(archive_id=archive_id, agent_id=agent_id)
        return (await self._call.unary(self._stub.AttachArchive, request, timeout)).archive

    async def detach(
        self, archive_id: str, agent_id: str, *, timeout: Timeout = DEFAULT
    ) -> memory_pb2.Archive:
        """Detach an archive from an agent."""
        request = memory_service_pb2.DetachArchiveRequest(archive_id=archive_id, agent_id=agent_id)
        return (await self._call.unary(self._stub.DetachArchive, request, timeout)).archive


class Passages:
    """Archival passages: insert in bulk, list, search by meaning and text, delete."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = memory_stub(caller)

    async def insert(
        self,
        archive_id: str,
        passages: Iterable[str | memory_pb2.PassageInput],
        *,
        tags: Iterable[str] = (),
        idempotency_key: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[str]:
        """Insert passages (texts, or ``PassageInput`` with tags, metadata and a time) in one
        all-or-none call; their ids, in order. ``tags`` are added to every text given as a str."""
        tags = list(tags)
        inputs = [memory_pb2.PassageInput(text=p, tags=tags) if isinstance(p, str) else p for p in passages]
        request = memory_service_pb2.InsertPassagesRequest(
            archive_id=archive_id, passages=inputs, idempotency_key=idempotency_key or new_key()
        )
        response = await self._call.unary(self._stub.InsertPassages, request, timeout, INSERT_TIMEOUT)
        return list(response.passage_ids)

    def list(
        self,
        archive_id: str,
        *,
        tags: Iterable[str] = (),
        tag_match: str | int = "any",
        page_size: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[memory_pb2.Passage]:
        """Every passage of an archive (with ``tags``, when given)."""
        request = memory_service_pb2.ListPassagesRequest(
            archive_id=archive_id,
            tags=tags,
            tag_match=enum_value(common_pb2.TagMatch, tag_match, "TAG_MATCH_"),
            page_size=page_size,
        )
        return self._call.pages(self._stub.ListPassages, request, "passages", timeout)

    async def search(
        self,
        query: str,
        *,
        archive_id: str = "",
        agent_id: str = "",
        mode: str | int = "hybrid",
        tags: Iterable[str] = (),
        tag_match: str | int = "any",
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int = 10,
        timeout: Timeout = DEFAULT,
    ) -> list[memory_pb2.ScoredPassage]:
        """The ``limit`` best passages for ``query`` in an archive (or the archive of
        ``agent_id``), best first; ``mode`` is "hybrid", "vector" or "full_text"."""
        request = memory_service_pb2.SearchPassagesRequest(
            archive_id=archive_id,
            agent_id=agent_id,
            query=query,
            mode=enum_value(memory_pb2.SearchMode, mode, "SEARCH_MODE_"),
            tags=tags,
            tag_match=enum_value(common_pb2.TagMatch, tag_match, "TAG_MATCH_"),
            start_time=start_time,
            end_time=end_time,
            page_size=limit,
        )
        return list((await self._call.unary(self._stub.SearchPassages, request, timeout)).results)

    async def delete(self, passage_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Delete one passage."""
        request = memory_service_pb2.DeletePassageRequest(passage_id=passage_id)
        await self._call.unary(self._stub.DeletePassage, request, timeout)
