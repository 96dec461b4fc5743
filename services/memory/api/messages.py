"""Recall memory RPCs of the public MemoryService: list, search and count an agent's messages."""

from __future__ import annotations

from agentsuite.memory.v1 import memory_pb2, memory_service_pb2
from services.common.call import require_tenant
from services.common.errors import InvalidArgument, Validation
from services.common.paging import decode_token, encode_token, page_size
from services.common.protobuf import require_id
from services.memory.api.convert import message_to_proto, role, time_range
from services.memory.core.recall import Recall

MAX_QUERY = 1_000


class MessageRpcs:
    """Mixin of :class:`services.memory.api.MemoryApi`."""

    _recall: Recall

    async def ListMessages(self, request: memory_service_pb2.ListMessagesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        limit = page_size(request.page_size)
        after, before = request.after_seq, request.before_seq
        position = decode_token(request.page_token)
        if position is not None:
            seq = position.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise InvalidArgument.field("page_token", "is not a token this service issued")
            if request.descending:
                before = seq
            else:
                after = seq
        page = await self._recall.list(
            tenant=tenant,
            agent_id=agent_id,
            page_size=limit,
            after_seq=after,
            before_seq=before,
            descending=request.descending,
            roles=[role(value, f"roles[{index}]") for index, value in enumerate(request.roles)],
        )
        token = encode_token({"seq": page.items[-1].seq}) if page.more else ""
        return memory_service_pb2.ListMessagesResponse(
            messages=[message_to_proto(m) for m in page.items], next_page_token=token
        )

    async def SearchMessages(self, request: memory_service_pb2.SearchMessagesRequest, context):
        tenant = require_tenant()
        agent_id = require_id(request.agent_id, "agent_id")
        if not request.query.strip():
            raise InvalidArgument.field("query", "is required")
        if len(request.query) > MAX_QUERY:
            raise InvalidArgument.field("query", f"must be at most {MAX_QUERY} characters")
        check = Validation()
        start, end = time_range(request, check)
        check.raise_if_any()
        limit = page_size(request.page_size, default=10, maximum=100)
        position = decode_token(request.page_token)
        after = None
        if position is not None:
            score, seq = position.get("score"), position.get("seq")
            if not isinstance(score, float | int) or not isinstance(seq, int) or isinstance(seq, bool):
                raise InvalidArgument.field("page_token", "is not a token this service issued")
            after = (float(score), seq)
        found = await self._recall.search(
            tenant=tenant,
            agent_id=agent_id,
            query=request.query,
            page_size=limit,
            roles=[role(value, f"roles[{index}]") for index, value in enumerate(request.roles)],
            start=start,
            end=end,
            after=after,
        )
        last = found.items[-1] if found.more else None
        token = encode_token({"score": last.score, "seq": last.message.seq}) if last else ""
        return memory_service_pb2.SearchMessagesResponse(
            results=[
                memory_pb2.ScoredMessage(message=message_to_proto(f.message), score=f.score)
                for f in found.items
            ],
            next_page_token=token,
        )

    async def CountMessages(self, request: memory_service_pb2.CountMessagesRequest, context):
        count = await self._recall.count(
            tenant=require_tenant(),
            agent_id=require_id(request.agent_id, "agent_id"),
            roles=[role(value, f"roles[{index}]") for index, value in enumerate(request.roles)],
        )
        return memory_service_pb2.CountMessagesResponse(count=count)
