-- The statements of every agent step: the context read and the fenced append (StepStore, asyncpg).
--
-- Each runs on every step of every agent, so each is one round trip in autocommit: no BEGIN, no
-- COMMIT. One statement is atomic, so every invariant of an append holds inside it:
--
-- * the agent's state row is locked (appends to one agent are serialised whatever the callers do),
--   the fencing epoch checked and :count sequence numbers reserved; a stale epoch, another tenant's
--   agent or an agent memory does not know (never set up, or forgotten) reserves nothing and so
--   writes nothing: a run still in flight cannot bring a deleted agent's memory back;
-- * the idempotency key is claimed with a plain INSERT: a key used before raises a unique violation
--   of appends_pkey, which aborts the whole statement (the reservation included, so seq stays
--   gapless) and the caller answers from the first append;
-- * the messages are inserted from parallel arrays, numbered after the reservation. Ids and the
--   time are made by the caller, so nothing but the reserved last_seq is read back.
--
-- The context is the agent's state row, its blocks and its in-context messages aggregated as JSON
-- (so the blocks are not repeated on every message row), and its archive counts from the maintained
-- counters (archives.passage_count and archive_tags: never a scan of passages). Of the messages,
-- only those newer than :known_seq (the newest one the caller keeps, see RecentMessages) are read;
-- known_id says whether the caller's copy of that message is still the stored one.

-- fragment: context_columns
(SELECT coalesce(json_agg(json_build_object(
            'id', b.id, 'label', b.label, 'value', b.value, 'limit', b.char_limit,
            'read_only', b.read_only, 'description', b.description, 'metadata', b.metadata,
            'version', b.version, 'created_at', b.created_at, 'updated_at', b.updated_at,
            'agent_ids', (SELECT array_agg(o.agent_id) FROM memory.block_agents o
                          WHERE o.block_id = b.id))
        ORDER BY b.label), '[]')
    FROM memory.block_agents ba JOIN memory.blocks b ON b.id = ba.block_id
    WHERE ba.agent_id = :agent_id AND b.tenant = :tenant) AS blocks,
(SELECT coalesce(sum(a.passage_count), 0)::bigint
    FROM memory.archive_agents l JOIN memory.archives a ON a.id = l.archive_id
    WHERE l.agent_id = :agent_id AND a.tenant = :tenant) AS passage_count,
ARRAY(SELECT DISTINCT t.tag
    FROM memory.archive_agents l
    JOIN memory.archives a ON a.id = l.archive_id
    JOIN memory.archive_tags t ON t.archive_id = l.archive_id
    WHERE l.agent_id = :agent_id AND a.tenant = :tenant
    ORDER BY t.tag) AS archive_tags,
(SELECT coalesce(json_agg(m ORDER BY m.seq), '[]')
    FROM (SELECT id, agent_id, seq, role, content, reasoning, tool_calls, tool_call_id, name, run_id,
                 step, metadata, created_at
          FROM memory.messages mm
          WHERE mm.agent_id = :agent_id AND mm.seq > greatest(s.boundary_seq, :known_seq::bigint)
          ORDER BY mm.seq DESC LIMIT :limit::integer) m) AS messages,
(SELECT id::text FROM memory.messages WHERE agent_id = :agent_id AND seq = :known_seq::bigint) AS known_id

-- fragment: append
WITH reserve AS (
    UPDATE memory.agent_state AS s
    SET max_epoch = :epoch::bigint, last_seq = s.last_seq + :count::bigint, updated_at = now()
    WHERE s.agent_id = :agent_id AND s.tenant = :tenant AND s.max_epoch <= :epoch::bigint
    RETURNING s.last_seq, s.max_epoch, s.boundary_seq, s.summary
), claim AS (
    INSERT INTO memory.appends (agent_id, idempotency_key, first_seq, last_seq)
    SELECT :agent_id, :key, last_seq - :count::bigint + 1, last_seq FROM reserve WHERE :key <> ''
), stored AS (
    INSERT INTO memory.messages (id, tenant, agent_id, seq, role, content, reasoning, tool_calls,
        tool_call_id, name, run_id, step, metadata, created_at, epoch)
    SELECT m.id, :tenant, :agent_id, r.last_seq - :count::bigint + m.n, m.role, m.content, m.reasoning,
        m.tool_calls::jsonb, m.tool_call_id, m.name, :run_id, m.step, m.metadata::jsonb,
        coalesce(m.created_at, :created_at), :epoch::bigint
    FROM reserve r, unnest(
        CAST(:ids AS uuid[]), CAST(:roles AS int[]), CAST(:contents AS text[]),
        CAST(:reasonings AS text[]), CAST(:tool_calls AS text[]), CAST(:tool_call_ids AS text[]),
        CAST(:names AS text[]), CAST(:steps AS int[]), CAST(:metadata AS text[]),
        CAST(:created_ats AS timestamptz[])
    ) WITH ORDINALITY AS m(
        id, role, content, reasoning, tool_calls, tool_call_id, name, step, metadata, created_at, n)
)

