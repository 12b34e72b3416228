-- Holds (issue 16): money reserved now and settled later. Every state change is a ledger
-- transaction, escrowed through the asset's holds account (kind 'holds', slotted like Treasury and
-- Revenue, so holds do not serialise on one row):
--
--   api.authorize_hold  'hold'     user -> a holds slot (the balance test of a spend, in the UPDATE)
--   api.capture_hold    'capture'  a holds slot -> Revenue (the captured part) and -> user (the rest)
--   api.void_hold       'release'  a holds slot -> user (all of it)
--   api.expire_holds    'release'  the same, for each open hold past its expiry (client ledger:expiry)
--
-- So a wallet's balance is what its user can spend now, and the holds account of an asset equals
-- the amounts of its open holds (api.reconcile checks it). A hold is resolved exactly once: its
-- row in ledger.holds is locked (FOR UPDATE) before anything is decided about it, and the
-- resolution is refused unless the row, read under that lock, is open (WHOPN) and not past its
-- expiry (WHEXP, even before any sweep). Capture, void and expiry of one hold thus run one after
-- another and exactly one finds it open.
--
-- Lock order (db/CONVENTIONS.md): the idempotency key; then the hold row (a capture or void: right
-- after the key; the sweep: the due holds with SKIP LOCKED, then no key until its writes); then
-- the user wallet(s) in (owner_id, asset_id) order; then system slots, by asset, holds before
-- Revenue (ledger._lock_system_slot: home slot, else the next free one); then the clock.

-- A hold as the hold functions return it: the row, the call's own transaction and the user's
-- balance after it (NULL when the transaction has no user leg: a capture of the whole hold, or a
-- read). p_as_authorized: the answer of the authorization itself, whatever happened to the hold
-- since (a replay of api.authorize_hold answers what the first call answered).
CREATE OR REPLACE FUNCTION ledger._hold_posting(
    p_hold ledger.holds, p_transaction_id bigint, p_balance numeric, p_replayed boolean,
    p_as_authorized boolean DEFAULT false)
RETURNS ledger.hold_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_scale       smallint;
    v_description text;
BEGIN
    SELECT a.scale INTO STRICT v_scale FROM ledger.assets AS a WHERE a.id = p_hold.asset_id;
    SELECT t.description INTO STRICT v_description FROM ledger.transactions AS t
    WHERE t.id = p_hold.hold_transaction_id;
    IF p_as_authorized THEN
        RETURN (p_hold.id, 'open'::ledger.hold_status, p_hold.user_id, p_hold.asset_id, p_hold.wallet_id,
                round(p_hold.amount, v_scale), round(0, v_scale), round(0, v_scale),
                round(p_hold.amount, v_scale), v_description, p_hold.expires_at,
                p_hold.hold_transaction_id, NULL::bigint, p_transaction_id, round(p_balance, v_scale),
                p_replayed, p_hold.created_at, NULL::timestamptz)::ledger.hold_posting;
    END IF;
    RETURN (p_hold.id, p_hold.status, p_hold.user_id, p_hold.asset_id, p_hold.wallet_id,
            round(p_hold.amount, v_scale), round(p_hold.captured, v_scale), round(p_hold.released, v_scale),
            round(CASE WHEN p_hold.status = 'open' THEN p_hold.amount ELSE 0 END, v_scale),
            v_description, p_hold.expires_at, p_hold.hold_transaction_id, p_hold.resolve_transaction_id,
            p_transaction_id, round(p_balance, v_scale), p_replayed, p_hold.created_at,
            p_hold.resolved_at)::ledger.hold_posting;
END
$$;
COMMENT ON FUNCTION ledger._hold_posting(ledger.holds, bigint, numeric, boolean, boolean) IS
    'A hold as api.authorize_hold, api.capture_hold, api.void_hold and api.get_hold return it (ledger.hold_posting), at its asset''s decimal places; as it was authorized when p_as_authorized (a replay of the authorization).';
