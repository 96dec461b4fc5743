"""Agents in the ``agent`` schema, always scoped by tenant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, literal, literal_column, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.core.agents import Agent, AgentSpec, ModelChoice
from services.agent.core.tool_rules import ToolRule
from services.agent.store.tables import agents
from services.common.call import require_tenant
from services.common.errors import NotFound
from services.common.ids import is_uuid

# The row's version: every update of a row writes a new version of it with a new xmin (the
# transaction that wrote it), so an unchanged xmin means an unchanged row.
_VERSION = literal_column("xmin::text").label("version")
_VERSION_OF = select(_VERSION).where(agents.c.tenant == bindparam("tenant"), agents.c.id == bindparam("id"))
CACHED_AGENTS = 2_000
"""Agents whose configuration :class:`CallerAgents` keeps per process (the most recently run; a
system prompt may be 100,000 characters)."""


class AgentStore:
    """Create, read, list, update and delete agents of one tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def create(self, tenant: str, spec: AgentSpec, *, request_id: str = "") -> Agent:
        """Store a new agent; a repeated ``request_id`` returns the agent its first request made."""
        values = {
            "id": str(uuid.uuid4()),
            "tenant": tenant,
            "request_id": request_id or None,
            **_columns(spec),
        }
        statement = pg_insert(agents).values(**values).on_conflict_do_nothing().returning(agents)
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
            if row is None:
                earlier = select(agents).where(agents.c.tenant == tenant, agents.c.request_id == request_id)
                row = (await conn.execute(earlier)).one()
        return _agent(row)

    async def get(self, tenant: str, agent_id: str) -> Agent:
        return (await self.get_versioned(tenant, agent_id))[1]

    async def get_versioned(self, tenant: str, agent_id: str) -> tuple[str, Agent]:
        """The agent and the version of its row (see :meth:`version`)."""
        if not is_uuid(agent_id):
            raise NotFound("agent", agent_id)
        query = select(agents, _VERSION).where(agents.c.tenant == tenant, agents.c.id == agent_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound("agent", agent_id)
        return row.version, _agent(row)

    async def version(self, tenant: str, agent_id: str) -> str:
        """The version of the agent's row, which every change of the agent changes; NotFound when
        there is no such agent."""
        if not is_uuid(agent_id):
            raise NotFound("agent", agent_id)
        async with self._engine.connect() as conn:
            # Every run asks this: one statement (built once), without a BEGIN and ROLLBACK around it.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            version = (await conn.execute(_VERSION_OF, {"tenant": tenant, "id": agent_id})).scalar()
        if version is None:
            raise NotFound("agent", agent_id)
        return version

    async def list(
        self,
        tenant: str,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        tags: tuple[str, ...] = (),
        match_all_tags: bool = True,
        name: str = "",
        ids: tuple[str, ...] = (),
    ) -> list[Agent]:
        """Agents in creation order, starting after the ``(created_at, id)`` cursor."""
        query = select(agents).where(agents.c.tenant == tenant)
        if ids:
            query = query.where(agents.c.id.in_(ids))
        if after is not None:
            created_at, agent_id = after
            cursor = tuple_(
                literal(created_at, agents.c.created_at.type), literal(agent_id, agents.c.id.type)
            )
            query = query.where(tuple_(agents.c.created_at, agents.c.id) > cursor)
        if tags:
            tag_array = list(tags)
            query = query.where(
                agents.c.tags.contains(tag_array) if match_all_tags else agents.c.tags.overlap(tag_array)
            )
        if name:
            query = query.where(agents.c.name == name)
        query = query.order_by(agents.c.created_at, agents.c.id).limit(limit)
        async with self._engine.connect() as conn:
            return [_agent(row) for row in await conn.execute(query)]

    async def update(
        self, tenant: str, agent_id: str, merge: Callable[[Agent], Awaitable[AgentSpec]]
    ) -> Agent:
        """Store what ``merge`` makes of the agent, read and written under a row lock, so a
        concurrent update of other fields is neither lost nor undone."""
        if not is_uuid(agent_id):
            raise NotFound("agent", agent_id)
        mine = and_(agents.c.tenant == tenant, agents.c.id == agent_id)
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(agents).where(mine).with_for_update())).first()
            if row is None:
                raise NotFound("agent", agent_id)
            spec = await merge(_agent(row))
            statement = (
                update(agents)
                .where(mine)
                .values(**_columns(spec), updated_at=func.clock_timestamp())
                .returning(agents)
            )
            row = (await conn.execute(statement)).one()
        return _agent(row)

    async def set_archive(self, tenant: str, agent_id: str, archive_id: str) -> Agent:
        """Record the agent's archive (memory made it at the agent's creation)."""
        statement = (
            update(agents)
            .where(agents.c.tenant == tenant, agents.c.id == agent_id)
            .values(archive_id=archive_id)
            .returning(agents)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise NotFound("agent", agent_id)
        return _agent(row)

    async def delete(self, tenant: str, agent_id: str) -> None:
        if not is_uuid(agent_id):
            raise NotFound("agent", agent_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(agents).where(and_(agents.c.tenant == tenant, agents.c.id == agent_id))
            )
        if result.rowcount == 0:
            raise NotFound("agent", agent_id)


def _columns(spec: AgentSpec) -> dict:
    return {
        "name": spec.name,
        "description": spec.description,
        "system_prompt": spec.system_prompt,
        "provider": spec.model.provider,
        "model": spec.model.model,
        "context_window": spec.model.context_window,
        "temperature": spec.model.temperature,
        "max_output_tokens": spec.model.max_output_tokens,
        "tool_ids": list(spec.tool_ids),
        "tool_rules": [rule.to_json() for rule in spec.tool_rules],
        "tags": list(spec.tags),
        "metadata": spec.metadata,
        "max_steps": spec.max_steps,
    }


def _agent(row) -> Agent:
    return Agent(
        id=str(row.id),
        name=row.name,
        description=row.description,
        system_prompt=row.system_prompt,
        model=ModelChoice(
            provider=row.provider,
            model=row.model,
            context_window=row.context_window,
            temperature=row.temperature,
            max_output_tokens=row.max_output_tokens,
        ),
        tool_ids=tuple(row.tool_ids),
        tool_rules=tuple(ToolRule.from_json(rule) for rule in row.tool_rules),
        tags=tuple(row.tags),
        metadata=row.metadata,
        max_steps=row.max_steps,
        archive_id=row.archive_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CallerAgents:
    """The :class:`~services.agent.core.agents.AgentDirectory` of the call being served: the agents of
    its tenant.

    Every run reads its agent, so an agent read once is kept, and each later read asks the database
    only for the row's version: the same agent while it is unchanged, the stored one read anew after
    any change (by any replica), so no run ever sees an edit late."""

    def __init__(self, store: AgentStore, *, limit: int = CACHED_AGENTS):
        self._store = store
        self._limit = limit
        self._known: dict[tuple[str, str], tuple[str, Agent]] = {}

    async def get(self, agent_id: str) -> Agent:
        key = (require_tenant(), agent_id)
        try:
            version = await self._store.version(*key)
        except NotFound:
            self._known.pop(key, None)
            raise
        known = self._known.pop(key, None)  # put back last: the least recently run goes first
        if known is None or known[0] != version:
            known = await self._store.get_versioned(*key)
            if len(self._known) >= self._limit:
                del self._known[next(iter(self._known))]
        self._known[key] = known
        return known[1]