-- name: context
-- Everything the agent loop needs for one step; no row when memory does not know the agent (or it
-- is another tenant's).
SELECT s.boundary_seq, s.summary, s.max_epoch, s.last_seq, {{context_columns}}
FROM memory.agent_state s
WHERE s.agent_id = :agent_id AND s.tenant = :tenant;

-- name: append
-- One row with the reserved last_seq, or no row when the epoch is stale or the agent is unknown or
-- another tenant's.
{{append}}
SELECT last_seq FROM reserve;

-- name: append_then_read
-- As append, plus the context columns as of the statement's snapshot. All parts of one statement
-- see the snapshot taken when it started, so the read misses the messages just inserted (the caller
-- adds them: it made them) and any committed by a concurrent append the statement waited for;
-- seen_last_seq (the agent's last_seq in that snapshot, 0 for a new agent) tells the caller when
-- that happened.
{{append}}
SELECT s.last_seq, s.max_epoch, s.boundary_seq, s.summary,
    coalesce((SELECT last_seq FROM memory.agent_state WHERE agent_id = :agent_id), 0) AS seen_last_seq,
    {{context_columns}}
FROM reserve s;

-- name: recent_calls
-- Tool calls of the agent's recent messages among :ids (a result may follow its call after an
-- approval, but never by more than a few hundred messages).
SELECT call ->> 'id' FROM memory.messages m, jsonb_array_elements(m.tool_calls) call
WHERE m.agent_id = :agent_id AND m.seq >= :first_seq::bigint - 500 AND m.seq < :first_seq::bigint
    AND jsonb_array_length(m.tool_calls) > 0 AND call ->> 'id' = ANY(:ids);

-- name: earlier
-- The messages a key's first append stored (for the repeated append that names the key again), as
-- one JSON array like the context's.
SELECT coalesce(json_agg(m ORDER BY m.seq), '[]') AS messages
FROM (SELECT m.id, m.agent_id, m.seq, m.role, m.content, m.reasoning, m.tool_calls, m.tool_call_id,
             m.name, m.run_id, m.step, m.metadata, m.created_at
      FROM memory.appends a
      JOIN memory.messages m ON m.agent_id = a.agent_id AND m.seq BETWEEN a.first_seq AND a.last_seq
      WHERE a.agent_id = :agent_id AND a.idempotency_key = :key AND m.tenant = :tenant) m;

-- name: state
-- The agent's state row whoever its tenant is (to tell a stale epoch from an unknown agent).
SELECT tenant, max_epoch, boundary_seq, last_seq FROM memory.agent_state WHERE agent_id = :agent_id;

-- name: fence
-- Raise the agent's epoch to :epoch; no row when a newer one holds it or the agent is unknown.
UPDATE memory.agent_state SET max_epoch = :epoch::bigint, updated_at = now()
WHERE agent_id = :agent_id AND tenant = :tenant AND max_epoch <= :epoch::bigint
RETURNING max_epoch;

-- name: move_boundary
-- Moves the boundary and stores the summary, fenced like appends; answers the messages on both
-- sides of the new boundary so the caller can refuse a split tool call in the same transaction.
WITH moved AS (
    UPDATE memory.agent_state
    SET boundary_seq = :boundary::bigint, summary = :summary, max_epoch = :epoch::bigint, updated_at = now()
    WHERE agent_id = :agent_id AND tenant = :tenant AND max_epoch <= :epoch::bigint
        AND boundary_seq <= :boundary::bigint AND last_seq >= :boundary::bigint
    RETURNING boundary_seq
)
SELECT (SELECT boundary_seq FROM moved) AS boundary_seq,
    (SELECT role FROM memory.messages WHERE agent_id = :agent_id AND seq = :boundary::bigint + 1) AS next_role,
    (SELECT jsonb_array_length(tool_calls) FROM memory.messages
     WHERE agent_id = :agent_id AND seq = :boundary::bigint) AS calls_at_boundary;
