-- Runs, their stored events and the agent leases (RunStore and LeaseStore, asyncpg).
--
-- Every statement here is one round trip in autocommit (these are the statements on the path of
-- every message): each is atomic on its own, so no transaction is ever held open across an await.
-- Acceptance and release are SQL functions (functions.sql) because they must read the agent's runs
-- after taking its lease row's lock; the rest are single statements that do several things at once.
--
-- Numbers copied from the protos (pinned by tests/unit/test_proto_numbers.py):
--   status      RUN_STATUS_QUEUED = 1, RUN_STATUS_RUNNING = 2, RUN_STATUS_CANCELLED = 5,
--               RUN_STATUS_AWAITING_APPROVAL = 6 (agentsuite.gateway.v1.RunStatus)
--   stop_reason STOP_REASON_CANCELLED = 5 (agentsuite.common.v1.StopReason)

-- fragment: run_columns
r.id::text AS id, r.tenant, r.agent_id, r.status, r.idempotency_key, r.step_request, r.deltas,
r.call_chain, r.parent_run_id, r.epoch, r.cancel_requested, r.stop_reason, r.stop_detail, r.result,
r.lane_seq, r.created_at, r.started_at, r.finished_at,
(SELECT coalesce(max(e.seq), 0) FROM gateway.run_events e WHERE e.run_id = r.id) AS last_seq

-- name: accept
-- Record a run (see gateway.accept_run in functions.sql).
SELECT * FROM gateway.accept_run(
    p_id => :run_id, p_tenant => :tenant, p_agent_id => :agent_id, p_key => :idempotency_key,
    p_step_request => :step_request, p_deltas => :deltas, p_call_chain => :call_chain,
    p_event_head => :event_head, p_max_queued => :max_queued, p_priority => :priority,
    p_reject_if_busy => :reject_if_busy, p_interrupt => :interrupt, p_holder => :holder,
    p_epoch => :epoch, p_start => :start, p_ttl => :ttl_seconds, p_parent_run_id => :parent_run_id);

-- name: claim
-- Start the agent's next run under this lease: an orphaned running one first, else the oldest
-- queued (interrupting ones first); runs awaiting approval that a newer run overtakes are cancelled.
WITH lease AS (
    SELECT 1 FROM gateway.agent_leases
    WHERE tenant = :tenant AND agent_id = :agent_id AND holder = :holder AND epoch = :epoch
        AND expires_at > now()
), next AS (
    SELECT id FROM gateway.runs
    WHERE tenant = :tenant AND agent_id = :agent_id AND status IN (1, 2) AND EXISTS (SELECT 1 FROM lease)
    ORDER BY status DESC, priority DESC, lane_seq
    LIMIT 1
    FOR UPDATE
), claimed AS (
    UPDATE gateway.runs r SET status = 2, epoch = :epoch, started_at = coalesce(r.started_at, now())
    FROM next WHERE r.id = next.id
    RETURNING r.*
), overtaken AS (
    UPDATE gateway.runs SET status = 5, stop_reason = 5, finished_at = now(),
        stop_detail = 'overtaken by a newer run before its approvals came'
    WHERE tenant = :tenant AND agent_id = :agent_id AND status = 6 AND EXISTS (SELECT 1 FROM claimed)
)
SELECT {{run_columns}},
    (SELECT count(*) FROM gateway.runs q
     WHERE q.tenant = :tenant AND q.agent_id = :agent_id AND q.status = 1 AND q.id <> r.id) AS waiting
FROM claimed r;

-- name: store
-- Store events and finish runs, each only while its epoch is the run's current one (a running run);
-- listeners hear which runs have new events.
WITH incoming AS (
    SELECT * FROM unnest(:event_run_ids::uuid[], :event_epochs::bigint[], :event_seqs::bigint[],
        :events::bytea[]) AS e(run_id, epoch, seq, event)
), fenced AS (
    SELECT i.run_id, i.seq, i.event FROM incoming i
    JOIN gateway.runs r ON r.id = i.run_id AND r.epoch = i.epoch AND r.status = 2
), stored AS (
    INSERT INTO gateway.run_events (run_id, seq, event) SELECT run_id, seq, event FROM fenced
    ON CONFLICT DO NOTHING
), finished AS (
    UPDATE gateway.runs r SET status = f.status, stop_reason = f.stop_reason,
        stop_detail = f.stop_detail, result = f.result, finished_at = f.finished_at
    FROM unnest(:finish_run_ids::uuid[], :finish_epochs::bigint[], :statuses::smallint[],
        :stop_reasons::smallint[], :stop_details::text[], :results::bytea[],
        :finished_ats::timestamptz[]) AS f(run_id, epoch, status, stop_reason, stop_detail, result, finished_at)
    WHERE r.id = f.run_id AND r.epoch = f.epoch AND r.status = 2
    RETURNING r.id::text
), told AS (
    SELECT pg_notify('agentsuite_run_events', string_agg(DISTINCT run_id::text, ','))
    FROM fenced HAVING count(*) > 0
)
SELECT array(SELECT DISTINCT run_id::text FROM fenced) AS stored, array(SELECT id FROM finished) AS finished,
    (SELECT count(*) FROM told) AS told;