REVOKE ALL ON FUNCTION ledger._hold_posting(ledger.holds, bigint, numeric, boolean, boolean)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A hold row locked for its resolution (FOR UPDATE: the resolution writes its unique
-- resolve_transaction_id), refused unless it is open and not past its expiry, read with the clock
-- after the lock: an expired hold is refused before any sweep has released it.
CREATE OR REPLACE FUNCTION ledger._lock_open_hold(p_hold_id bigint)
RETURNS ledger.holds
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_hold ledger.holds;
BEGIN
    SELECT * INTO STRICT v_hold FROM ledger.holds AS h WHERE h.id = p_hold_id FOR UPDATE;
    IF v_hold.status <> 'open' THEN
        RAISE EXCEPTION 'hold % is not open: it was %', v_hold.id, v_hold.status
            USING ERRCODE = 'WHOPN',
                  DETAIL = format('status: %s, resolved by transaction %s', v_hold.status,
                                  v_hold.resolve_transaction_id);
    END IF;
    IF v_hold.expires_at <= clock_timestamp() THEN
        RAISE EXCEPTION 'hold % expired at %', v_hold.id, v_hold.expires_at
            USING ERRCODE = 'WHEXP',
                  DETAIL = format('expires_at: %s', v_hold.expires_at),
                  HINT = 'an expired hold is released to its user by api.expire_holds (the sweep); '
                         'it can no longer be captured nor voided';
    END IF;
    RETURN v_hold;
END
$$;
COMMENT ON FUNCTION ledger._lock_open_hold(bigint) IS
    'Locks a hold row (FOR UPDATE) for its capture or void and returns it; WHOPN if it is no longer open, WHEXP if it is past its expiry (read with the clock after the lock, swept or not).';
REVOKE ALL ON FUNCTION ledger._lock_open_hold(bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- The hold a call names, or WHLNF.
CREATE OR REPLACE FUNCTION ledger._find_hold(p_hold_id bigint)
RETURNS ledger.holds
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_hold ledger.holds;
BEGIN
    SELECT * INTO v_hold FROM ledger.holds AS h WHERE h.id = p_hold_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hold % not found', coalesce(p_hold_id::text, 'NULL') USING ERRCODE = 'WHLNF';
    END IF;
    RETURN v_hold;
END
$$;
COMMENT ON FUNCTION ledger._find_hold(bigint) IS
    'The hold with this id, unlocked; WHLNF when there is none.';
REVOKE ALL ON FUNCTION ledger._find_hold(bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A repeated idempotency key of api.authorize_hold: the authorization as the first call answered
-- it (replayed = true) if every argument is the same as stored (user, asset, amount, description,
-- expiry interval, metadata), else WIDEM; a key of another type is WIDEM.
CREATE OR REPLACE FUNCTION ledger._replay_hold(
    p_client_id text, p_idempotency_key text, p_user_id text, p_asset_id text, p_amount numeric,
    p_description text, p_expires_in interval, p_metadata jsonb)
RETURNS ledger.hold_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx      ledger.transactions;
    v_hold    ledger.holds;
    v_balance numeric;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t
    WHERE t.client_id = p_client_id AND t.idempotency_key = p_idempotency_key;
    IF v_tx.type <> 'hold' THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s, a %s', v_tx.id, v_tx.type);
    END IF;
    SELECT * INTO STRICT v_hold FROM ledger.holds AS h WHERE h.hold_transaction_id = v_tx.id;
    IF v_hold.user_id IS DISTINCT FROM p_user_id COLLATE "C"
       OR v_hold.asset_id IS DISTINCT FROM p_asset_id COLLATE "C"
       OR v_hold.amount IS DISTINCT FROM p_amount
       OR v_tx.description IS DISTINCT FROM p_description
       OR extract(epoch FROM v_hold.expires_at - v_hold.created_at) IS DISTINCT FROM extract(epoch FROM p_expires_in)
       OR v_tx.metadata <> p_metadata THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to hold %s (transaction %s: %s %s held from %s for %s)',
                                  v_hold.id, v_tx.id, v_hold.amount, v_hold.asset_id, v_hold.user_id,
                                  v_hold.expires_at - v_hold.created_at);
    END IF;
    SELECT e.balance_after INTO STRICT v_balance FROM ledger.entries AS e
    WHERE e.transaction_id = v_tx.id AND e.wallet_id = v_hold.wallet_id;
    RETURN ledger._hold_posting(v_hold, v_tx.id, v_balance, true, true);
END
$$;
COMMENT ON FUNCTION ledger._replay_hold(text, text, text, text, numeric, text, interval, jsonb) IS
    'A repeated idempotency key of api.authorize_hold: the authorization as first answered (replayed = true) if user, asset, amount, description, expiry interval and metadata are the same as stored, else WIDEM; a key of another type is WIDEM.';
REVOKE ALL ON FUNCTION ledger._replay_hold(text, text, text, text, numeric, text, interval, jsonb)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A repeated idempotency key of api.capture_hold (p_type 'capture') or api.void_hold ('release'):
-- the stored resolution (replayed = true) if it resolved the same hold the same way with the same
-- metadata, else WIDEM. The captured amount: the same, or none (all) for a capture of the whole
-- hold, so "all" and the amount it came to are the same request.
CREATE OR REPLACE FUNCTION ledger._replay_hold_resolution(
    p_client_id text, p_idempotency_key text, p_type ledger.transaction_type, p_hold_id bigint,
    p_amount numeric, p_metadata jsonb)
RETURNS ledger.hold_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx      ledger.transactions;
    v_hold    ledger.holds;
    v_balance numeric;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t
    WHERE t.client_id = p_client_id AND t.idempotency_key = p_idempotency_key;
    SELECT * INTO v_hold FROM ledger.holds AS h WHERE h.resolve_transaction_id = v_tx.id;
    IF v_tx.type <> p_type OR v_hold.id IS NULL
       OR (p_type = 'release' AND v_hold.status <> 'voided') THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s, a %s', v_tx.id, v_tx.type);
    END IF;
    IF v_hold.id <> p_hold_id OR v_tx.metadata <> p_metadata
       OR (p_type = 'capture' AND coalesce(p_amount, v_hold.amount) <> v_hold.captured) THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s (%s of hold %s, %s captured)',
                                  v_tx.id, v_tx.type, v_hold.id, v_hold.captured);
    END IF;
    SELECT e.balance_after INTO v_balance FROM ledger.entries AS e
    WHERE e.transaction_id = v_tx.id AND e.wallet_id = v_hold.wallet_id;
    RETURN ledger._hold_posting(v_hold, v_tx.id, v_balance, true);
