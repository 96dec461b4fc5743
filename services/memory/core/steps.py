"""The memory of one agent step: read the context, append the step's messages, move the boundary.

The agent service calls these through ``MemoryRuntime`` on every step, so each is one round trip
to the database in the common case (``services.memory.store.steps.StepStore``, the real
repository). Every write is fenced by the lease epoch of the gateway that runs the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.memory.core.model import AgentContext, AppendResult, NewMessage


class StepRepository(Protocol):
    async def read_context(self, *, tenant: str, agent_id: str, max_messages: int = 0) -> AgentContext:
        """The agent's context; NotFound when memory does not know the agent (or another tenant's)."""
        ...

    async def append(
        self,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        new_messages: Sequence[NewMessage],
        then_read: bool = False,
        max_messages: int = 0,
    ) -> tuple[AppendResult, AgentContext | None]:
        """Append atomically, fenced and idempotent by key; with ``then_read`` also the context
        afterwards when the same statement could read it (else None)."""
        ...

    async def fence(self, *, tenant: str, agent_id: str, epoch: int) -> None:
        """Raise the agent's epoch (no-op for 0); FailedPrecondition when a newer one holds it."""
        ...

    async def move_boundary(
        self, *, tenant: str, agent_id: str, epoch: int, boundary_seq: int, summary: str
    ) -> int:
        """Evict up to ``boundary_seq`` with its summary, atomically; the new boundary."""
        ...


class AgentSteps:
    """Context reads and fenced appends of agent steps."""

    def __init__(self, store: StepRepository):
        self._store = store

    async def context(self, *, tenant: str, agent_id: str, epoch: int, max_messages: int) -> AgentContext:
        """The agent's context for a step under ``epoch``: a new lease holder's first read fences
        every older holder out before it reads (fencing starts at takeover)."""
        await self._store.fence(tenant=tenant, agent_id=agent_id, epoch=epoch)
        return await self._store.read_context(tenant=tenant, agent_id=agent_id, max_messages=max_messages)

    async def append(
        self,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        new_messages: Sequence[NewMessage],
    ) -> AppendResult:
        """Append a step's messages (see ``StepRepository.append``)."""
        result, _ = await self._store.append(
            tenant=tenant,
            agent_id=agent_id,
            epoch=epoch,
            run_id=run_id,
            idempotency_key=idempotency_key,
            new_messages=new_messages,
        )
        return result

    async def append_then_read(
        self,
        *,
        tenant: str,
        agent_id: str,
        epoch: int,
        run_id: str,
        idempotency_key: str,
        new_messages: Sequence[NewMessage],
        max_messages: int,
    ) -> tuple[AppendResult, AgentContext]:
        """Append, and the context the agent's next step reads: from the append's own statement
        when it could read it, else read on its own."""
        result, context = await self._store.append(
            tenant=tenant,
            agent_id=agent_id,
            epoch=epoch,
            run_id=run_id,
            idempotency_key=idempotency_key,
            new_messages=new_messages,
            then_read=True,
            max_messages=max_messages,
        )
        if context is None:
            context = await self._store.read_context(
                tenant=tenant, agent_id=agent_id, max_messages=max_messages
            )
        return result, context

    async def move_boundary(
        self, *, tenant: str, agent_id: str, epoch: int, boundary_seq: int, summary: str
    ) -> int:
        """Evict every message up to ``boundary_seq``, keeping ``summary`` of them."""
        return await self._store.move_boundary(
            tenant=tenant, agent_id=agent_id, epoch=epoch, boundary_seq=boundary_seq, summary=summary
        )