-- name: get
SELECT {{run_columns}} FROM gateway.runs r WHERE r.id = :run_id::uuid AND r.tenant = :tenant;

-- name: list
-- Newest first, of one agent ('' = any) and some statuses (empty = any), before a lane_seq (NULL =
-- from the newest).
SELECT {{run_columns}} FROM gateway.runs r
WHERE r.tenant = :tenant
    AND (:agent_id::text = '' OR r.agent_id = :agent_id)
    AND (cardinality(:statuses::smallint[]) = 0 OR r.status = ANY(:statuses::smallint[]))
    AND (:before::bigint IS NULL OR r.lane_seq < :before::bigint)
ORDER BY r.lane_seq DESC LIMIT :limit;

-- name: events_after
SELECT seq, event FROM gateway.run_events WHERE run_id = :run_id::uuid AND seq > :after ORDER BY seq LIMIT :limit;

-- name: awaiting_approval
SELECT {{run_columns}} FROM gateway.runs r
WHERE r.tenant = :tenant AND r.agent_id = :agent_id AND r.status = 6
ORDER BY r.lane_seq DESC LIMIT 1;

-- name: continue
-- Queue a run awaiting approval again, with its queued event.
WITH continued AS (
    UPDATE gateway.runs SET status = 1, step_request = :step_request, stop_reason = 0, stop_detail = '',
        finished_at = NULL, deltas = :deltas
    WHERE id = :run_id::uuid AND tenant = :tenant AND status = 6
    RETURNING id
)
INSERT INTO gateway.run_events (run_id, seq, event)
SELECT id, :seq, :event FROM continued
RETURNING run_id::text;

-- name: cancel_waiting
-- Cancel a queued run or one awaiting approval, storing its finished event.
WITH cancelled AS (
    UPDATE gateway.runs SET status = 5, stop_reason = 5, stop_detail = :detail, finished_at = :finished_at
    WHERE id = :run_id::uuid AND tenant = :tenant AND status IN (1, 6)
    RETURNING id
)
INSERT INTO gateway.run_events (run_id, seq, event)
SELECT id, :seq, :event FROM cancelled
RETURNING run_id::text;

-- name: request_cancel
-- Mark a running run to be cancelled by whichever gateway executes it.
UPDATE gateway.runs SET cancel_requested = true
WHERE id = :run_id::uuid AND tenant = :tenant AND status = 2
RETURNING id::text;

-- name: notify
SELECT pg_notify(:channel, :payload);

-- name: acquire
-- The new epoch when the lease was free, expired or ours; no row while another holds it.
-- took_over: another gateway held it before (its lease had expired): a takeover.
WITH before AS (SELECT holder FROM gateway.agent_leases WHERE tenant = :tenant AND agent_id = :agent_id)
INSERT INTO gateway.agent_leases AS l (tenant, agent_id, holder, epoch, expires_at)
VALUES (:tenant, :agent_id, :holder, 1, now() + make_interval(secs => :ttl_seconds))
ON CONFLICT (tenant, agent_id) DO UPDATE
SET holder = :holder, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => :ttl_seconds)
WHERE l.holder IS NULL OR l.holder = :holder OR l.expires_at <= now()
RETURNING epoch, coalesce((SELECT holder <> :holder FROM before), false) AS took_over;

-- name: renew
-- Extend the leases still held; answers those renewed.
UPDATE gateway.agent_leases l SET expires_at = now() + make_interval(secs => :ttl_seconds)
FROM unnest(:tenants::text[], :agent_ids::text[], :epochs::bigint[]) AS h(tenant, agent_id, epoch)
WHERE l.tenant = h.tenant AND l.agent_id = h.agent_id AND l.holder = :holder AND l.epoch = h.epoch
RETURNING l.tenant, l.agent_id;

-- name: release
-- Give the lease up; true when the agent has runs waiting (see gateway.release_lease).
SELECT gateway.release_lease(p_tenant => :tenant, p_agent_id => :agent_id, p_holder => :holder, p_epoch => :epoch);

-- name: orphaned
-- Agents with unfinished runs and no live lease (their gateway died, or none took them).
SELECT DISTINCT r.tenant, r.agent_id FROM gateway.runs r
LEFT JOIN gateway.agent_leases l ON l.tenant = r.tenant AND l.agent_id = r.agent_id
WHERE r.status IN (1, 2) AND r.created_at < now() - make_interval(secs => :grace_seconds)
    AND (l.holder IS NULL OR l.expires_at <= now())
LIMIT :limit;
