-- The seal (issue 18; migration 0015): a background sealer gives every committed
-- transaction a sequence number in one gap-free order and a SHA-256 hash chained to the previous
-- one's, over a canonical form of the transaction and its entries. Postings do not take part: no
-- per-posting global row, no NOTIFY; what they pay is the commit_xid column's default and its
-- index entry. api.seal finds what is unsealed exactly by commit_xid (migration 0015 says why).

-- The canonical form a seal hashes, version 1: per transaction a JSON array (jsonb's text: keys
-- and spacing canonical, numbers as stored, 10.00 stays 10.00), times in UTC to the microsecond
-- whatever the session's TimeZone, entries in id order with their wallets' identity (a wallet
-- moved to another user changes the hash). New columns go into a version 2, never into this one:
-- the hashes of what is sealed must stay computable. Set-based (one query for a whole pass, in
-- p_ids' order): called per row, a SQL function is planned again on every call.
CREATE OR REPLACE FUNCTION ledger._seal_forms(p_ids bigint[])
RETURNS TABLE (ord integer, transaction_id bigint, form text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT x.ord::integer, t.id,
       jsonb_build_array(
           'v1', t.id, t.type, t.client_id, t.idempotency_key, t.description, t.metadata,
           to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           t.reverses_transaction_id, t.reversal_mode, t.batch_id, coalesce(e.legs, '[]'::jsonb))::text
FROM unnest(p_ids) WITH ORDINALITY AS x (id, ord)
JOIN ledger.transactions AS t ON t.id = x.id
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_array(
               en.id, en.wallet_id, w.owner_id, w.asset_id, w.kind, w.slot, en.amount, en.balance_after,
               en.wallet_version, to_char(en.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
               ORDER BY en.id) AS legs
    FROM ledger.entries AS en JOIN ledger.wallets AS w ON w.id = en.wallet_id
    WHERE en.transaction_id = t.id
) AS e ON true
ORDER BY x.ord
$$;
COMMENT ON FUNCTION ledger._seal_forms(bigint[]) IS
    'The canonical text (version 1) that a seal hashes, for each of p_ids in their order: the transaction''s columns and its entries with their wallets'' identity, as a jsonb array''s text.';
REVOKE ALL ON FUNCTION ledger._seal_forms(bigint[]) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A seal's hash: SHA-256 over the previous seal's hash (32 zero bytes before the first), the
-- sequence as 8 bytes big-endian, and the form's UTF-8.
CREATE OR REPLACE FUNCTION ledger._seal_hash(p_previous bytea, p_sequence bigint, p_form text)
RETURNS bytea
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN sha256(p_previous || int8send(p_sequence) || convert_to(p_form, 'UTF8'));
COMMENT ON FUNCTION ledger._seal_hash(bytea, bigint, text) IS
    'A seal''s hash: SHA-256 of the previous seal''s hash (32 zero bytes before the first), the sequence (8 bytes, big-endian) and the canonical form (UTF-8).';
REVOKE ALL ON FUNCTION ledger._seal_hash(bytea, bigint, text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- One sealing pass: up to p_max transactions, in (commit_xid, id) order after where the last pass
-- stopped and below this snapshot's xmin (every transaction below it has ended: its rows are
-- visible now, or never will be). The rows written before migration 0015 (commit_xid NULL) go
-- first, in id order. Two sealers take turns on seal_state's row (SKIP LOCKED: the loser seals
-- nothing and says so), so none is sealed twice or skipped, and a rolled-back posting is never
-- seen, so it never takes a number.
CREATE OR REPLACE FUNCTION api.seal(p_max integer DEFAULT 1000)
RETURNS TABLE (sealed integer, last_sequence bigint, busy boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_state ledger.seal_state;
    v_xmin  xid8;
    v_n     integer := 0;
    v_ids   bigint[];
    v_last_xid xid8;
    v_seq    bigint[] := '{}';
    v_sealed bigint[] := '{}';
    v_hashes bytea[] := '{}';
    r       record;
BEGIN
    IF p_max IS NULL OR p_max < 1 OR p_max > 100000 THEN
        RAISE EXCEPTION 'p_max is 1 to 100000, not %', coalesce(p_max::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_state FROM ledger.seal_state AS s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0, NULL::bigint, true;  -- another sealer's turn
        RETURN;
    END IF;
    -- taken after the lock: a transaction that ended before it is visible to the statements below
    v_xmin := pg_snapshot_xmin(pg_current_snapshot());

    IF NOT v_state.legacy_done THEN
        SELECT array_agg(l.id ORDER BY l.id) INTO v_ids
        FROM (SELECT t.id FROM ledger.transactions AS t
              WHERE t.commit_xid IS NULL AND t.id > v_state.legacy_last_id
              ORDER BY t.id LIMIT p_max) AS l;
        v_n := coalesce(cardinality(v_ids), 0);
        IF v_n > 0 THEN
            v_state.legacy_last_id := v_ids[v_n];
        END IF;
        v_state.legacy_done := v_n < p_max;
    END IF;

    IF v_state.legacy_done AND v_n < p_max THEN
        -- (the new rows come after the legacy ones: the last id is the frontier's)
        SELECT v_ids || array_agg(f.id ORDER BY f.commit_xid, f.id), max(f.commit_xid)
        INTO v_ids, v_last_xid
        FROM (SELECT t.id, t.commit_xid FROM ledger.transactions AS t
              WHERE t.commit_xid IS NOT NULL
                AND (t.commit_xid, t.id) > (v_state.frontier_xid, v_state.frontier_id)
                AND t.commit_xid < v_xmin
              ORDER BY t.commit_xid, t.id LIMIT p_max - v_n) AS f;
        IF v_last_xid IS NOT NULL THEN
            v_state.frontier_xid := v_last_xid;
            v_state.frontier_id := v_ids[cardinality(v_ids)];
        END IF;
        v_n := coalesce(cardinality(v_ids), 0);
    END IF;

    -- the chain, in the order just chosen: forms in one query, hashes one after the other
    IF v_n > 0 THEN
        FOR r IN SELECT f.transaction_id, f.form FROM ledger._seal_forms(v_ids) AS f ORDER BY f.ord LOOP
            v_state.last_sequence := v_state.last_sequence + 1;
            v_state.last_hash := ledger._seal_hash(v_state.last_hash, v_state.last_sequence, r.form);
            v_seq := v_seq || v_state.last_sequence;
            v_sealed := v_sealed || r.transaction_id;
            v_hashes := v_hashes || v_state.last_hash;
        END LOOP;
        INSERT INTO ledger.seals (sequence, transaction_id, hash)
        SELECT * FROM unnest(v_seq, v_sealed, v_hashes);
    END IF;

    IF v_n > 0 OR v_state.legacy_done THEN
        UPDATE ledger.seal_state AS s
        SET legacy_last_id = v_state.legacy_last_id, legacy_done = v_state.legacy_done,
            frontier_xid = v_state.frontier_xid, frontier_id = v_state.frontier_id,
            last_sequence = v_state.last_sequence, last_hash = v_state.last_hash,
            sealed_at = CASE WHEN v_n > 0 THEN clock_timestamp() ELSE s.sealed_at END;
    END IF;
    RETURN QUERY SELECT v_n, v_state.last_sequence, false;
END
$$;
COMMENT ON FUNCTION api.seal(integer) IS
    'One sealing pass: seals up to p_max committed transactions (sequence, chained SHA-256) in one gap-free order; busy when another sealer holds the turn. For the sealer worker and jobs (wallet_job).';
REVOKE ALL ON FUNCTION api.seal(integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.seal(integer) TO wallet_service, wallet_job;

-- What is not sealed yet: cheap (the frontier's index range, and the rows before migration 0015
-- while they last), for /metrics and reconcile's "left unsealed longer than a bound".
CREATE OR REPLACE FUNCTION api.seal_status()
RETURNS TABLE (last_sequence bigint, last_hash text, sealed_at timestamptz, unsealed bigint,
               oldest_unsealed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT s.last_sequence, encode(s.last_hash, 'hex'), s.sealed_at, u.n, u.oldest
FROM ledger.seal_state AS s
CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(t.created_at) AS oldest
    FROM ledger.transactions AS t
    WHERE (t.commit_xid IS NOT NULL AND (t.commit_xid, t.id) > (s.frontier_xid, s.frontier_id))
       OR (NOT s.legacy_done AND t.commit_xid IS NULL AND t.id > s.legacy_last_id)
) AS u
$$;
COMMENT ON FUNCTION api.seal_status() IS
    'The chain''s head (last sequence, its hash in hex, when it was sealed) and the transactions not sealed yet (how many, the oldest''s created_at).';
REVOKE ALL ON FUNCTION api.seal_status() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.seal_status() TO wallet_service, wallet_job, wallet_auditor;

-- The chain recomputed from the ledger as it is now: the first seal whose hash does not match
-- (an edited amount, user, metadata...), or whose sequence leaves a gap, and how many were checked.
CREATE OR REPLACE FUNCTION api.verify_seal()
RETURNS TABLE (checked bigint, first_bad_sequence bigint, first_bad_transaction_id bigint, problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_hash bytea := decode(repeat('00', 32), 'hex');
    v_expected bigint := 1;
    v_last bigint;
    r record;
BEGIN
    SELECT max(s.sequence) INTO v_last FROM ledger.seals AS s;
    -- in chunks of 10,000 seals: their forms by one query each, the hashes one after the other
    WHILE v_expected <= coalesce(v_last, 0) LOOP
        FOR r IN
            SELECT c.sequence, c.transaction_id, c.hash, f.form
            FROM (SELECT s.sequence, s.transaction_id, s.hash,
                         row_number() OVER (ORDER BY s.sequence) AS ord
                  FROM ledger.seals AS s
                  WHERE s.sequence >= v_expected ORDER BY s.sequence LIMIT 10000) AS c
            LEFT JOIN ledger._seal_forms(ARRAY(SELECT s.transaction_id FROM ledger.seals AS s
                                               WHERE s.sequence >= v_expected
                                               ORDER BY s.sequence LIMIT 10000)) AS f
                   ON f.ord = c.ord
            ORDER BY c.sequence
        LOOP
            IF r.sequence <> v_expected THEN
                RETURN QUERY SELECT v_expected - 1, r.sequence, r.transaction_id,
                                    format('sequence %s follows %s: a gap', r.sequence, v_expected - 1);
                RETURN;
            END IF;
            v_hash := ledger._seal_hash(v_hash, r.sequence, r.form);
            IF v_hash IS DISTINCT FROM r.hash THEN
                RETURN QUERY SELECT v_expected - 1, r.sequence, r.transaction_id,
                                    format('transaction %s does not hash to its seal %s', r.transaction_id, r.sequence);
                RETURN;
            END IF;
            v_expected := v_expected + 1;
        END LOOP;
    END LOOP;
    IF (SELECT s.last_sequence <> v_expected - 1 OR s.last_hash <> v_hash FROM ledger.seal_state AS s) THEN
        RETURN QUERY SELECT v_expected - 1, v_expected - 1, NULL::bigint, 'the chain''s head does not match seal_state';
        RETURN;
    END IF;
    RETURN QUERY SELECT v_expected - 1, NULL::bigint, NULL::bigint, NULL::text;
END
$$;
COMMENT ON FUNCTION api.verify_seal() IS
    'Recomputes the whole chain from the ledger: checked seals, and the first bad one (sequence, transaction, what is wrong), or NULLs when the chain holds.';
REVOKE ALL ON FUNCTION api.verify_seal() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.verify_seal() TO wallet_job, wallet_auditor;

-- Seals are written once and kept, like the ledger they seal.
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER seals_are_immutable BEFORE DELETE OR UPDATE OR TRUNCATE ON ledger.seals '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._reject_change()');

-- The event stream (issue 18): every sealed transaction, in seal order, after
-- a sequence a consumer has seen. Sealed only: an event's place never changes and none is ever
-- inserted before one already read, so `after` is a complete cursor. The user side is the debited
-- user's (a transfer's sender), else the credited one's; amount is that leg's, unsigned (NULL for
-- a transaction without a user leg, such as a capture of a whole hold).
CREATE OR REPLACE FUNCTION api.events(p_after bigint DEFAULT 0, p_limit integer DEFAULT 100)
RETURNS TABLE (sequence bigint, type text, transaction_id bigint, user_id text, asset_id text,
               amount numeric, entries jsonb, metadata jsonb, created_at timestamptz,
               posted_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_after IS NULL OR p_after < 0 THEN
        RAISE EXCEPTION 'p_after is a sequence, 0 or more, not %', coalesce(p_after::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'p_limit is 1 to 1000, not %', coalesce(p_limit::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT s.sequence, t.type::text, t.id, u.owner_id::text, l.asset_id::text, round(abs(u.amount), a.scale),
           l.legs, t.metadata::jsonb, t.created_at, l.posted_at
    FROM ledger.seals AS s
    JOIN ledger.transactions AS t ON t.id = s.transaction_id
    CROSS JOIN LATERAL (
        SELECT min(w.asset_id) AS asset_id, max(e.posted_at) AS posted_at,
               jsonb_agg(jsonb_build_object(
                   'walletId', e.wallet_id::text, 'userId', CASE WHEN w.kind = 'user' THEN w.owner_id END,
                   'account', CASE WHEN w.kind <> 'user' THEN w.kind::text || '#' || w.slot END,
                   'amount', e.amount::text, 'balanceAfter', e.balance_after::text) ORDER BY e.id) AS legs
        FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
        WHERE e.transaction_id = t.id
    ) AS l
    LEFT JOIN LATERAL (
        SELECT w.owner_id, e.amount
        FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
        WHERE e.transaction_id = t.id AND w.kind = 'user'
        ORDER BY e.amount < 0 DESC, e.id
        LIMIT 1
    ) AS u ON true
    LEFT JOIN ledger.assets AS a ON a.id = l.asset_id
    WHERE s.sequence > p_after
    ORDER BY s.sequence
    LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION api.events(bigint, integer) IS
    'Sealed transactions after sequence p_after, in seal order, up to p_limit (1 to 1000): the event stream. Each with its legs (walletId, userId or account, amount, balanceAfter, in entry order), the user side (the debited user, else the credited one) and its amount.';
REVOKE ALL ON FUNCTION api.events(bigint, integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.events(bigint, integer) TO wallet_service, wallet_job, wallet_auditor;
