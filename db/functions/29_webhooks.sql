-- Webhooks (issue 18): subscriptions to the event stream (api.events, db/functions/27_seal.sql),
-- delivered by the service's delivery worker (service/webhooks.py) in sequence order, at least
-- once. Operators manage them as wallet_job (`wallet webhooks add|list|disable|enable`); the
-- worker, as wallet_service, leases the subscriptions that are due and have events after their
-- cursor, posts them, and moves the cursor only after a 2xx answer. docs/webhooks.md.

-- The event types a subscription may name: the transaction types.
CREATE OR REPLACE FUNCTION ledger._webhook_event_types(p_event_types text[])
RETURNS ledger.transaction_type[]
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_unknown text;
BEGIN
    IF p_event_types IS NULL THEN
        RETURN NULL;  -- every type
    END IF;
    IF cardinality(p_event_types) = 0 OR array_ndims(p_event_types) <> 1 THEN
        RAISE EXCEPTION 'name one event type or more (or none at all, for every type)' USING ERRCODE = 'WHEVT';
    END IF;
    SELECT t INTO v_unknown
    FROM unnest(p_event_types) AS t
    WHERE t IS NULL OR t NOT IN (SELECT v::text FROM unnest(enum_range(NULL::ledger.transaction_type)) AS v)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown event type %', coalesce(quote_literal(left(v_unknown, 40)), 'NULL')
            USING ERRCODE = 'WHEVT',
                  HINT = 'the types are ' || array_to_string(enum_range(NULL::ledger.transaction_type)::text[], ', ');
    END IF;
    RETURN ARRAY(SELECT DISTINCT t::ledger.transaction_type FROM unnest(p_event_types) AS t ORDER BY 1);
END
$$;
COMMENT ON FUNCTION ledger._webhook_event_types(text[]) IS
    'The event types a subscription names, checked (WHEVT: none, or one that is no transaction type), without repeats; NULL means every type.';
REVOKE ALL ON FUNCTION ledger._webhook_event_types(text[]) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A new subscription. It starts after p_after, by default the seal's head now: it gets the events
-- sealed from now on (p_after => 0 replays the whole stream).
CREATE OR REPLACE FUNCTION api.webhook_add(p_url text, p_secret text, p_event_types text[] DEFAULT NULL,
                                           p_after bigint DEFAULT NULL)