END
$$;
COMMENT ON FUNCTION ledger._replay_hold_resolution(text, text, ledger.transaction_type, bigint, numeric, jsonb) IS
    'A repeated idempotency key of api.capture_hold or api.void_hold: the stored resolution (replayed = true) if it is of the same hold, the same kind, the same captured amount (none: the whole hold) and metadata, else WIDEM.';
REVOKE ALL ON FUNCTION ledger._replay_hold_resolution(text, text, ledger.transaction_type, bigint, numeric, jsonb)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Resolves a hold already locked open (ledger._lock_open_hold) or, for the sweep, locked and due:
-- p_captured of it to Revenue (0 for a void or an expiry), the rest back to its user, by the
-- transaction p_tx already claimed. The user wallet and the slots must be lockable in the lock
-- order from here: the caller holds nothing later than the hold row (capture, void), or holds
-- them already (the sweep, which locks every wallet and slot first). Returns the user's balance
-- after (NULL when nothing goes back) and the hold as its resolution wrote it (status, amounts,
-- resolving transaction), so the callers answer without reading it again.
-- The hold was added to its results after issue 16 landed; CREATE OR REPLACE cannot change a
-- function's results, so the older one is dropped first, in the same transaction (its callers,
-- below, are PL/pgSQL: nothing depends on it in the catalogue).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_proc
               WHERE oid = to_regprocedure('ledger._resolve_hold(ledger.holds, bigint, numeric, ledger.hold_status, smallint)')
                 AND NOT 'hold' = ANY (proargnames)) THEN
        DROP FUNCTION ledger._resolve_hold(ledger.holds, bigint, numeric, ledger.hold_status, smallint);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION ledger._resolve_hold(
    p_hold ledger.holds, p_tx bigint, p_captured numeric, p_status ledger.hold_status,
    p_slots smallint, OUT balance numeric, OUT posted_at timestamptz, OUT hold ledger.holds)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_rest           numeric := p_hold.amount - p_captured;
    v_version        bigint;
    v_hold_slot      bigint;
    v_hold_balance   numeric;
    v_hold_version   bigint;
    v_rev_slot       bigint;
    v_rev_balance    numeric;
    v_rev_version    bigint;
