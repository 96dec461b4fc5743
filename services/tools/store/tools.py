"""Tool definitions of one tenant, in the ``tools`` schema."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.errors import AlreadyExists, NotFound
from services.common.ids import is_uuid
from services.tools.core.tools import Tool, ToolSpec
from services.tools.store.tables import tools


class ToolStore:
    """Create, read, list, update and delete the tools of a tenant; names are unique per tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def create(self, tenant: str, spec: ToolSpec) -> Tool:
        statement = (
            tools.insert().values(id=str(uuid.uuid4()), tenant=tenant, **_columns(spec)).returning(tools)
        )
        try:
            async with self._engine.begin() as conn:
                row = (await conn.execute(statement)).one()
        except IntegrityError as exc:
            raise _name_taken(exc, spec.name) from None
        return _tool(row)

    async def get(self, tenant: str, tool_id: str) -> Tool:
        if not is_uuid(tool_id):
            raise NotFound("tool", tool_id)
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(tools).where(tools.c.tenant == tenant, tools.c.id == tool_id))
            ).first()
        if row is None:
            raise NotFound("tool", tool_id)
        return _tool(row)

    async def list(
        self,
        tenant: str,
        *,
        limit: int,
        after_name: str | None = None,
        tags: tuple[str, ...] = (),
        name: str = "",
    ) -> list[Tool]:
        """Tools ordered by name, starting after ``after_name``; ``tags`` matches any of them."""
        query = select(tools).where(tools.c.tenant == tenant)
        if after_name is not None:
            query = query.where(tools.c.name > after_name)
        if tags:
            query = query.where(tools.c.tags.overlap(list(tags)))
        if name:
            query = query.where(tools.c.name == name)
        query = query.order_by(tools.c.name).limit(limit)
        async with self._engine.connect() as conn:
            return [_tool(row) for row in await conn.execute(query)]

    async def replace(self, tenant: str, tool_id: str, spec: ToolSpec) -> Tool:
        """Store ``spec`` as the new definition of the tool."""
        if not is_uuid(tool_id):
            raise NotFound("tool", tool_id)
        statement = (
            update(tools)
            .where(tools.c.tenant == tenant, tools.c.id == tool_id)
            .values(**_columns(spec), updated_at=func.now())
            .returning(tools)
        )
        try:
            async with self._engine.begin() as conn:
                row = (await conn.execute(statement)).first()
        except IntegrityError as exc:
            raise _name_taken(exc, spec.name) from None
        if row is None:
            raise NotFound("tool", tool_id)
        return _tool(row)

    async def delete(self, tenant: str, tool_id: str) -> None:
        if not is_uuid(tool_id):
            raise NotFound("tool", tool_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(tools).where(tools.c.tenant == tenant, tools.c.id == tool_id))
        if result.rowcount == 0:
            raise NotFound("tool", tool_id)


def _name_taken(exc: IntegrityError, name: str) -> Exception:
    if getattr(exc.orig, "sqlstate", None) == "23505":
        return AlreadyExists(f"a tool named {name!r} already exists", reason="TOOL_NAME_TAKEN")
    return exc


def _columns(spec: ToolSpec) -> dict:
    return {
        "name": spec.name,
        "description": spec.description,
        "source_code": spec.source_code,
        "function_name": spec.function_name,
        "json_schema": spec.json_schema,
        "parallel_safe": spec.parallel_safe,
        "requires_approval": spec.requires_approval,
        "result_char_limit": spec.result_char_limit,
        "timeout_ms": None if spec.timeout_seconds is None else round(spec.timeout_seconds * 1000),
        "secret_names": list(spec.secret_names),
        "tags": list(spec.tags),
    }


def _tool(row) -> Tool:
    return Tool(
        id=str(row.id),
        name=row.name,
        description=row.description,
        source_code=row.source_code,
        function_name=row.function_name,
        json_schema=row.json_schema,
        parallel_safe=row.parallel_safe,
        requires_approval=row.requires_approval,
        result_char_limit=row.result_char_limit,
        timeout_seconds=None if row.timeout_ms is None else row.timeout_ms / 1000,
        secret_names=tuple(row.secret_names),
        tags=tuple(row.tags),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
