"""Archival memory RPCs of the public MemoryService: archives, their agents, passages and search."""

from __future__ import annotations

from agentsuite.memory.v1 import memory_service_pb2
from services.common.call import require_tenant
from services.common.errors import InvalidArgument, Validation
from services.common.metrics import record_archival_search, timed
from services.common.paging import decode_time_id_token, encode_token, page_size, time_id_token
from services.common.protobuf import idempotency_key, require_id
from services.common.tracing import span
from services.memory.api.archival_convert import (
    MAX_NAME,
    MAX_QUERY,
    archive_to_proto,
    decode_offset_token,
    new_passages,
    passage_filter,
    passage_to_proto,
    scored_to_proto,
    search_mode,
)
from services.memory.core.archival import Fence
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.store.archives import ArchiveStore
from services.memory.store.passages import PassageStore

SEARCH_PAGE_SIZE = 10
MAX_SEARCH_PAGE_SIZE = 100


class ArchiveRpcs:
    """Mixin of :class:`services.memory.api.MemoryApi`."""

    _archival: ArchivalMemory
    _archives: ArchiveStore
    _passages: PassageStore

    async def CreateArchive(self, request: memory_service_pb2.CreateArchiveRequest, context):
        tenant = require_tenant()
        check = Validation()
        check.check(bool(request.name.strip()), "name", "is required")
        check.check(len(request.name) <= MAX_NAME, "name", f"must be at most {MAX_NAME} characters")
        check.check(request.dimension >= 0, "dimension", "must not be negative")
        check.raise_if_any()
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        archive = await self._archival.create_archive(
            tenant=tenant,
            name=request.name,
            embedder=request.embedder,
            dimension=request.dimension,
            agent_id=agent_id,
        )
        return memory_service_pb2.CreateArchiveResponse(archive=archive_to_proto(archive))

    async def GetArchive(self, request: memory_service_pb2.GetArchiveRequest, context):
        archive = await self._archives.get(
            tenant=require_tenant(), archive_id=require_id(request.archive_id, "archive_id")
        )
        return memory_service_pb2.GetArchiveResponse(archive=archive_to_proto(archive))

    async def ListArchives(self, request: memory_service_pb2.ListArchivesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        limit = page_size(request.page_size)
        page = await self._archives.list(
            tenant=tenant,
            limit=limit + 1,
            agent_id=agent_id,
            after=decode_time_id_token(request.page_token),
        )
        token = time_id_token(page[limit - 1].created_at, page[limit - 1].id) if len(page) > limit else ""
        return memory_service_pb2.ListArchivesResponse(
            archives=[archive_to_proto(a) for a in page[:limit]], next_page_token=token
        )

    async def DeleteArchive(self, request: memory_service_pb2.DeleteArchiveRequest, context):
        await self._archives.delete(
            tenant=require_tenant(), archive_id=require_id(request.archive_id, "archive_id")
        )
        return memory_service_pb2.DeleteArchiveResponse()

    async def AttachArchive(self, request: memory_service_pb2.AttachArchiveRequest, context):
        archive = await self._archives.attach(
            tenant=require_tenant(),
            archive_id=require_id(request.archive_id, "archive_id"),
            agent_ids=[require_id(request.agent_id, "agent_id")],
        )
        return memory_service_pb2.AttachArchiveResponse(archive=archive_to_proto(archive))

    async def DetachArchive(self, request: memory_service_pb2.DetachArchiveRequest, context):
        archive = await self._archives.detach(
            tenant=require_tenant(),
            archive_id=require_id(request.archive_id, "archive_id"),
            agent_ids=[require_id(request.agent_id, "agent_id")],
        )
        return memory_service_pb2.DetachArchiveResponse(archive=archive_to_proto(archive))

    async def InsertPassages(self, request: memory_service_pb2.InsertPassagesRequest, context):
        tenant = require_tenant()
        archive_id = require_id(request.archive_id, "archive_id")
        if request.epoch < 0:
            raise InvalidArgument.field("epoch", "must not be negative")
        fence = None
        if request.epoch:
            fence = Fence(agent_id=require_id(request.agent_id, "agent_id"), epoch=request.epoch)
        ids = await self._archival.insert(
            tenant=tenant,
            archive_id=archive_id,
            passages=new_passages(request.passages),
            fence=fence,
            idempotency_key=idempotency_key(request.idempotency_key),
        )
        return memory_service_pb2.InsertPassagesResponse(passage_ids=ids)

    async def ListPassages(self, request: memory_service_pb2.ListPassagesRequest, context):
        tenant = require_tenant()
        archive_id = require_id(request.archive_id, "archive_id")
        limit = page_size(request.page_size)
        where = passage_filter(request, with_time=False)
        after = decode_time_id_token(request.page_token)
        await self._archives.get(tenant=tenant, archive_id=archive_id)  # NOT_FOUND before reading
        page = await self._passages.list(archive_id=archive_id, limit=limit + 1, where=where, after=after)
        token = time_id_token(page[limit - 1].created_at, page[limit - 1].id) if len(page) > limit else ""
        return memory_service_pb2.ListPassagesResponse(
            passages=[passage_to_proto(p) for p in page[:limit]], next_page_token=token
        )

    async def DeletePassage(self, request: memory_service_pb2.DeletePassageRequest, context):
        await self._passages.delete(
            tenant=require_tenant(), passage_id=require_id(request.passage_id, "passage_id")
        )
        return memory_service_pb2.DeletePassageResponse()

    async def SearchPassages(self, request: memory_service_pb2.SearchPassagesRequest, context):
        tenant = require_tenant()
        if bool(request.archive_id) == bool(request.agent_id):
            raise InvalidArgument.field("archive_id", "set exactly one of archive_id and agent_id")
        archive_id = require_id(request.archive_id, "archive_id") if request.archive_id else ""
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        check = Validation()
        check.check(bool(request.query.strip()), "query", "must not be empty")
        check.check(len(request.query) <= MAX_QUERY, "query", f"must be at most {MAX_QUERY} characters")
        check.raise_if_any()
        limit = page_size(request.page_size, default=SEARCH_PAGE_SIZE, maximum=MAX_SEARCH_PAGE_SIZE)
        offset = decode_offset_token(request.page_token)
        mode = search_mode(request.mode)
        with span(f"archival_search {mode.name.lower()}"), timed(record_archival_search, mode.name.lower()):
            page = await self._archival.search(
                tenant=tenant,
                archive_id=archive_id,
                agent_id=agent_id,
                query=request.query,
                mode=mode,
                where=passage_filter(request, with_time=True),
                limit=limit,
                offset=offset,
            )
        return memory_service_pb2.SearchPassagesResponse(
            results=[scored_to_proto(r) for r in page.results],
            next_page_token=encode_token({"offset": offset + limit}) if page.more else "",
        )
