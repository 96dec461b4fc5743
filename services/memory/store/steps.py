"""What every agent step reads and writes: the context, the fenced append, the eviction boundary.

These statements run on every step of every agent, so they are plain SQL (``sql/steps.sql``) run
by asyncpg itself on the service's pool (``services.common.db.open_pool``): through SQLAlchemy each
cost about 150 µs of CPU more. asyncpg's errors are mapped to statuses by
``services.common.db.domain_error`` as SQLAlchemy's are. Everything here is scoped by tenant.

Of the in-context messages, only those newer than the ones kept in ``RecentMessages`` are read
(see there): an append adds what it stored to them, a read replaces them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.sql_file import SqlFile, Statement
from services.memory.core.blocks import Block
from services.memory.core.model import (
    AgentContext,
    AppendResult,
    NewMessage,
    Role,
    StoredMessage,
    ToolCallRecord,
)
from services.memory.store.recent import RecentMessages, in_context

SQL = SqlFile(Path(__file__).parent / "sql" / "steps.sql")
APPENDS_KEY = "appends_pkey"
"""The constraint a repeated idempotency key violates."""


class StepStore:
    """Implements ``services.memory.core.steps.StepRepository`` over asyncpg."""

    def __init__(self, pool: asyncpg.Pool, recent: RecentMessages):
        self._pool = pool
        self._recent = recent

    async def read_context(self, *, tenant: str, agent_id: str, max_messages: int = 0) -> AgentContext:
        """Blocks, summary, boundary, epoch and in-context messages of an agent.

        With ``max_messages``, only the newest that many, never starting with a tool result whose
        call was cut off.
        """
        known = self._recent.newest(agent_id)
        context = await self._read(tenant, agent_id, max_messages, known)
        if context is None:  # what was kept is stale: read it all
            context = await self._read(tenant, agent_id, max_messages, ())
        assert context is not None, "a read that keeps nothing is always complete"
        return context

    async def _read(
        self, tenant: str, agent_id: str, max_messages: int, known: Sequence[StoredMessage]
    ) -> AgentContext | None:
        parameters = {
            "agent_id": agent_id,
            "tenant": tenant,
            "limit": max_messages or None,
            "known_seq": known[-1].seq if known else 0,
        }
        # One statement reads a consistent snapshot by itself: no transaction, so no BEGIN and
        # ROLLBACK round trips.
        row = await self._fetchrow(SQL["context"], parameters)
        if row is None:  # memory does not know the agent (or it is another tenant's)
            raise NotFound("agent", agent_id)
        return self._context(row, agent_id, known=known, max_messages=max_messages)

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
        """Append ``new_messages`` atomically, fenced by ``epoch`` and idempotent by key; sequence
        numbers have no gaps (a refused or deduplicated append reserves none).

        With ``then_read``, also the agent's context afterwards (as ``read_context``) from the same
        statement; None when that statement could not read it (a deduplicated append, a concurrent
        append committed meanwhile, or kept messages found stale): then the caller reads it."""
        known = self._recent.newest(agent_id) if then_read else ()
        ids = [str(uuid.uuid4()) for _ in new_messages]
        now = datetime.now(UTC)
        parameters = {
            "agent_id": agent_id,
            "tenant": tenant,
            "epoch": epoch,
            "count": len(new_messages),
            "key": idempotency_key,
            "run_id": run_id,
            "created_at": now,
            **message_arrays(new_messages, ids),
        }
        if then_read:
            parameters |= {"limit": max_messages or None, "known_seq": known[-1].seq if known else 0}
        statement = SQL["append_then_read" if then_read else "append"]
        try:
            if unanswered := _unanswered(new_messages):
                row = await self._append_checked(statement, parameters, unanswered)
            else:
                # One statement needs no transaction: no BEGIN and COMMIT round trips.
                row = await self._fetchrow(statement, parameters)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != APPENDS_KEY:  # not the claim of a key an earlier append holds
                raise
            # The statement that failed would have raised the epoch: a new lease holder whose first
            # write repeats one of the old holder's must still fence the old holder out.
            await self.fence(tenant=tenant, agent_id=agent_id, epoch=epoch)
            earlier = await self._earlier(tenant, agent_id, idempotency_key)
            return AppendResult(earlier, deduplicated=True), None
        if row is None:
            raise await self._refusal(tenant, agent_id, epoch)
        stored = _stored(new_messages, ids, agent_id, run_id, row["last_seq"], now)
        self._recent.extend(agent_id, stored)
        result = AppendResult(stored)
        if not then_read or row["seen_last_seq"] != row["last_seq"] - len(new_messages):
            return result, None
        context = self._context(row, agent_id, known=known, max_messages=max_messages, appended=stored)
        return result, context

    async def _append_checked(
        self, statement: Statement, parameters: dict, unanswered: list[str]
    ) -> asyncpg.Record | None:
        """``statement`` in a transaction that commits only if each call id of ``unanswered``
        (tool results no call of their own append answers) is a call of a recent message.

        The rare path: a step appends its calls with their results, and only a result that comes
        after an approval stands alone.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(statement.sql, *statement.arguments(parameters))
            if row is None:
                return None
            calls = {
                "agent_id": parameters["agent_id"],
                "first_seq": row["last_seq"] - parameters["count"] + 1,
                "ids": unanswered,
            }
            recent_calls = SQL["recent_calls"]
            found = await conn.fetch(recent_calls.sql, *recent_calls.arguments(calls))
            unmatched = sorted(set(unanswered) - {record[0] for record in found})
            if unmatched:  # raising rolls the transaction back
                raise InvalidArgument.field(
                    "messages",
                    f"tool results without a matching tool call: {', '.join(unmatched)}; "
                    "a tool message must answer a call of an earlier assistant message",
                )
            return row

    async def fence(self, *, tenant: str, agent_id: str, epoch: int) -> None:
        """Raise the agent's epoch to ``epoch`` (no-op for 0): from then on no write under an older
        one succeeds. FailedPrecondition (STALE_EPOCH) when a newer one already holds it."""
        if epoch:
            parameters = {"tenant": tenant, "agent_id": agent_id, "epoch": epoch}
            if await self._fetchrow(SQL["fence"], parameters) is None:
                raise await self._refusal(tenant, agent_id, epoch)

    async def move_boundary(
        self, *, tenant: str, agent_id: str, epoch: int, boundary_seq: int, summary: str
    ) -> int:
        """Evict every message up to ``boundary_seq`` and store the summary of them, atomically.

        Refuses a stale epoch, a boundary behind the current one or past the last message, and a
        boundary between a tool call and its return.
        """
        parameters = {
            "tenant": tenant,
            "agent_id": agent_id,
            "epoch": epoch,
            "boundary": boundary_seq,
            "summary": summary,
        }
        statement = SQL["move_boundary"]
        async with self._pool.acquire() as conn, conn.transaction():  # raising rolls it back
            moved = await conn.fetchrow(statement.sql, *statement.arguments(parameters))
            splits = moved["next_role"] == Role.TOOL or bool(moved["calls_at_boundary"])
            if moved["boundary_seq"] is not None and not splits:
                return moved["boundary_seq"]
            if moved["boundary_seq"] is not None:
                raise FailedPrecondition(
                    f"a boundary at seq {boundary_seq} would separate a tool call from its return; "
                    "move it before the assistant message that made the call, or after the last return",
                    reason="BOUNDARY_SPLITS_TOOL_CALL",
                    metadata={"agent_id": agent_id, "boundary_seq": str(boundary_seq)},
                )
        state = await self._fetchrow(SQL["state"], {"agent_id": agent_id})
        if state is None or state["tenant"] != tenant:
            raise NotFound("agent", agent_id)
        if state["max_epoch"] > epoch:
            raise _stale(agent_id, epoch, state["max_epoch"])
        raise InvalidArgument.field(
            "boundary_seq",
            f"must be between the current boundary {state['boundary_seq']} and the last message "
            f"{state['last_seq']}",
        )

    async def _earlier(self, tenant: str, agent_id: str, key: str) -> tuple[StoredMessage, ...]:
        row = await self._fetchrow(SQL["earlier"], {"tenant": tenant, "agent_id": agent_id, "key": key})
        return tuple(_message_from_json(m) for m in _decoded(row["messages"] if row else "[]"))

    async def _refusal(self, tenant: str, agent_id: str, epoch: int) -> Exception:
        state = await self._fetchrow(SQL["state"], {"agent_id": agent_id})
        if state is None or state["tenant"] != tenant:
            return NotFound("agent", agent_id)
        return _stale(agent_id, epoch, state["max_epoch"])

    async def _fetchrow(
        self, statement: Statement, parameters: Mapping[str, object]
    ) -> asyncpg.Record | None:
        return await self._pool.fetchrow(statement.sql, *statement.arguments(parameters))

    def _context(
        self,
        row: asyncpg.Record,
        agent_id: str,
        *,
        known: Sequence[StoredMessage],
        max_messages: int,
        appended: Sequence[StoredMessage] = (),
    ) -> AgentContext | None:
        """The context of a row of ``context`` or ``append_then_read`` read after ``known``, with
        ``appended`` after the messages the row holds; kept in ``RecentMessages`` for the next read.
        None when ``known`` was stale (then forgotten)."""
        fetched = [_message_from_json(m) for m in _decoded(row["messages"])]
        fetched.extend(appended)
        boundary_seq = row["boundary_seq"]
        messages = None
        if not known or row["known_id"] == known[-1].id:
            messages = in_context(known, fetched, boundary_seq=boundary_seq, max_messages=max_messages)
        if messages is None:
            self._recent.forget(agent_id)
            return None
        self._recent.keep(agent_id, messages)
        if max_messages:
            while messages and messages[0].role is Role.TOOL:
                messages.pop(0)
        return AgentContext(
            blocks=tuple(_block_from_json(b) for b in _decoded(row["blocks"])),
            summary=row["summary"],
            messages=tuple(messages),
            boundary_seq=boundary_seq,
            epoch=row["max_epoch"],
            message_count=row["last_seq"],
            passage_count=row["passage_count"],
            archive_tags=tuple(row["archive_tags"]),
        )


