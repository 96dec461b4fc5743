"""Core memory blocks, their attachments to agents, and their history.

Every change of a block is one transaction that locks the block's row, checks the expected
version, writes the new version and its history entry. An edit made by a run is also fenced: it
locks the agent's state row and checks the run's epoch, as appends do, so a writer that lost the
agent's lease can change neither its messages nor its memory.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.common.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from services.memory.core.blocks import (
    UPDATABLE,
    Block,
    BlockChange,
    BlockFields,
    Edit,
    apply_edit,
    check_fields,
    with_changes,
)
from services.memory.store import effects
from services.memory.store.agents import ensure_agent, fence, require_agent
from services.memory.store.tables import block_agents, block_history, blocks

_AGENT_IDS = (
    select(func.coalesce(func.array_agg(block_agents.c.agent_id), text("'{}'::uuid[]")))
    .where(block_agents.c.block_id == blocks.c.id)
    .scalar_subquery()
    .label("agent_ids")
)


class BlockStore:
    """Reads and writes one tenant's blocks; every statement is scoped by tenant."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def create(self, tenant: str, fields: BlockFields, *, agent_id: str = "") -> Block:
        """Create a block (version 1, recorded in its history), attached to ``agent_id`` if given."""
        async with self._engine.begin() as conn:
            if agent_id:
                await require_agent(conn, tenant, agent_id)
            block_id = await self._insert(conn, tenant, fields)
            if agent_id:
                await self._attach(conn, block_id, agent_id, fields.label)
            return await self._load(conn, tenant, block_id)

    async def get(self, tenant: str, block_id: str) -> Block:
        async with self._engine.connect() as conn:
            return await self._load(conn, tenant, block_id)

    async def list(
        self, tenant: str, *, agent_id: str = "", label: str = "", after: str = "", limit: int
    ) -> builtins.list[Block]:
        """Blocks ordered by (label, id), after the position ``after`` ("label\\0id")."""
        query = select(blocks, _AGENT_IDS).where(blocks.c.tenant == tenant)
        if agent_id:
            attached = select(block_agents.c.block_id).where(block_agents.c.agent_id == agent_id)
            query = query.where(blocks.c.id.in_(attached))
        if label:
            query = query.where(blocks.c.label == label)
        if after:
            after_label, _, after_id = after.partition("\0")
            query = query.where(
                (blocks.c.label > after_label) | ((blocks.c.label == after_label) & (blocks.c.id > after_id))
            )
        async with self._engine.connect() as conn:
            if agent_id:
                await require_agent(conn, tenant, agent_id)
            rows = await conn.execute(query.order_by(blocks.c.label, blocks.c.id).limit(limit))
            return [_block(row) for row in rows]

    async def for_agent(self, conn: AsyncConnection, tenant: str, agent_id: str) -> builtins.list[Block]:
        """Every block attached to ``agent_id``, ordered by label."""
        attached = select(block_agents.c.block_id).where(block_agents.c.agent_id == agent_id)
        rows = await conn.execute(
            select(blocks, _AGENT_IDS)
            .where(blocks.c.tenant == tenant, blocks.c.id.in_(attached))
            .order_by(blocks.c.label)
        )
        return [_block(row) for row in rows]

    async def update(
        self,
        tenant: str,
        block_id: str,
        given: BlockFields,
        *,
        expected_version: int,
        paths: Sequence[str] = UPDATABLE,
    ) -> Block:
        """Set the fields named in ``paths`` to those of ``given``, as a new version. The merge is
        made on the locked row, so a concurrent change to another field is never written back."""
        async with self._engine.begin() as conn:
            current = await self._lock(conn, tenant, block_id, expected_version)
            fields = with_changes(current, given, paths)
            await self._write(conn, current, fields, agent_id="", run_id="")
            if fields.label != current.label:
                await self._relabel(conn, block_id, fields.label)
            return await self._load(conn, tenant, block_id)

    async def edit(
        self,
        tenant: str,
        *,
        edit: Edit,
        block_id: str = "",
        agent_id: str = "",
        label: str = "",
        expected_version: int = 0,
        run_id: str = "",
        epoch: int = 0,
        idempotency_key: str = "",
    ) -> Block:
        """Apply an agent's edit to a block named by id, or by agent and label; fenced by ``epoch``.

        An edit with an ``idempotency_key`` applied before is not applied again: the answer is the
        block as it is now."""
        try:
            async with self._engine.begin() as conn:
                if epoch:
                    await fence(conn, tenant, agent_id, epoch)
                if idempotency_key and (done := await effects.recorded(conn, tenant, idempotency_key)):
                    return await self._load(conn, tenant, done[0])
                if not block_id:
                    block_id = await self._attached_id(conn, tenant, agent_id, label)
                current = await self._lock(conn, tenant, block_id, expected_version)
                value = apply_edit(current, edit)
                await self._write(
                    conn, current, replace(current, value=value), agent_id=agent_id, run_id=run_id
                )
                if idempotency_key:
                    await effects.record(conn, tenant, idempotency_key, (block_id,), agent_id=agent_id)
                return await self._load(conn, tenant, block_id)
        except IntegrityError as exc:
            if not idempotency_key or not effects.is_twin(exc):
                raise
        async with self._engine.connect() as conn:  # an unfenced twin with the same key won
            done = await effects.recorded(conn, tenant, idempotency_key)
            assert done is not None
            return await self._load(conn, tenant, done[0])

    async def restore(self, tenant: str, block_id: str, version: int, *, expected_version: int) -> Block:
        """Set the value back to that of ``version``, as a new version."""
        async with self._engine.begin() as conn:
            current = await self._lock(conn, tenant, block_id, expected_version)
            past = (
                await conn.execute(
                    select(block_history.c.value_after).where(
                        block_history.c.block_id == block_id, block_history.c.version == version
                    )
                )
            ).scalar_one_or_none()
            if past is None:
                raise NotFound("block version", f"{block_id}@{version}")
            restored = replace(current, value=past)
            problems = [description for _, description in check_fields(restored, prefix="")]
            if problems:
                raise InvalidArgument.field(
                    "version", f"cannot restore version {version}: " + "; ".join(problems)
                )
            await self._write(conn, current, restored, agent_id="", run_id="")
            return await self._load(conn, tenant, block_id)

    async def delete(self, tenant: str, block_id: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(blocks).where(blocks.c.tenant == tenant, blocks.c.id == block_id)
            )
            if result.rowcount == 0:
                raise NotFound("block", block_id)

    async def attach(self, tenant: str, block_id: str, agent_id: str) -> Block:
        async with self._engine.begin() as conn:
            await require_agent(conn, tenant, agent_id)
            block = await self._load(conn, tenant, block_id)
            if agent_id not in block.agent_ids:
                await self._attach(conn, block_id, agent_id, block.label)
            return await self._load(conn, tenant, block_id)

    async def detach(self, tenant: str, block_id: str, agent_id: str) -> Block:
        async with self._engine.begin() as conn:
            await require_agent(conn, tenant, agent_id)
            await self._load(conn, tenant, block_id)
            result = await conn.execute(
                delete(block_agents).where(
                    block_agents.c.block_id == block_id, block_agents.c.agent_id == agent_id
                )
            )
            if result.rowcount == 0:
                raise NotFound("block attachment", f"{block_id} on {agent_id}")
            return await self._load(conn, tenant, block_id)

    async def history(
        self, tenant: str, block_id: str, *, before_version: int = 0, limit: int
    ) -> builtins.list[BlockChange]:
        """History entries newest first, older than ``before_version`` when given."""
        query = select(block_history).where(block_history.c.block_id == block_id)
        if before_version:
            query = query.where(block_history.c.version < before_version)
        async with self._engine.connect() as conn:
            await self._load(conn, tenant, block_id)
            rows = await conn.execute(query.order_by(block_history.c.version.desc()).limit(limit))
            return [_change(row) for row in rows]

    async def initialize_agent(
        self, tenant: str, agent_id: str, new: Sequence[BlockFields], existing_ids: Sequence[str]
    ) -> builtins.list[Block]:
        """Give a new agent its blocks, once: a repeated call returns the blocks it already has."""
        async with self._engine.begin() as conn:
            await ensure_agent(conn, tenant, agent_id)
            # Serialise concurrent initialisations of one agent; the second sees the first's blocks.
            await conn.execute(
                text("SELECT 1 FROM memory.agent_state WHERE agent_id = :agent_id FOR UPDATE"),
                {"agent_id": agent_id},
            )
            present = await self.for_agent(conn, tenant, agent_id)
            if present:
                return present
            for block_id in existing_ids:
                block = await self._load(conn, tenant, block_id)
                await self._attach(conn, block_id, agent_id, block.label)
            for fields in new:
                await self._attach(conn, await self._insert(conn, tenant, fields), agent_id, fields.label)
            return await self.for_agent(conn, tenant, agent_id)

    @staticmethod
    async def release_agent(conn: AsyncConnection, tenant: str, agent_id: str) -> None:
        """Detach every block from ``agent_id``; delete those no other agent shares."""
        owned = select(block_agents.c.block_id).where(block_agents.c.agent_id == agent_id)
        shared = select(block_agents.c.block_id).where(block_agents.c.agent_id != agent_id)
        await conn.execute(
            delete(blocks).where(
                blocks.c.tenant == tenant, blocks.c.id.in_(owned), blocks.c.id.not_in(shared)
            )
        )
        await conn.execute(delete(block_agents).where(block_agents.c.agent_id == agent_id))

    # --- one transaction's steps -------------------------------------------------------------

    @staticmethod
    async def _insert(conn: AsyncConnection, tenant: str, fields: BlockFields) -> str:
        block_id = str(uuid.uuid4())
        await conn.execute(
            insert(blocks).values(
                id=block_id,
                tenant=tenant,
                label=fields.label,
                value=fields.value,
                char_limit=fields.limit,
                read_only=fields.read_only,
                description=fields.description,
                metadata=fields.metadata,
                version=1,
            )
        )
        await conn.execute(
            insert(block_history).values(
                block_id=block_id, version=1, value_before="", value_after=fields.value
            )
        )
        return block_id

    @staticmethod
    async def _attach(conn: AsyncConnection, block_id: str, agent_id: str, label: str) -> None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(block_agents).values(block_id=block_id, agent_id=agent_id, label=label)
                )
        except IntegrityError:
            raise AlreadyExists(
                f"agent {agent_id} already has a block labelled '{label}'",
                reason="BLOCK_LABEL_TAKEN",
                metadata={"agent_id": agent_id, "label": label},
            ) from None

    @staticmethod
    async def _relabel(conn: AsyncConnection, block_id: str, label: str) -> None:
        try:
            async with conn.begin_nested():
                await conn.execute(
                    update(block_agents).where(block_agents.c.block_id == block_id).values(label=label)
                )
        except IntegrityError:
            raise AlreadyExists(
                f"an agent this block is attached to already has a block labelled '{label}'",
                reason="BLOCK_LABEL_TAKEN",
                metadata={"label": label},
            ) from None

    @staticmethod
    async def _attached_id(conn: AsyncConnection, tenant: str, agent_id: str, label: str) -> str:
        block_id = (
            await conn.execute(
                select(block_agents.c.block_id)
                .join(blocks, blocks.c.id == block_agents.c.block_id)
                .where(
                    blocks.c.tenant == tenant,
                    block_agents.c.agent_id == agent_id,
                    block_agents.c.label == label,
                )
            )
        ).scalar_one_or_none()
        if block_id is None:
            raise NotFound("block", f"{label} of agent {agent_id}")
        return str(block_id)

    @staticmethod
    async def _lock(conn: AsyncConnection, tenant: str, block_id: str, expected_version: int) -> Block:
        row = (
            await conn.execute(
                select(blocks, _AGENT_IDS)
                .where(blocks.c.tenant == tenant, blocks.c.id == block_id)
                .with_for_update(of=blocks)
            )
        ).first()
        if row is None:
            raise NotFound("block", block_id)
        block = _block(row)
        if expected_version and block.version != expected_version:
            raise Conflict(
                f"block {block_id} is at version {block.version}, not {expected_version}; "
                "read it again and retry",
                reason="STALE_VERSION",
                metadata={"block_id": block_id, "version": str(block.version)},
            )
        return block

    @staticmethod
    async def _write(
        conn: AsyncConnection, current: Block, fields: BlockFields, *, agent_id: str, run_id: str
    ) -> None:
        version = current.version + 1
        await conn.execute(
            update(blocks)
            .where(blocks.c.id == current.id)
            .values(
                label=fields.label,
                value=fields.value,
                char_limit=fields.limit,
                read_only=fields.read_only,
                description=fields.description,
                metadata=fields.metadata,
                version=version,
                updated_at=func.now(),
            )
        )
        await conn.execute(
            insert(block_history).values(
                block_id=current.id,
                version=version,
                value_before=current.value,
                value_after=fields.value,
                agent_id=agent_id,
                run_id=run_id,
            )
        )

    @staticmethod
    async def _load(conn: AsyncConnection, tenant: str, block_id: str) -> Block:
        row = (
            await conn.execute(
                select(blocks, _AGENT_IDS).where(blocks.c.tenant == tenant, blocks.c.id == block_id)
            )
        ).first()
        if row is None:
            raise NotFound("block", block_id)
        return _block(row)


def _block(row) -> Block:
    return Block(
        id=str(row.id),
        label=row.label,
        value=row.value,
        limit=row.char_limit,
        read_only=row.read_only,
        description=row.description,
        metadata=row.metadata,
        version=row.version,
        agent_ids=tuple(sorted(str(agent) for agent in row.agent_ids)),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _change(row) -> BlockChange:
    return BlockChange(
        block_id=str(row.block_id),
        version=row.version,
        value_before=row.value_before,
        value_after=row.value_after,
        agent_id=row.agent_id,
        run_id=row.run_id,
        created_at=row.created_at,
    )
