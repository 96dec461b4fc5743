-- The SQL functions of the runs store, as the migrations left them (a test compares each body with
-- the one PostgreSQL holds after migrating, so a migration that changes one must change it here).
--
-- gateway.accept_run records a run. It holds the agent's lease row until it commits, so the
-- acceptances of one agent commit one at a time, in lane_seq order: any snapshot of the agent's runs
-- is a prefix of its queue, and a claim can never pass over a run accepted before the one it takes.
-- Under that lock it reads the agent's queue afresh (each statement of a function takes a new
-- snapshot), and when the caller's lane holds the lease (or the lease is free) and nothing is ahead,
-- it records the run as already claimed under that epoch: one round trip instead of an accept, a
-- lease acquisition and a claim.
--
-- gateway.release_lease gives a lease up and then, in a snapshot taken after any acceptance that
-- held the lease row has committed, says whether runs are left.
--
-- gateway.queued_event appends RunEvent.queued (field 10, length-delimited) holding
-- RunQueued.position (field 1, varint) to the rest of the queued event, which the caller serialized:
-- only acceptance knows how many runs are ahead. Protobuf parsers accept fields in any order; a test
-- (tests/integration/test_gateway_sql.py) checks the bytes against protobuf's own serialization.
--
-- Statuses as in runs.sql: 1 queued, 2 running, 6 awaiting approval.

-- name: accept_run
CREATE FUNCTION gateway.accept_run(
    p_id uuid, p_tenant text, p_agent_id text, p_key text, p_step_request bytea, p_deltas boolean,
    p_call_chain text, p_event_head bytea, p_max_queued integer, p_priority smallint,
    p_reject_if_busy boolean, p_interrupt boolean,
    p_holder text, p_epoch bigint, p_start boolean, p_ttl double precision, p_parent_run_id text,
    OUT accepted boolean, OUT existing_id text, OUT ahead integer, OUT queued integer,
    OUT running_id text, OUT interrupted text[], OUT lease_epoch bigint, OUT started boolean,
    OUT lane_seq bigint, OUT created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    lease gateway.agent_leases%ROWTYPE;
BEGIN
    accepted := false;
    started := false;
    SELECT * INTO lease FROM gateway.agent_leases l
    WHERE l.tenant = p_tenant AND l.agent_id = p_agent_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO gateway.agent_leases (tenant, agent_id, holder, epoch, expires_at)
        VALUES (p_tenant, p_agent_id, NULL, 0, now()) ON CONFLICT DO NOTHING;
        SELECT * INTO lease FROM gateway.agent_leases l
        WHERE l.tenant = p_tenant AND l.agent_id = p_agent_id FOR UPDATE;
    END IF;

    IF p_key IS NOT NULL THEN
        SELECT r.id::text INTO existing_id FROM gateway.runs r
        WHERE r.tenant = p_tenant AND r.agent_id = p_agent_id AND r.idempotency_key = p_key;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    SELECT count(*) FILTER (WHERE r.status = 1), count(*),
        (array_agg(r.id::text ORDER BY r.status DESC, r.lane_seq))[1]
    INTO queued, ahead, running_id
    FROM gateway.runs r WHERE r.tenant = p_tenant AND r.agent_id = p_agent_id AND r.status IN (1, 2);
    IF queued >= p_max_queued OR (p_reject_if_busy AND ahead > 0) THEN
        RETURN;
    END IF;

    IF p_start THEN
        IF lease.holder = p_holder AND lease.epoch = p_epoch AND lease.expires_at > now() THEN
            lease_epoch := p_epoch;
        ELSIF p_epoch IS NULL AND (lease.holder IS NULL OR lease.holder = p_holder OR lease.expires_at <= now()) THEN
            UPDATE gateway.agent_leases l
            SET holder = p_holder, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => p_ttl)
            WHERE l.tenant = p_tenant AND l.agent_id = p_agent_id
            RETURNING l.epoch INTO lease_epoch;
        END IF;
        started := lease_epoch IS NOT NULL AND ahead = 0;
    END IF;
    IF lease_epoch IS NULL AND lease.holder IS DISTINCT FROM p_holder AND lease.expires_at > now() THEN
        PERFORM pg_notify('agentsuite_agent_work', p_tenant || '/' || p_agent_id);
    END IF;

    INSERT INTO gateway.runs AS r (id, tenant, agent_id, status, priority, idempotency_key, step_request,
        deltas, call_chain, parent_run_id, epoch, started_at)
    VALUES (p_id, p_tenant, p_agent_id, CASE WHEN started THEN 2 ELSE 1 END, p_priority, p_key,
        p_step_request, p_deltas, p_call_chain, p_parent_run_id,
        CASE WHEN started THEN lease_epoch ELSE 0 END, CASE WHEN started THEN now() END)
    RETURNING r.lane_seq, r.created_at INTO lane_seq, created_at;
    INSERT INTO gateway.run_events (run_id, seq, event)
    VALUES (p_id, 1, gateway.queued_event(p_event_head, ahead));
    IF p_interrupt AND ahead > 0 THEN
        WITH marked AS (
            UPDATE gateway.runs r SET cancel_requested = true
            WHERE r.tenant = p_tenant AND r.agent_id = p_agent_id AND r.status = 2
            RETURNING r.id::text AS id
        )
        SELECT array_agg(m.id) INTO interrupted FROM marked m;
    END IF;
    accepted := true;
END
$$

-- name: release_lease
CREATE FUNCTION gateway.release_lease(p_tenant text, p_agent_id text, p_holder text, p_epoch bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE gateway.agent_leases SET holder = NULL, expires_at = now()
    WHERE tenant = p_tenant AND agent_id = p_agent_id AND holder = p_holder AND epoch = p_epoch;
    RETURN EXISTS (
        SELECT 1 FROM gateway.runs WHERE tenant = p_tenant AND agent_id = p_agent_id AND status IN (1, 2)
    );
END
$$

-- name: queued_event
CREATE FUNCTION gateway.queued_event(head bytea, ahead integer) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    body bytea := ''::bytea;
    n integer := ahead;
BEGIN
    IF n > 0 THEN
        body := '\x08'::bytea;
        WHILE n >= 128 LOOP
            body := body || set_byte('\x00'::bytea, 0, (n & 127) | 128);
            n := n >> 7;
        END LOOP;
        body := body || set_byte('\x00'::bytea, 0, n);
    END IF;
    RETURN head || '\x52'::bytea || set_byte('\x00'::bytea, 0, length(body)) || body;
END
$$