BEGIN
    -- 2. the user wallet (a credit: pays a debt first, never goes below zero). A release is
    -- exempt from the limits, as a reversal is; released on the day its authorization was counted
    -- as spent (spend_day), the rest is no longer spent that day. (A NULL spend_day compares
    -- NULL: nothing changes.)
    IF v_rest > 0 THEN
        UPDATE ledger.wallets AS w
        SET balance = w.balance + v_rest, version = w.version + 1, updated_at = now(),
            spent_today = CASE WHEN w.usage_day = p_hold.spend_day
                               THEN greatest(w.spent_today - v_rest, 0) ELSE w.spent_today END
        WHERE w.id = p_hold.wallet_id
        RETURNING w.balance, w.version INTO STRICT balance, v_version;
    END IF;
    -- 3. the slots: holds, then Revenue
    SELECT s.wallet_id INTO v_hold_slot
    FROM ledger._lock_system_slot(p_hold.asset_id, 'holds', p_slots) AS s;
    UPDATE ledger.wallets AS w
    SET balance = w.balance - p_hold.amount, version = w.version + 1, updated_at = now()
    WHERE w.id = v_hold_slot
    RETURNING w.balance, w.version INTO STRICT v_hold_balance, v_hold_version;
    IF p_captured > 0 THEN
        SELECT s.wallet_id INTO v_rev_slot
        FROM ledger._lock_system_slot(p_hold.asset_id, 'revenue', p_slots) AS s;
        UPDATE ledger.wallets AS w
        SET balance = w.balance + p_captured, version = w.version + 1, updated_at = now()
        WHERE w.id = v_rev_slot
        RETURNING w.balance, w.version INTO STRICT v_rev_balance, v_rev_version;
    END IF;
    -- 4. the clock
    posted_at := clock_timestamp();
    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
    SELECT p_tx, l.wallet_id, l.amount, l.balance_after, l.version, posted_at
    FROM (VALUES (p_hold.wallet_id, v_rest, balance, v_version),
                 (v_hold_slot, -p_hold.amount, v_hold_balance, v_hold_version),
                 (v_rev_slot, p_captured, v_rev_balance, v_rev_version))
         AS l (wallet_id, amount, balance_after, version)
    WHERE l.amount > 0 OR l.wallet_id = v_hold_slot;
    UPDATE ledger.holds AS h
    SET status = p_status, captured = p_captured, released = v_rest, resolve_transaction_id = p_tx,
        resolved_at = posted_at
    WHERE h.id = p_hold.id
    RETURNING h.* INTO STRICT hold;
END
$$;
COMMENT ON FUNCTION ledger._resolve_hold(ledger.holds, bigint, numeric, ledger.hold_status, smallint) IS
    'Moves a locked hold out of its holds slot by transaction p_tx: p_captured to a Revenue slot, the rest to its user (no longer counted as spent if released on the hold''s spend_day); writes the entries with one posted_at after the locks, and the hold''s status, amounts and resolution, and returns the user''s balance after and the hold as resolved. For api.capture_hold, api.void_hold and api.expire_holds.';
