"""Core memory block RPCs of the public MemoryService."""

from __future__ import annotations

from agentsuite.memory.v1 import memory_service_pb2
from services.common.call import require_tenant
from services.common.errors import InvalidArgument
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import idempotency_key, require_id
from services.memory.api.convert import (
    block_change_to_proto,
    block_edit,
    block_fields,
    block_to_proto,
)
from services.memory.core.blocks import UPDATABLE
from services.memory.store.blocks import BlockStore


class BlockRpcs:
    """Mixin of :class:`services.memory.api.MemoryApi`."""

    _blocks: BlockStore

    async def CreateBlock(self, request: memory_service_pb2.CreateBlockRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        block = await self._blocks.create(tenant, block_fields(request.block), agent_id=agent_id)
        return memory_service_pb2.CreateBlockResponse(block=block_to_proto(block))

    async def GetBlock(self, request: memory_service_pb2.GetBlockRequest, context):
        block = await self._blocks.get(require_tenant(), require_id(request.block_id, "block_id"))
        return memory_service_pb2.GetBlockResponse(block=block_to_proto(block))

    async def ListBlocks(self, request: memory_service_pb2.ListBlocksRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        limit = page_size(request.page_size)
        page = await self._blocks.list(
            tenant,
            agent_id=agent_id,
            label=request.label,
            after=_label_and_id(request.page_token),
            limit=limit + 1,
        )
        last = page[limit - 1] if len(page) > limit else None
        token = encode_token({"label": last.label, "id": last.id}) if last is not None else ""
        return memory_service_pb2.ListBlocksResponse(
            blocks=[block_to_proto(b) for b in page[:limit]], next_page_token=token
        )

    async def UpdateBlock(self, request: memory_service_pb2.UpdateBlockRequest, context):
        tenant = require_tenant()
        block_id = require_id(request.block.id, "block.id")
        paths = list(request.update_mask.paths) or list(UPDATABLE)
        unknown = [path for path in paths if path not in UPDATABLE]
        if unknown:
            raise InvalidArgument.field(
                "update_mask", f"unknown fields {unknown}; updatable: {', '.join(UPDATABLE)}"
            )
        block = await self._blocks.update(
            tenant,
            block_id,
            block_fields(request.block, checked=False),
            expected_version=request.expected_version,
            paths=paths,
        )
        return memory_service_pb2.UpdateBlockResponse(block=block_to_proto(block))

    async def DeleteBlock(self, request: memory_service_pb2.DeleteBlockRequest, context):
        await self._blocks.delete(require_tenant(), require_id(request.block_id, "block_id"))
        return memory_service_pb2.DeleteBlockResponse()

    async def AttachBlock(self, request: memory_service_pb2.AttachBlockRequest, context):
        block = await self._blocks.attach(
            require_tenant(),
            require_id(request.block_id, "block_id"),
            require_id(request.agent_id, "agent_id"),
        )
        return memory_service_pb2.AttachBlockResponse(block=block_to_proto(block))

    async def DetachBlock(self, request: memory_service_pb2.DetachBlockRequest, context):
        block = await self._blocks.detach(
            require_tenant(),
            require_id(request.block_id, "block_id"),
            require_id(request.agent_id, "agent_id"),
        )
        return memory_service_pb2.DetachBlockResponse(block=block_to_proto(block))

    async def EditBlock(self, request: memory_service_pb2.EditBlockRequest, context):
        tenant = require_tenant()
        if request.block_id:
            block_id, label = require_id(request.block_id, "block_id"), ""
        elif request.agent_id and request.label:
            block_id, label = "", request.label
        else:
            raise InvalidArgument.field("block_id", "name the block by block_id, or by agent_id and label")
        agent_id = require_id(request.agent_id, "agent_id") if request.agent_id else ""
        if request.epoch < 0:
            raise InvalidArgument.field("epoch", "must not be negative")
        if request.epoch and not agent_id:
            raise InvalidArgument.field("agent_id", "required with an epoch: the epoch is the agent's")
        block = await self._blocks.edit(
            tenant,
            edit=block_edit(request.edit),
            block_id=block_id,
            agent_id=agent_id,
            label=label,
            expected_version=request.expected_version,
            run_id=request.run_id,
            epoch=request.epoch,
            idempotency_key=idempotency_key(request.idempotency_key),
        )
        return memory_service_pb2.EditBlockResponse(block=block_to_proto(block))

    async def ListBlockHistory(self, request: memory_service_pb2.ListBlockHistoryRequest, context):
        tenant = require_tenant()
        block_id = require_id(request.block_id, "block_id")
        limit = page_size(request.page_size)
        position = decode_token(request.page_token) or {}
        before = position.get("before", 0)
        if not isinstance(before, int) or isinstance(before, bool) or before < 0:
            raise InvalidArgument.field("page_token", "is not a token this service issued")
        page = await self._blocks.history(tenant, block_id, before_version=before, limit=limit + 1)
        token = encode_token({"before": page[limit - 1].version}) if len(page) > limit else ""
        return memory_service_pb2.ListBlockHistoryResponse(
            entries=[block_change_to_proto(c) for c in page[:limit]], next_page_token=token
        )

    async def RestoreBlockVersion(self, request: memory_service_pb2.RestoreBlockVersionRequest, context):
        if request.version <= 0:
            raise InvalidArgument.field("version", "a past version, 1 or more")
        block = await self._blocks.restore(
            require_tenant(),
            require_id(request.block_id, "block_id"),
            request.version,
            expected_version=request.expected_version,
        )
        return memory_service_pb2.RestoreBlockVersionResponse(block=block_to_proto(block))


def _label_and_id(token: str) -> str:
    """The position after the last block of the previous page ("label\\0id", as the store takes
    it) from a ListBlocks page token; empty for the first page."""
    position = decode_token(token)
    if position is None:
        return ""
    label, block_id = position.get("label"), position.get("id")
    if not isinstance(label, str) or not isinstance(block_id, str):
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return f"{label}\0{require_id(block_id, 'page_token')}"
