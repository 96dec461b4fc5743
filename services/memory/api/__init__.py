"""The memory service's gRPC API: requests in, core calls, responses out.

The public ``MemoryService`` is large, so its handlers live in one mixin per area (blocks,
archival, messages); :class:`MemoryApi` puts them together. Everything they use is built once, in
``services.memory.__main__.wire``.
"""

from __future__ import annotations

from agentsuite.memory.v1 import memory_service_pb2_grpc
from services.common.server import servicer
from services.memory.api.archives import ArchiveRpcs
from services.memory.api.blocks import BlockRpcs
from services.memory.api.messages import MessageRpcs
from services.memory.api.runtime import MemoryRuntimeApi
from services.memory.core.archival_memory import ArchivalMemory
from services.memory.core.recall import Recall
from services.memory.store.archives import ArchiveStore
from services.memory.store.blocks import BlockStore
from services.memory.store.passages import PassageStore

__all__ = ["MemoryApi", "MemoryRuntimeApi"]


@servicer
class MemoryApi(BlockRpcs, ArchiveRpcs, MessageRpcs, memory_service_pb2_grpc.MemoryServiceServicer):
    """Public memory API (blocks, archival, messages); RPCs not defined answer UNIMPLEMENTED."""

    def __init__(
        self,
        *,
        recall: Recall,
        blocks: BlockStore,
        archival: ArchivalMemory,
        archives: ArchiveStore,
        passages: PassageStore,
    ):
        self._recall = recall
        self._blocks = blocks
        self._archival = archival
        self._archives = archives
        self._passages = passages
