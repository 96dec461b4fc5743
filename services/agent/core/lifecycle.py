"""Creating, changing and deleting agents: the agent row, its memory and its tools kept in step.

An agent is a row of the agent service plus memory in the memory service (blocks, history, an
archive) plus attached tools in the tools service. Each step here is ordered so that a failure
half-way leaves something a retry of the same request completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from services.agent.core.agent_file import FileMessage, FilePassage, FileTool
from services.agent.core.agents import (
    Agent,
    AgentSpec,
    InitialBlock,
    ModelCatalog,
    apply_update,
    changes_provider,
    changes_tools,
    check_attached_tools,
    update_paths,
)
from services.common.errors import (
    AgentSuiteError,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Validation,
)


class AgentRepository(Protocol):
    async def create(self, tenant: str, spec: AgentSpec, *, request_id: str = "") -> Agent: ...
    async def get(self, tenant: str, agent_id: str) -> Agent: ...
    async def update(
        self, tenant: str, agent_id: str, merge: Callable[[Agent], Awaitable[AgentSpec]]
    ) -> Agent: ...
    async def set_archive(self, tenant: str, agent_id: str, archive_id: str) -> Agent: ...
    async def delete(self, tenant: str, agent_id: str) -> None: ...


class ToolCatalog(Protocol):
    """The tenant's custom tools (the tools service)."""

    async def name_of(self, tool_id: str) -> str:
        """The tool's name; NotFound when the tenant has no such tool."""
        ...

    async def definition(self, tool_id: str) -> FileTool: ...
    async def find(self, name: str) -> tuple[str, FileTool] | None:
        """The id and definition of the tenant's tool called ``name``, if there is one."""
        ...

    async def create(self, tool: FileTool) -> str:
        """Create ``tool``; its id. AlreadyExists when the name is taken."""
        ...

    async def forget_secrets(self, agent_id: str) -> None:
        """Delete the secrets that belong to the agent (not the tenant-wide ones)."""
        ...


@dataclass(frozen=True, kw_only=True)
class MemorySnapshot:
    """What an export reads of an agent's memory besides its history and passages."""

    blocks: tuple[InitialBlock, ...]
    summary: str
    boundary_seq: int
    """Sequence number of the last message the summary stands for; 0 when none."""
    last_seq: int
    """Sequence number of the newest message; 0 for an empty history."""


class AgentMemory(Protocol):
    """An agent's memory as a whole (the memory service)."""

    async def initialize(self, agent_id: str, blocks: Sequence[InitialBlock]) -> str:
        """Set up a new agent's blocks and archive (safe to repeat); the archive's id."""
        ...

    async def forget(self, agent_id: str) -> None:
        """Delete the agent's memory; forgetting unknown memory succeeds."""
        ...

    async def block_ids(self, agent_id: str) -> tuple[str, ...]:
        """Ids of the core memory blocks attached to the agent."""
        ...

    async def snapshot(self, agent_id: str) -> MemorySnapshot: ...
    def messages(self, agent_id: str, *, before_seq: int) -> AsyncIterator[list[FileMessage]]:
        """The history below ``before_seq``, oldest first, a page at a time."""
        ...

    def passages(self, archive_id: str) -> AsyncIterator[list[FilePassage]]:
        """Every passage of the archive, newest first, a page at a time."""
        ...

    async def append(self, agent_id: str, *, key: str, messages: Sequence[FileMessage]) -> list[int]:
        """Append to the history (idempotent by ``key``); the new sequence numbers."""
        ...

    async def set_boundary(self, agent_id: str, *, boundary_seq: int, summary: str) -> None: ...
    async def insert_passages(self, archive_id: str, passages: Sequence[FilePassage]) -> None: ...


def _in_memory_blocks(error: AgentSuiteError) -> AgentSuiteError:
    """Memory's refusal of a block, named as the CreateAgent request names it (``memory_blocks``)."""
    if isinstance(error, InvalidArgument):
        return InvalidArgument(
            [
                FieldViolation(v.field.replace("blocks[", "memory_blocks[", 1), v.description)
                for v in error.violations
            ]
        )
    return error