def _stale(agent_id: str, epoch: int, current: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"stale epoch {epoch} for agent {agent_id}: epoch {current} has taken over; "
        "this writer no longer holds the agent's lease",
        reason="STALE_EPOCH",
        metadata={"agent_id": agent_id, "epoch": str(epoch)},
    )


def message_arrays(new_messages: Sequence[NewMessage], ids: Sequence[str]) -> dict[str, list]:
    """The parameters of the messages' columns, one array per column."""
    return {
        "ids": list(ids),
        "roles": [int(m.role) for m in new_messages],
        "contents": [m.content for m in new_messages],
        "reasonings": [m.reasoning for m in new_messages],
        "tool_calls": [
            json.dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls])
            for m in new_messages
        ],
        "tool_call_ids": [m.tool_call_id for m in new_messages],
        "names": [m.name for m in new_messages],
        "steps": [m.step for m in new_messages],
        "metadata": [json.dumps(m.metadata) for m in new_messages],
        "created_ats": [m.created_at for m in new_messages],
    }


def _unanswered(new_messages: Sequence[NewMessage]) -> list[str]:
    """Call ids of the tool results that answer no call of an earlier message of this append."""
    calls: set[str] = set()
    missing: list[str] = []
    for message in new_messages:
        calls.update(call.id for call in message.tool_calls)
        if message.role is Role.TOOL and message.tool_call_id not in calls:
            missing.append(message.tool_call_id)
    return missing


