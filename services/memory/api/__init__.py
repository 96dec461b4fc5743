"""The memory service's gRPC API: requests in, core calls, responses out.

The public ``MemoryService`` is large, so its handlers live in one mixin per area (blocks,
archival, messages); :class:`MemoryApi` puts them together.
"""

from __future__ import annotations

from agentsuite.memory.v1 import memory_service_pb2, memory_service_pb2_grpc
from services.common.server import Registration, servicer
from services.memory.api.archives import ArchiveRpcs
from services.memory.api.blocks import BlockRpcs
from services.memory.api.messages import MessageRpcs
from services.memory.api.runtime import MemoryRuntimeApi
from services.memory.api.stores import MemoryStores
from services.memory.core.archival_memory import ArchivalMemory

__all__ = ["MemoryApi", "MemoryRuntimeApi", "MemoryStores", "registrations"]


@servicer
class MemoryApi(BlockRpcs, ArchiveRpcs, MessageRpcs, memory_service_pb2_grpc.MemoryServiceServicer):
    """Public memory API (blocks, archival, messages); RPCs not defined answer UNIMPLEMENTED."""

    def __init__(self, stores: MemoryStores):
        self._messages = stores.messages
        self._blocks = stores.blocks
        self._archives = stores.archives
        self._passages = stores.passages
        self._archival = ArchivalMemory(stores.archives, stores.passages, stores.embedders)


def registrations(stores: MemoryStores) -> list[Registration]:
    file = memory_service_pb2.DESCRIPTOR
    return [
        Registration.of(
            file,
            "MemoryService",
            memory_service_pb2_grpc.add_MemoryServiceServicer_to_server,
            MemoryApi(stores),
        ),
        Registration.of(
            file,
            "MemoryRuntime",
            memory_service_pb2_grpc.add_MemoryRuntimeServicer_to_server,
            MemoryRuntimeApi(stores),
        ),
    ]
