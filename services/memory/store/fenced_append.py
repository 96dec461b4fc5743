"""The fenced append as one SQL statement, optionally with the context read in the same statement.

An append runs on every agent step, so it is one round trip in autocommit: no BEGIN, no COMMIT.
One statement is atomic, so every invariant holds inside it:

* the agent's state row is locked (appends to one agent are serialised whatever the callers do),
  the fencing epoch checked and ``count`` sequence numbers reserved; a stale epoch, another
  tenant's agent or an agent memory does not know (never set up, or forgotten) reserves nothing
  and so writes nothing: a run still in flight cannot bring a deleted agent's memory back;
* the idempotency key is claimed with a plain INSERT: a key used before raises a unique violation,
  which aborts the whole statement (the reservation included, so seq stays gapless) and the caller
  answers from the first append;
* the messages are inserted from parallel arrays, numbered after the reservation. Ids and the time
  are made by the caller, so nothing but the reserved ``last_seq`` is read back.

With the context, the same statement also reads the agent's blocks, archive counts and in-context
messages. All parts of one statement see the snapshot taken when it started, so that read misses
the messages just inserted (the caller adds them; it made them) and any committed by a concurrent
append the statement waited for; ``seen_last_seq`` tells the caller when that happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import BigInteger, bindparam, text

from services.memory.core.model import NewMessage
from services.memory.store.context import CONTEXT_BINDS, CONTEXT_COLUMNS

_WRITES = """
    WITH reserve AS (
        UPDATE memory.agent_state AS s
        SET max_epoch = :epoch, last_seq = s.last_seq + :count, updated_at = now()
        WHERE s.agent_id = :agent_id AND s.tenant = :tenant AND s.max_epoch <= :epoch
        RETURNING s.last_seq, s.max_epoch, s.boundary_seq, s.summary
    ), claim AS (
        INSERT INTO memory.appends (agent_id, idempotency_key, first_seq, last_seq)
        SELECT :agent_id, :key, last_seq - :count + 1, last_seq FROM reserve WHERE :key <> ''
    ), stored AS (
        INSERT INTO memory.messages (id, tenant, agent_id, seq, role, content, reasoning, tool_calls,
            tool_call_id, name, run_id, step, metadata, created_at, epoch)
        SELECT m.id, :tenant, :agent_id, r.last_seq - :count + m.n, m.role, m.content, m.reasoning,
            m.tool_calls::jsonb, m.tool_call_id, m.name, :run_id, m.step, m.metadata::jsonb,
            coalesce(m.created_at, :created_at), :epoch
        FROM reserve r, unnest(
            CAST(:ids AS uuid[]), CAST(:roles AS int[]), CAST(:contents AS text[]),
            CAST(:reasonings AS text[]), CAST(:tool_calls AS text[]), CAST(:tool_call_ids AS text[]),
            CAST(:names AS text[]), CAST(:steps AS int[]), CAST(:metadata AS text[]),
            CAST(:created_ats AS timestamptz[])
        ) WITH ORDINALITY AS m(
            id, role, content, reasoning, tool_calls, tool_call_id, name, step, metadata, created_at, n)
    )
"""

_BINDS = (bindparam("count", type_=BigInteger), bindparam("epoch", type_=BigInteger))

APPEND = text(_WRITES + "SELECT last_seq FROM reserve").bindparams(*_BINDS)
"""One row with the reserved ``last_seq``, or no row when the epoch is stale or the agent is
unknown or another tenant's."""

APPEND_THEN_READ = text(
    _WRITES
    + f"""
    SELECT s.last_seq, s.max_epoch, s.boundary_seq, s.summary,
        coalesce((SELECT last_seq FROM memory.agent_state WHERE agent_id = :agent_id), 0) AS seen_last_seq,
        {CONTEXT_COLUMNS}
    FROM reserve s
    """
).bindparams(*_BINDS, *CONTEXT_BINDS)
"""As ``APPEND``, plus the context columns as of the statement's snapshot; ``seen_last_seq`` is the
agent's ``last_seq`` in that snapshot (0 for a new agent)."""

APPENDS_KEY = "appends_pkey"
"""The constraint a repeated idempotency key violates."""


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
