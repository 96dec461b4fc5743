"""``client.tools`` and ``client.secrets``: the public ToolService."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import timedelta
from typing import Any

from google.protobuf import field_mask_pb2

from agentsuite.client._call import DEFAULT, Caller, Timeout
from agentsuite.tools.v1 import tools_pb2, tools_service_pb2, tools_service_pb2_grpc

RUN_TIMEOUT = 120.0
"""A test run starts a sandbox and waits for the tool's own time limit."""


class Tools:
    """Custom tools: the Python source of one function each, run in the sandbox."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = tools_service_pb2_grpc.ToolServiceStub(caller.channel)

    async def create(
        self,
        source_code: str,
        *,
        name: str = "",
        description: str = "",
        json_schema: Mapping[str, Any] | None = None,
        parallel_safe: bool = False,
        requires_approval: bool = False,
        result_char_limit: int = 0,
        timeout_limit: timedelta | None = None,
        secret_names: Iterable[str] = (),
        tags: Iterable[str] = (),
        timeout: Timeout = DEFAULT,
    ) -> tools_pb2.Tool:
        """A new tool from the source of one function (name, description and schema are derived
        from it unless given). ``timeout_limit`` is the tool's own wall-clock limit per call;
        ``secret_names`` the secrets it sees as environment variables."""
        tool = tools_pb2.Tool(
            name=name,
            description=description,
            source_code=source_code,
            json_schema=json_schema,
            parallel_safe=parallel_safe,
            requires_approval=requires_approval,
            result_char_limit=result_char_limit,
            timeout=timeout_limit,
            secret_names=secret_names,
            tags=tags,
        )
        request = tools_service_pb2.CreateToolRequest(tool=tool)
        return (await self._call.unary(self._stub.CreateTool, request, timeout)).tool

    async def get(self, tool_id: str, *, timeout: Timeout = DEFAULT) -> tools_pb2.Tool:
        """One tool."""
        request = tools_service_pb2.GetToolRequest(tool_id=tool_id)
        return (await self._call.unary(self._stub.GetTool, request, timeout)).tool

    def list(
        self, *, tags: Iterable[str] = (), name: str = "", page_size: int = 0, timeout: Timeout = DEFAULT
    ) -> AsyncIterator[tools_pb2.Tool]:
        """Every tool (with ``tags`` or named ``name``, when given)."""
        request = tools_service_pb2.ListToolsRequest(tags=tags, name=name, page_size=page_size)
        return self._call.pages(self._stub.ListTools, request, "tools", timeout)

    async def update(self, tool_id: str, *, timeout: Timeout = DEFAULT, **fields: Any) -> tools_pb2.Tool:
        """Change the given fields of a tool (``source_code=``, ``secret_names=``...) and only
        those. A new source without a new schema re-derives the schema."""
        if not fields:
            raise ValueError("update: name at least one field to change")
        request = tools_service_pb2.UpdateToolRequest(
            tool=tools_pb2.Tool(id=tool_id, **fields),
            update_mask=field_mask_pb2.FieldMask(paths=sorted(fields)),
        )
        return (await self._call.unary(self._stub.UpdateTool, request, timeout)).tool

    async def delete(self, tool_id: str, *, timeout: Timeout = DEFAULT) -> None:
        """Delete a tool."""
        request = tools_service_pb2.DeleteToolRequest(tool_id=tool_id)
        await self._call.unary(self._stub.DeleteTool, request, timeout)

    async def run(
        self,
        tool_id: str = "",
        *,
        source_code: str = "",
        arguments: Mapping[str, Any] | str = "{}",
        agent_id: str = "",
        timeout: Timeout = DEFAULT,
    ) -> tools_pb2.ExecutionResult:
        """Test-run a stored tool, or unsaved ``source_code``, in the sandbox with ``arguments``
        (a dict or a JSON object), with the secrets of ``agent_id`` (and the tenant's). A tool
        that fails is a result status, not an exception."""
        request = tools_service_pb2.RunToolRequest(
            tool_id=tool_id,
            source_code=source_code,
            arguments_json=arguments if isinstance(arguments, str) else json.dumps(arguments),
            agent_id=agent_id,
        )
        return (await self._call.unary(self._stub.RunTool, request, timeout, RUN_TIMEOUT)).result


class Secrets:
    """Secrets tools are granted by name; values are write only."""

    def __init__(self, caller: Caller):
        self._call = caller
        self._stub = tools_service_pb2_grpc.ToolServiceStub(caller.channel)

    async def set(
        self, name: str, value: str, *, agent_id: str = "", timeout: Timeout = DEFAULT
    ) -> tools_pb2.Secret:
        """Create or replace a secret: the tenant's, or ``agent_id``'s (which overrides it)."""
        request = tools_service_pb2.SetSecretRequest(name=name, value=value, agent_id=agent_id)
        return (await self._call.unary(self._stub.SetSecret, request, timeout)).secret

    async def list(self, *, agent_id: str = "", timeout: Timeout = DEFAULT) -> list[tools_pb2.Secret]:
        """The tenant's secrets, or ``agent_id``'s (names and times, never values)."""
        request = tools_service_pb2.ListSecretsRequest(agent_id=agent_id)
        return list((await self._call.unary(self._stub.ListSecrets, request, timeout)).secrets)

    async def delete(self, name: str, *, agent_id: str = "", timeout: Timeout = DEFAULT) -> None:
        """Delete a secret."""
        request = tools_service_pb2.DeleteSecretRequest(name=name, agent_id=agent_id)
        await self._call.unary(self._stub.DeleteSecret, request, timeout)