class AgentLifecycle:
    """Create, update and delete agents of a tenant, with their memory and their tools."""

    def __init__(
        self, *, store: AgentRepository, memory: AgentMemory, tools: ToolCatalog, models: ModelCatalog
    ):
        self._store = store
        self._memory = memory
        self._tools = tools
        self._models = models

    async def create(
        self, tenant: str, spec: AgentSpec, blocks: Sequence[InitialBlock], *, request_id: str = ""
    ) -> Agent:
        """A new agent with its blocks and archive; a retry with the same ``request_id`` finds
        the agent the first attempt made and completes its set-up."""
        self.check(spec)
        if spec.tool_ids or spec.tool_rules:
            self.check(spec, names=await self.tool_names(spec.tool_ids))
        agent = await self._store.create(tenant, spec, request_id=request_id)
        # After the row: memory keeps an agent's first set-up, so a retry that finds the row
        # finds its memory too, or makes it now. Blocks memory refuses undo the row: no agent
        # without its memory is left behind.
        try:
            return await self.set_up_memory(tenant, agent, blocks)
        except (InvalidArgument, AlreadyExists, NotFound) as exc:
            await self._store.delete(tenant, agent.id)
            raise _in_memory_blocks(exc) from None

    async def with_blocks(self, agent: Agent) -> Agent:
        """``agent`` with the ids of the blocks memory has attached to it (they change through
        memory's API, so they are asked for, never stored here)."""
        return replace(agent, block_ids=await self._memory.block_ids(agent.id))

    async def set_up_memory(self, tenant: str, agent: Agent, blocks: Sequence[InitialBlock]) -> Agent:
        """Give a stored agent its blocks and archive (safe to repeat); the agent with its archive."""
        archive_id = await self._memory.initialize(agent.id, blocks)
        if agent.archive_id != archive_id:
            agent = await self._store.set_archive(tenant, agent.id, archive_id)
        return agent

    async def update(self, tenant: str, agent_id: str, changes: AgentSpec, mask: Collection[str]) -> Agent:
        """The agent with the fields ``mask`` names taken from ``changes`` (every writable field
        for an empty mask), merged on the locked row so concurrent updates of other fields stay."""
        paths = update_paths(mask)
        tools = changes_tools(paths)
        names: dict[str, str] = {}
        if tools:
            # Resolve the tools before the row is locked; only a concurrent change of the agent's
            # tools makes the merge below ask the tools service again.
            preview = apply_update((await self._store.get(tenant, agent_id)).spec(), changes, paths)
            self.check(preview, provider=changes_provider(paths))
            names = await self.tool_names(preview.tool_ids)

        async def merge(current: Agent) -> AgentSpec:
            merged = apply_update(current.spec(), changes, paths)
            if tools:
                unknown = [tool_id for tool_id in merged.tool_ids if tool_id not in names]
                names.update(await self.tool_names(unknown))
            self.check(merged, names=names if tools else None, provider=changes_provider(paths))
            return merged

        return await self._store.update(tenant, agent_id, merge)

    async def delete(self, tenant: str, agent_id: str) -> None:
        """Delete the agent, its memory and its own tool secrets. They go first: a failure after
        them leaves the row, and a retry (each of those deletes is idempotent) finishes the job."""
        await self._store.get(tenant, agent_id)  # NOT_FOUND before anything is touched
        await self._memory.forget(agent_id)
        await self._tools.forget_secrets(agent_id)
        await self._store.delete(tenant, agent_id)

    async def tool_names(self, tool_ids: Sequence[str]) -> dict[str, str]:
        """The name of each tool, asked concurrently; NOT_FOUND naming the first missing one."""
        found = await asyncio.gather(*(self._tools.name_of(t) for t in tool_ids), return_exceptions=True)
        for tool_id, name in zip(tool_ids, found, strict=True):
            if isinstance(name, NotFound):
                raise NotFound("tool", tool_id, f"tool {tool_id!r} not found (agent.tool_ids)")
            if isinstance(name, BaseException):
                raise name
        return dict(zip(tool_ids, found, strict=True))

    def check(self, spec: AgentSpec, *, names: dict[str, str] | None = None, provider: bool = True) -> None:
        """InvalidArgument naming every field of ``spec`` that breaks a rule; with ``names`` (of
        its tools), also clashing tool names and rules naming a tool the agent cannot call."""
        check = Validation()
        spec.record_violations(check)
        if provider:
            self._models.check(spec.model, check)
        if names is not None:
            check_attached_tools(spec, names, check)
        check.raise_if_any()
