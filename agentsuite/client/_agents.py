"""``client.agents``: the public AgentService."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from google.protobuf import field_mask_pb2

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.client._call import DEFAULT, Caller, Timeout, enum_value, new_key
from agentsuite.common.v1 import common_pb2

DOCUMENT_TIMEOUT = 600.0
"""Export and import move whole histories: they get more time than other calls by default."""


class Agents:
    """Create, read, update, delete, export and import agents."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = agent_service_pb2_grpc.AgentServiceStub(caller.channel)

    async def create(
        self,
        name: str,
        *,
        system_prompt: str = "",
        description: str = "",
        model: agent_pb2.ModelConfig | None = None,
        tool_ids: Iterable[str] = (),
        tool_rules: Iterable[agent_pb2.ToolRule] = (),
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        max_steps: int = 0,
        blocks: Iterable[agent_pb2.BlockSpec] = (),
        request_id: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> agent_pb2.Agent:
        """Create an agent with its core memory ``blocks`` and an archive. ``request_id`` makes
        the call safe to repeat (one is generated when not given, so retries never duplicate)."""
        agent = agent_pb2.Agent(
            name=name,
            description=description,
            system_prompt=system_prompt,
            model=model,
            tool_ids=tool_ids,
            tool_rules=tool_rules,
            tags=tags,
            metadata=metadata,
            max_steps=max_steps,
        )
        request = agent_service_pb2.CreateAgentRequest(
            agent=agent, memory_blocks=blocks, request_id=request_id or new_key()
        )
        return (await self._call.unary(self._stub.CreateAgent, request, timeout)).agent

    async def get(self, agent_id: str, *, timeout: Timeout = DEFAULT) -> agent_pb2.Agent:
        """One agent."""
        request = agent_service_pb2.GetAgentRequest(agent_id=agent_id)
        return (await self._call.unary(self._stub.GetAgent, request, timeout)).agent

    def list(
        self,
        *,
        tags: Iterable[str] = (),
        tag_match: str | int = "any",
        name: str = "",
        agent_ids: Iterable[str] = (),
        page_size: int = 0,
        timeout: Timeout = DEFAULT,
    ) -> AsyncIterator[agent_pb2.Agent]:
        """Every agent (oldest first), optionally only those with ``tags`` (``tag_match`` "any" or
        "all"), named ``name`` or among ``agent_ids``; fetched a page at a time."""
        request = agent_service_pb2.ListAgentsRequest(
            tags=tags,
            tag_match=enum_value(common_pb2.TagMatch, tag_match, "TAG_MATCH_"),
            name=name,
            agent_ids=agent_ids,
            page_size=page_size,
        )
        return self._call.pages(self._stub.ListAgents, request, "agents", timeout)

    async def update(self, agent_id: str, *, timeout: Timeout = DEFAULT, **fields: Any) -> agent_pb2.Agent:
        """Change the given fields of an agent (``name=``, ``tags=``, ``model=``...) and only
        those: the field mask is the names given."""
        if not fields:
            raise ValueError("update: name at least one field to change")
        agent = agent_pb2.Agent(id=agent_id, **fields)
        request = agent_service_pb2.UpdateAgentRequest(
            agent=agent, update_mask=field_mask_pb2.FieldMask(paths=sorted(fields))
        )
        return (await self._call.unary(self._stub.UpdateAgent, request, timeout)).agent

    async def delete(self, agent_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Delete an agent and its memory."""
        request = agent_service_pb2.DeleteAgentRequest(agent_id=agent_id)
        await self._call.unary(self._stub.DeleteAgent, request, timeout)

    async def export(
        self, agent_id: str, *, messages: bool = False, passages: bool = False, timeout: Timeout = DEFAULT
    ) -> str:
        """The agent as one portable JSON document, with its history and archive on request."""
        request = agent_service_pb2.ExportAgentRequest(
            agent_id=agent_id, include_messages=messages, include_passages=passages
        )
        response = await self._call.unary(self._stub.ExportAgent, request, timeout, DOCUMENT_TIMEOUT)
        return response.document_json

    async def import_(
        self, document_json: str, *, name: str = "", timeout: Timeout = DEFAULT
    ) -> agent_pb2.Agent:
        """A new agent made from a document of ``export`` (named ``name`` when given)."""
        request = agent_service_pb2.ImportAgentRequest(document_json=document_json, name_override=name)
        response = await self._call.unary(self._stub.ImportAgent, request, timeout, DOCUMENT_TIMEOUT)
        return response.agent