RETURNS TABLE (id bigint, after_sequence bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_head  bigint := (SELECT s.last_sequence FROM ledger.seal_state AS s);
    v_types ledger.transaction_type[];
BEGIN
    IF p_url IS NULL OR p_url !~ '^https?://[^[:space:]/?#]+[^[:space:]]*$' OR octet_length(p_url) > 2048 THEN
        RAISE EXCEPTION 'a webhook''s URL is http:// or https://, a host, and no spaces, up to 2048 bytes, not %',
            coalesce(quote_literal(left(p_url, 80)), 'NULL') USING ERRCODE = 'WHURL';
    END IF;
    IF p_secret IS NULL OR octet_length(p_secret) NOT BETWEEN 16 AND 256 THEN
        RAISE EXCEPTION 'a webhook''s secret is 16 to 256 bytes (openssl rand -hex 32 makes one)'
            USING ERRCODE = 'WHSEC';
    END IF;
    v_types := ledger._webhook_event_types(p_event_types);
    IF p_after IS NOT NULL AND (p_after < 0 OR p_after > v_head) THEN
        RAISE EXCEPTION 'p_after is a sealed sequence, 0 to % (the head), not %', v_head, p_after
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    INSERT INTO ledger.webhooks AS w (url, secret, event_types, after_sequence)
    VALUES (p_url, p_secret, v_types, coalesce(p_after, v_head))
    RETURNING w.id, w.after_sequence;
END
$$;
COMMENT ON FUNCTION api.webhook_add(text, text, text[], bigint) IS
    'Subscribes p_url to the events of p_event_types (NULL: every type) sealed after p_after (default: the head now), signed with p_secret (16 to 256 bytes). Returns its id and cursor. WHURL, WHSEC, WHEVT.';
REVOKE ALL ON FUNCTION api.webhook_add(text, text, text[], bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_add(text, text, text[], bigint) TO wallet_job;

-- Every subscription, never its secret; backlog is how many sealed events follow its cursor
-- (of every type: those not of its types are skipped when delivered).
CREATE OR REPLACE FUNCTION api.webhooks()
RETURNS TABLE (id bigint, url text, event_types text[], status text, after_sequence bigint, backlog bigint,
               delivered bigint, failures integer, last_error text, last_attempt_at timestamptz,
               delivered_at timestamptz, next_attempt_at timestamptz, created_at timestamptz,
               disabled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.id, w.url, w.event_types::text[], w.status, w.after_sequence,
           greatest(s.last_sequence - w.after_sequence, 0), w.delivered, w.failures, w.last_error,
           w.last_attempt_at, w.delivered_at, w.next_attempt_at, w.created_at, w.disabled_at
    FROM ledger.webhooks AS w CROSS JOIN ledger.seal_state AS s
    ORDER BY w.id;
$$;
COMMENT ON FUNCTION api.webhooks() IS
    'Every webhook subscription, without its secret: URL, event types (NULL: all), status (active, failing, disabled), cursor, backlog behind the seal''s head, events delivered, consecutive failures, the last error and the times.';
REVOKE ALL ON FUNCTION api.webhooks() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhooks() TO wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.webhook_disable(p_id bigint)
RETURNS TABLE (disabled_at timestamptz, earlier boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    UPDATE ledger.webhooks AS w
    SET status = 'disabled', disabled_at = coalesce(w.disabled_at, now())
    FROM (SELECT o.id, o.status = 'disabled' AS earlier FROM ledger.webhooks AS o WHERE o.id = p_id FOR UPDATE) AS old
    WHERE w.id = old.id
    RETURNING w.disabled_at, old.earlier;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no webhook subscription %', coalesce(p_id::text, 'NULL') USING ERRCODE = 'WHNOF';
    END IF;
END
$$;
COMMENT ON FUNCTION api.webhook_disable(bigint) IS
    'Stops deliveries to a subscription (a delivery in flight finishes); returns when it was disabled and whether it already was. WHNOF.';
REVOKE ALL ON FUNCTION api.webhook_disable(bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_disable(bigint) TO wallet_job;

-- Delivers again from the cursor, at once: a disabled subscription, or a failing one whose
-- receiver is mended.
CREATE OR REPLACE FUNCTION api.webhook_enable(p_id bigint)
RETURNS TABLE (after_sequence bigint, backlog bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    UPDATE ledger.webhooks AS w
    SET status = 'active', disabled_at = NULL, failures = 0, next_attempt_at = now()
    FROM ledger.seal_state AS s
    WHERE w.id = p_id
    RETURNING w.after_sequence, greatest(s.last_sequence - w.after_sequence, 0);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no webhook subscription %', coalesce(p_id::text, 'NULL') USING ERRCODE = 'WHNOF';
    END IF;
END
$$;
COMMENT ON FUNCTION api.webhook_enable(bigint) IS
    'Makes a subscription active again with no failures counted and due at once; returns its cursor and backlog. WHNOF.';
REVOKE ALL ON FUNCTION api.webhook_enable(bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_enable(bigint) TO wallet_job;

CREATE OR REPLACE FUNCTION ledger._webhook_check_lease(p_owner uuid, p_lease_seconds integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_owner IS NULL OR p_lease_seconds IS NULL OR p_lease_seconds NOT BETWEEN 1 AND 3600 THEN
        RAISE EXCEPTION 'a lease has an owner and lasts 1 to 3600 seconds' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._webhook_check_lease(uuid, integer) IS
    'Raises 22023 unless a lease has an owner and lasts 1 to 3600 seconds.';
REVOKE ALL ON FUNCTION ledger._webhook_check_lease(uuid, integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- The delivery worker's turn: up to p_max subscriptions that are not disabled, due (not backing
-- off), behind the seal's head, and not leased by another live worker, leased to p_owner for
-- p_lease_seconds (p_owner may take its own again: its task for one stopped on an error, and it
-- need not wait for its own lease to expire). The lease is a committed row, not a lock held
-- through the HTTP request: a worker that dies loses it when it expires, and the next one resumes
-- from the cursor.
CREATE OR REPLACE FUNCTION api.webhook_claim(p_owner uuid, p_lease_seconds integer, p_max integer DEFAULT 16)
RETURNS TABLE (id bigint, url text, event_types text[], secret text, after_sequence bigint, failures integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ledger._webhook_check_lease(p_owner, p_lease_seconds);
    IF p_max IS NULL OR p_max NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'p_max is 1 to 1000, not %', coalesce(p_max::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    UPDATE ledger.webhooks AS w
    SET lease_owner = p_owner, lease_until = now() + make_interval(secs => p_lease_seconds),
        last_attempt_at = now()
    FROM (SELECT d.id FROM ledger.webhooks AS d
          WHERE d.status <> 'disabled' AND d.next_attempt_at <= now()
            AND (d.lease_until IS NULL OR d.lease_until < now() OR d.lease_owner = p_owner)
            AND d.after_sequence < (SELECT s.last_sequence FROM ledger.seal_state AS s)
          ORDER BY d.next_attempt_at, d.id
          LIMIT p_max
          FOR UPDATE SKIP LOCKED) AS due
    WHERE w.id = due.id
    RETURNING w.id, w.url, w.event_types::text[], w.secret, w.after_sequence, w.failures;
END
$$;
COMMENT ON FUNCTION api.webhook_claim(uuid, integer, integer) IS
    'Leases to p_owner, for p_lease_seconds, up to p_max subscriptions due for delivery (not disabled, not backing off, not leased, behind the seal''s head), with what delivering takes: URL, types, secret, cursor, failures so far.';
REVOKE ALL ON FUNCTION api.webhook_claim(uuid, integer, integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_claim(uuid, integer, integer) TO wallet_service, wallet_job;

-- The receiver answered 2xx for the events up to p_after (or there were none of its types): the
-- cursor moves there, failures are forgotten, and the lease is renewed for the next batch. False
-- when the lease is no longer p_owner's (it expired and another worker took it): the caller stops.
CREATE OR REPLACE FUNCTION api.webhook_delivered(p_id bigint, p_owner uuid, p_after bigint, p_events integer,
                                                 p_lease_seconds integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ledger._webhook_check_lease(p_owner, p_lease_seconds);
    IF p_events IS NULL OR p_events < 0 THEN
        RAISE EXCEPTION 'p_events is 0 or more, not %', coalesce(p_events::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    UPDATE ledger.webhooks AS w
    SET after_sequence = p_after, delivered = w.delivered + p_events,
        delivered_at = CASE WHEN p_events > 0 THEN now() ELSE w.delivered_at END,
        failures = 0, last_error = NULL,
        status = CASE WHEN w.status = 'failing' THEN 'active' ELSE w.status END,
        lease_until = now() + make_interval(secs => p_lease_seconds)
    WHERE w.id = p_id AND w.lease_owner = p_owner AND w.lease_until >= now()
      AND p_after >= w.after_sequence AND p_after <= (SELECT s.last_sequence FROM ledger.seal_state AS s);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION api.webhook_delivered(bigint, uuid, bigint, integer, integer) IS
    'Moves a leased subscription''s cursor forward to p_after after a 2xx answer (p_events delivered), clears its failures (failing becomes active) and renews the lease; false when the lease is not p_owner''s any more.';
REVOKE ALL ON FUNCTION api.webhook_delivered(bigint, uuid, bigint, integer, integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_delivered(bigint, uuid, bigint, integer, integer) TO wallet_service, wallet_job;

-- A delivery failed (an answer other than 2xx, a timeout, no connection): one more consecutive
-- failure, the next attempt in p_retry_in_ms (the worker's exponential backoff), the lease
-- released, and the subscription marked failing at p_failing_after consecutive failures (it is
-- still retried, at the longest backoff, until it succeeds or an operator disables it).
CREATE OR REPLACE FUNCTION api.webhook_failed(p_id bigint, p_owner uuid, p_error text, p_retry_in_ms integer,
                                              p_failing_after integer)
RETURNS TABLE (failures integer, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_retry_in_ms IS NULL OR p_retry_in_ms < 0 OR p_failing_after IS NULL OR p_failing_after < 1 THEN
        RAISE EXCEPTION 'p_retry_in_ms is 0 or more and p_failing_after 1 or more' USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    UPDATE ledger.webhooks AS w
    SET failures = w.failures + 1, last_error = left(coalesce(p_error, 'failed'), 500),
        next_attempt_at = now() + make_interval(secs => p_retry_in_ms / 1000.0),
        status = CASE WHEN w.status = 'active' AND w.failures + 1 >= p_failing_after THEN 'failing'
                      ELSE w.status END,
        lease_owner = NULL, lease_until = NULL
    WHERE w.id = p_id AND w.lease_owner = p_owner
    RETURNING w.failures, w.status;
END
$$;
COMMENT ON FUNCTION api.webhook_failed(bigint, uuid, text, integer, integer) IS
    'Records a failed delivery of a subscription p_owner leases: one more consecutive failure, the error, the next attempt p_retry_in_ms from now, the lease released; failing at p_failing_after failures. No row: the lease was not p_owner''s.';
REVOKE ALL ON FUNCTION api.webhook_failed(bigint, uuid, text, integer, integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_failed(bigint, uuid, text, integer, integer) TO wallet_service, wallet_job;

-- Caught up (or stopping): the lease goes, so another worker may take the subscription at once.
CREATE OR REPLACE FUNCTION api.webhook_release(p_id bigint, p_owner uuid)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH released AS (
        UPDATE ledger.webhooks AS w SET lease_owner = NULL, lease_until = NULL
        WHERE w.id = p_id AND w.lease_owner = p_owner
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM released);
$$;
COMMENT ON FUNCTION api.webhook_release(bigint, uuid) IS
    'Ends p_owner''s lease of a subscription (caught up, or stopping); false when it was not p_owner''s.';
REVOKE ALL ON FUNCTION api.webhook_release(bigint, uuid) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.webhook_release(bigint, uuid) TO wallet_service, wallet_job;