_UNTIMED_FIELDS = tuple(name for name in NewMessage.__dataclass_fields__ if name != "created_at")


def _stored(
    new_messages: Sequence[NewMessage],
    ids: Sequence[str],
    agent_id: str,
    run_id: str,
    last_seq: int,
    created_at: datetime,
) -> tuple[StoredMessage, ...]:
    """The messages as the append stored them (numbered up to ``last_seq``)."""
    first_seq = last_seq - len(new_messages) + 1
    return tuple(
        StoredMessage(
            **{field: getattr(message, field) for field in NewMessage.__dataclass_fields__},
            id=id_,
            agent_id=agent_id,
            seq=first_seq + offset,
            run_id=run_id,
        )
        if message.created_at is not None
        else StoredMessage(
            **{field: getattr(message, field) for field in _UNTIMED_FIELDS},
            id=id_,
            agent_id=agent_id,
            seq=first_seq + offset,
            run_id=run_id,
            created_at=created_at,
        )
        for offset, (message, id_) in enumerate(zip(new_messages, ids, strict=True))
    )


def _decoded(value) -> list:
    return json.loads(value) if isinstance(value, str) else value


def _message_from_json(m: dict) -> StoredMessage:
    return StoredMessage(
        id=m["id"],
        agent_id=m["agent_id"],
        seq=m["seq"],
        role=Role(m["role"]),
        content=m["content"],
        reasoning=m["reasoning"],
        tool_calls=tuple(ToolCallRecord(c["id"], c["name"], c["arguments"]) for c in m["tool_calls"]),
        tool_call_id=m["tool_call_id"],
        name=m["name"],
        run_id=m["run_id"],
        step=m["step"],
        metadata=m["metadata"],
        created_at=datetime.fromisoformat(m["created_at"]),
    )


def _block_from_json(b: dict) -> Block:
    return Block(
        id=b["id"],
        label=b["label"],
        value=b["value"],
        limit=b["limit"],
        read_only=b["read_only"],
        description=b["description"],
        metadata=b["metadata"],
        version=b["version"],
        agent_ids=tuple(sorted(b["agent_ids"] or ())),
        created_at=datetime.fromisoformat(b["created_at"]),
        updated_at=datetime.fromisoformat(b["updated_at"]),
    )