REVOKE ALL ON FUNCTION ledger._resolve_hold(ledger.holds, bigint, numeric, ledger.hold_status, smallint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- User -> a holds slot: reserves p_amount of the user's balance until it is captured, voided or
-- expires (p_expires_in after the authorization: 1 second to 30 days, default 15 minutes). The
-- balance test is a spend's, in the UPDATE, so no hold exceeds the balance and a wallet in debt
-- holds nothing.
CREATE OR REPLACE FUNCTION api.authorize_hold(
    p_user_id text, p_asset_id text, p_amount numeric, p_description text, p_idempotency_key text,
    p_expires_in interval DEFAULT '15 minutes', p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.hold_posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_asset        ledger.assets;
    v_client       text := coalesce(p_client_id, 'sql:' || session_user);
    v_amount       numeric;
    v_tx           bigint;
    v_wallet       bigint;
    v_balance      numeric;
    v_version      bigint;
    v_slot         bigint;
    v_slot_balance numeric;
    v_slot_version bigint;
    v_posted       timestamptz;
    v_spend_day    date;
    v_hold         ledger.holds;
BEGIN
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    v_amount := ledger._checked_amount(v_asset, p_amount);
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    IF p_expires_in IS NULL OR p_expires_in < interval '1 second' OR p_expires_in > interval '30 days' THEN
        RAISE EXCEPTION 'a hold expires 1 second to 30 days after it is authorized, not %',
                coalesce(p_expires_in::text, 'NULL')
            USING ERRCODE = 'WHEXI', HINT = 'leave p_expires_in out for the default, 15 minutes';
    END IF;
    PERFORM ledger._check_call(p_idempotency_key, v_client, p_metadata, p_description, 'description');

    -- 1. The key. A concurrent holder of the same key makes this wait for its outcome.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata)
    VALUES ('hold', v_client, p_idempotency_key, p_description, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay_hold(v_client, p_idempotency_key, p_user_id, p_asset_id, v_amount,
                                   p_description, p_expires_in, p_metadata);
    END IF;

    -- 2. The user wallet: the balance test is part of the UPDATE, re-checked under the lock
    UPDATE ledger.wallets AS w
    SET balance = w.balance - v_amount, version = w.version + 1, updated_at = now()
    WHERE w.owner_id = p_user_id AND w.asset_id = p_asset_id AND w.balance >= v_amount
    RETURNING w.id, w.balance, w.version INTO v_wallet, v_balance, v_version;
    IF NOT FOUND THEN
        SELECT w.balance INTO v_balance FROM ledger.wallets AS w
        WHERE w.owner_id = p_user_id AND w.asset_id = p_asset_id;
        -- raising rolls the whole call back, the key's claim with it: the key stays unused
        RAISE EXCEPTION 'insufficient funds: % has % %, the hold needs %', p_user_id,
                round(coalesce(v_balance, 0), v_asset.scale), v_asset.code, v_amount
            USING ERRCODE = 'WFUND',
                  DETAIL = format('balance: %s, requested: %s',
                                  round(coalesce(v_balance, 0), v_asset.scale), v_amount);
    END IF;
    -- An authorization is spending: checked against and counted in the daily spend limit under
    -- the wallet's lock, as a spend is (migration 0013). The hold keeps the day counted, so that
    -- what it gives back on that day is no longer counted (ledger._resolve_hold).
    IF v_asset.has_limits THEN
        v_spend_day := ledger._check_limits(v_asset, v_wallet, p_user_id, false, v_amount, v_balance);
    END IF;

    -- 3. A holds slot
    SELECT s.wallet_id INTO v_slot
    FROM ledger._lock_system_slot(v_asset.id, 'holds', v_asset.system_slots) AS s;
    UPDATE ledger.wallets AS w
    SET balance = w.balance + v_amount, version = w.version + 1, updated_at = now()
    WHERE w.id = v_slot
    RETURNING w.balance, w.version INTO STRICT v_slot_balance, v_slot_version;

    -- 4. The clock: the entries' posted_at, the hold's created_at and so its expiry
    v_posted := clock_timestamp();
    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
    VALUES (v_tx, v_wallet, -v_amount, v_balance, v_version, v_posted),
           (v_tx, v_slot, v_amount, v_slot_balance, v_slot_version, v_posted);
    INSERT INTO ledger.holds AS h (user_id, asset_id, wallet_id, amount, expires_at, hold_transaction_id,
                                   client_id, idempotency_key, created_at, spend_day)
    -- in seconds: '1 mon' or '1 day' added to a timestamptz would be a calendar month or day (31
    -- days, or 23 hours across a change of daylight saving time in the session's time zone)
    VALUES (p_user_id, v_asset.id, v_wallet, v_amount,
            v_posted + make_interval(secs => extract(epoch FROM p_expires_in)), v_tx, v_client,
            p_idempotency_key, v_posted, v_spend_day)
    RETURNING h.* INTO v_hold;
    RETURN ledger._hold_posting(v_hold, v_tx, v_balance, false);
END
$$;
COMMENT ON FUNCTION api.authorize_hold(text, text, numeric, text, text, interval, jsonb, text) IS
    'Reserves an amount of a user''s balance: moves it user -> a slot of the asset''s holds account until api.capture_hold, api.void_hold or the expiry (p_expires_in, 1 second to 30 days, default 15 minutes) resolves it. Counts against the daily spend limit like a spend (what is released on the same day is given back). Idempotent per client and key. Raises WASST, WAMNT, WUSER, WHEXI, WIKEY, WCLNT, WCLNS, WMETA, WDESC (a description is required), WFUND (the balance does not cover it; a wallet in debt holds nothing), WVLIM (the daily spend limit), WIDEM.';
REVOKE ALL ON FUNCTION api.authorize_hold(text, text, numeric, text, text, interval, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.authorize_hold(text, text, numeric, text, text, interval, jsonb, text)
    TO wallet_service, wallet_job;

-- Settles an open hold: p_amount of it (NULL: all) from its holds slot to Revenue, the rest back to
-- its user, in one 'capture' transaction. Refused if the hold is not open (WHOPN), past its expiry
-- (WHEXP), or smaller than p_amount (WHCEX).
CREATE OR REPLACE FUNCTION api.capture_hold(
    p_hold_id bigint, p_amount numeric, p_idempotency_key text, p_metadata jsonb DEFAULT '{}',
    p_client_id text DEFAULT NULL)
RETURNS ledger.hold_posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_client  text := coalesce(p_client_id, 'sql:' || session_user);
    v_hold    ledger.holds;
    v_asset   ledger.assets;
    v_amount  numeric;
    v_tx      bigint;
    v_result  record;
BEGIN
    PERFORM ledger._check_call(p_idempotency_key, v_client, p_metadata, NULL, NULL);
    v_hold := ledger._find_hold(p_hold_id);
    SELECT * INTO STRICT v_asset FROM ledger.assets AS a WHERE a.id = v_hold.asset_id;
    IF p_amount IS NOT NULL THEN
        v_amount := ledger._checked_amount(v_asset, p_amount);  -- NULL is the whole hold
    END IF;

    -- 1. The key.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, metadata)
    VALUES ('capture', v_client, p_idempotency_key, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay_hold_resolution(v_client, p_idempotency_key, 'capture', p_hold_id,
                                              v_amount, p_metadata);
    END IF;

    -- The hold row, then what is decided under its lock.
    v_hold := ledger._lock_open_hold(v_hold.id);
    v_amount := coalesce(v_amount, v_hold.amount);
    IF v_amount > v_hold.amount THEN
        RAISE EXCEPTION 'capturing % exceeds hold %''s % %', v_amount, v_hold.id,
                round(v_hold.amount, v_asset.scale), v_asset.code
            USING ERRCODE = 'WHCEX',
                  DETAIL = format('held: %s, requested: %s', round(v_hold.amount, v_asset.scale), v_amount);
    END IF;
    -- 2 to 4: the user wallet, the holds and Revenue slots, the clock and the entries
    SELECT * INTO v_result FROM ledger._resolve_hold(v_hold, v_tx, v_amount, 'captured', v_asset.system_slots);
    RETURN ledger._hold_posting(v_result.hold, v_tx, v_result.balance, false);
END
$$;
COMMENT ON FUNCTION api.capture_hold(bigint, numeric, text, jsonb, text) IS
    'Settles an open hold: p_amount (NULL: all of it) moves from the holds account to Revenue, the rest back to the user, in one capture transaction. Idempotent per client and key. Raises WIKEY, WCLNT, WCLNS, WMETA, WHLNF, WAMNT, WHOPN (already captured, voided or expired), WHEXP (past its expiry, swept or not), WHCEX (more than the hold), WIDEM.';
REVOKE ALL ON FUNCTION api.capture_hold(bigint, numeric, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.capture_hold(bigint, numeric, text, jsonb, text)
    TO wallet_service, wallet_job;

-- Cancels an open hold: all of it back to its user, in one 'release' transaction.
CREATE OR REPLACE FUNCTION api.void_hold(
    p_hold_id bigint, p_idempotency_key text, p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.hold_posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_client  text := coalesce(p_client_id, 'sql:' || session_user);
    v_hold    ledger.holds;
    v_slots   smallint;
    v_tx      bigint;
    v_result  record;
BEGIN
    PERFORM ledger._check_call(p_idempotency_key, v_client, p_metadata, NULL, NULL);
    v_hold := ledger._find_hold(p_hold_id);

    -- 1. The key.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, metadata)
    VALUES ('release', v_client, p_idempotency_key, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay_hold_resolution(v_client, p_idempotency_key, 'release', p_hold_id,
                                              NULL, p_metadata);
    END IF;

    v_hold := ledger._lock_open_hold(v_hold.id);
    SELECT a.system_slots INTO STRICT v_slots FROM ledger.assets AS a WHERE a.id = v_hold.asset_id;
    SELECT * INTO v_result FROM ledger._resolve_hold(v_hold, v_tx, 0, 'voided', v_slots);
    RETURN ledger._hold_posting(v_result.hold, v_tx, v_result.balance, false);
END
$$;
COMMENT ON FUNCTION api.void_hold(bigint, text, jsonb, text) IS
    'Cancels an open hold: all of it moves from the holds account back to the user, in one release transaction. Idempotent per client and key. Raises WIKEY, WCLNT, WCLNS, WMETA, WHLNF, WHOPN (already captured, voided or expired), WHEXP (past its expiry: the sweep releases it), WIDEM.';
REVOKE ALL ON FUNCTION api.void_hold(bigint, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.void_hold(bigint, text, jsonb, text) TO wallet_service, wallet_job;

CREATE OR REPLACE FUNCTION api.get_hold(p_hold_id bigint)
RETURNS ledger.hold_posting
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ledger._hold_posting(ledger._find_hold(p_hold_id), NULL, NULL, NULL);
END
$$;
COMMENT ON FUNCTION api.get_hold(bigint) IS
    'A hold as it stands: status (open, captured, voided, expired), amounts, expiry and the ids of its transactions; transaction_id, balance and replayed are NULL. An open hold past its expiry reads open until the sweep releases it. Raises WHLNF.';
REVOKE ALL ON FUNCTION api.get_hold(bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.get_hold(bigint) TO wallet_service, wallet_job, wallet_auditor;

-- The sweep: releases up to p_limit open holds past their expiry, each back to its user by a
-- 'release' transaction of client ledger:expiry and key expire:<hold id>, and marks them expired.
-- Returns how many it released. Safe to run concurrently and to kill: the due holds are locked
-- with SKIP LOCKED (a hold another sweep, a capture or a void holds is left to it; the
-- capture or void then finds it past its expiry and refuses, WHEXP), and everything commits or
-- rolls back with the caller's transaction, so a hold is released exactly once.
--
-- Lock order: the holds (SKIP LOCKED, so never a wait), then their user wallets in (owner_id,
-- asset_id) order, then one holds slot per asset in asset order, each locked once for the
-- batch; then the keys, which only this function writes for client ledger:expiry; then the
-- writes, hold by hold (every row is already locked: nothing waits).
CREATE OR REPLACE FUNCTION api.expire_holds(p_limit integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_now      timestamptz := clock_timestamp();
    v_ids      bigint[];
    v_hold     ledger.holds;
    v_asset    record;
    v_slot     bigint;
    v_tx       bigint;
    v_count    integer := 0;
BEGIN
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 100000 THEN
        RAISE EXCEPTION 'invalid limit %: 1 to 100000 holds per call', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'WPAGE';
    END IF;
    -- the due holds that no one holds, by expiry
    SELECT array_agg(d.id) INTO v_ids
    FROM (SELECT h.id FROM ledger.holds AS h
          WHERE h.status = 'open' AND h.expires_at <= v_now
          ORDER BY h.expires_at, h.id
          LIMIT p_limit
          FOR UPDATE SKIP LOCKED) AS d;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    -- their user wallets, in (owner_id, asset_id) order
    PERFORM w.id FROM ledger.wallets AS w
    WHERE w.id IN (SELECT h.wallet_id FROM ledger.holds AS h WHERE h.id = ANY (v_ids))
    ORDER BY w.owner_id COLLATE "C", w.asset_id
    FOR NO KEY UPDATE;
    -- a holds slot per asset, in asset order; the releases below debit it
    FOR v_asset IN
        SELECT a.id, a.system_slots FROM ledger.assets AS a
        WHERE a.id IN (SELECT h.asset_id FROM ledger.holds AS h WHERE h.id = ANY (v_ids))
        ORDER BY a.id COLLATE "C"
    LOOP
        PERFORM ledger._lock_system_slot(v_asset.id, 'holds', v_asset.system_slots);
    END LOOP;

    FOR v_hold IN SELECT h.* FROM ledger.holds AS h WHERE h.id = ANY (v_ids) ORDER BY h.id LOOP
        INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, metadata)
        VALUES ('release', 'ledger:expiry', 'expire:' || v_hold.id, '{}')
        ON CONFLICT (client_id, idempotency_key) DO NOTHING
        RETURNING t.id INTO v_tx;
        IF v_tx IS NULL THEN
            -- someone else wrote this key (client ledger:expiry is this function's): leave the
            -- hold open and say so, rather than stop every other expiry
            RAISE WARNING 'hold % not expired: key expire:% of client ledger:expiry is taken', v_hold.id, v_hold.id;
            CONTINUE;
        END IF;
        -- the slot: _lock_system_slot, asked again, finds the one locked above for the asset
        -- (ours, so never skipped) or a free one before it; it never waits
        PERFORM ledger._resolve_hold(v_hold, v_tx, 0, 'expired',
                                     (SELECT a.system_slots FROM ledger.assets AS a WHERE a.id = v_hold.asset_id));
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION api.expire_holds(integer) IS
    'The sweep: releases up to p_limit (1 to 100000, default 1000) open holds past their expiry back to their users (a release transaction each, client ledger:expiry, key expire:<hold id>) and marks them expired; returns how many. Safe concurrently (SKIP LOCKED on the holds: each is released once) and in any job or the service. Raises WPAGE for a bad limit.';
REVOKE ALL ON FUNCTION api.expire_holds(integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.expire_holds(integer) TO wallet_service, wallet_job;

-- Holds triggers: a hold row is written once and then changes only by its resolution (open ->
-- captured | voided | expired, with its amounts, transaction and time, once); it is never
-- deleted. For every role, the owner included.
CREATE OR REPLACE FUNCTION ledger._check_hold_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% on ledger.holds is not allowed: holds are never deleted', TG_OP
            USING ERRCODE = 'WIMUT',
                  HINT = 'a hold ends by its capture, void or expiry';
    END IF;
    IF OLD.status <> 'open' OR NEW.status = 'open'
       OR to_jsonb(NEW) - ARRAY['status', 'captured', 'released', 'resolve_transaction_id', 'resolved_at']
          <> to_jsonb(OLD) - ARRAY['status', 'captured', 'released', 'resolve_transaction_id', 'resolved_at'] THEN
        RAISE EXCEPTION 'hold % can only be resolved, once', OLD.id
            USING ERRCODE = 'WIMUT',
                  HINT = 'an open hold becomes captured, voided or expired, with its amounts and resolving transaction; nothing else of it changes';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger._check_hold_change() IS
    'Trigger function of holds_are_kept and holds_change_only_by_resolution: DELETE and TRUNCATE of holds, and any UPDATE but the one resolution of an open hold (status, captured, released, resolve_transaction_id, resolved_at), raise WIMUT, for every role, the owner included.';
REVOKE ALL ON FUNCTION ledger._check_hold_change() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER holds_are_kept BEFORE DELETE OR TRUNCATE ON ledger.holds '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_hold_change()');
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER holds_change_only_by_resolution BEFORE UPDATE ON ledger.holds '
    'FOR EACH ROW EXECUTE FUNCTION ledger._check_hold_change()');

-- A new asset gets its holds slots with it, as many as its system_slots (a migration that adds an
-- asset writes its Treasury and Revenue slots itself, as 0002 did; the holds account, younger than
-- that habit, comes from here so that no asset is ever without one).
CREATE OR REPLACE FUNCTION ledger._add_holds_slots()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    INSERT INTO ledger.wallets (asset_id, kind, slot)
    SELECT NEW.id, 'holds', s.slot FROM generate_series(0, NEW.system_slots - 1) AS s (slot)
    ON CONFLICT (asset_id, kind, slot) WHERE kind <> 'user' DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ledger._add_holds_slots() IS
    'Trigger function of assets_have_holds_slots: a new asset gets the slots of its holds account (kind holds, slots 0 to system_slots - 1).';
REVOKE ALL ON FUNCTION ledger._add_holds_slots() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER assets_have_holds_slots AFTER INSERT ON ledger.assets '
    'FOR EACH ROW EXECUTE FUNCTION ledger._add_holds_slots()');
