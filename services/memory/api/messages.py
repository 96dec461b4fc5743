"""Recall memory RPCs of the public MemoryService: list, search and count an agent's messages."""

from __future__ import annotations

from agentsuite.memory.v1 import memory_service_pb2
from services.common.call import require_tenant
from services.common.errors import InvalidArgument
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import require_id
from services.memory.api.convert import message_to_proto, role
from services.memory.store.messages import MessageStore


class MessageRpcs:
    """Mixin of :class:`services.memory.api.MemoryApi`."""

    _messages: MessageStore

    async def ListMessages(self, request: memory_service_pb2.ListMessagesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        limit = page_size(request.page_size)
        after, before = request.after_seq, request.before_seq
        position = decode_token(request.page_token)
        if position is not None:
            seq = position.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise InvalidArgument.field("page_token", "not a token this service issued")
            if request.descending:
                before = seq
            else:
                after = seq
        page = await self._messages.list(
            tenant=tenant,
            agent_id=agent_id,
            limit=limit + 1,
            after_seq=after,
            before_seq=before,
            descending=request.descending,
            roles=[role(value, "roles") for value in request.roles],
        )
        more = len(page) > limit
        page = page[:limit]
        token = encode_token({"seq": page[-1].seq}) if more else ""
        return memory_service_pb2.ListMessagesResponse(
            messages=[message_to_proto(m) for m in page], next_page_token=token
        )
