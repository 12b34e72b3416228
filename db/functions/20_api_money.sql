-- The SQL API's money functions: the only way money moves. Each returns one row (ledger.posting):
-- the transaction id, the user's wallet id, that wallet's balance after the transaction, and
-- whether the call was a replay of an earlier one with the same idempotency key. The four
-- single-user-leg functions (topup, grant_bonus, open_balance, spend) are thin doors to
-- ledger._post, which holds the logic and the lock order; api.transfer (two user legs, no system
-- slot) is its own posting routine, in the same lock order. See docs/sql-api.md.
--
-- p_client_id scopes the idempotency key: the HTTP service passes its API client's identity,
-- 'api:<key name>'; a direct SQL caller may leave it NULL and gets 'sql:<login role>', or name a
-- client of its own. Who may use which: ledger._valid_client_namespace (WCLNS).

CREATE OR REPLACE FUNCTION api.topup(
    p_user_id text, p_asset_id text, p_amount numeric, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ledger._post('topup', p_user_id, p_asset_id, p_amount, NULL, p_idempotency_key, p_metadata,
                        p_client_id);
END
$$;
COMMENT ON FUNCTION api.topup(text, text, numeric, text, jsonb, text) IS
    'Credits a user''s wallet from the asset''s Treasury (a purchase). Idempotent per client and key.';
REVOKE ALL ON FUNCTION api.topup(text, text, numeric, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.topup(text, text, numeric, text, jsonb, text)
    TO wallet_service, wallet_job;

CREATE OR REPLACE FUNCTION api.grant_bonus(
    p_user_id text, p_asset_id text, p_amount numeric, p_reason text, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ledger._post('bonus', p_user_id, p_asset_id, p_amount, p_reason, p_idempotency_key, p_metadata,
                        p_client_id);
END
$$;
COMMENT ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text) IS
    'Credits a user''s wallet from the asset''s Treasury as a bonus (referral, reward); p_reason is required.';
REVOKE ALL ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text)
    TO wallet_service, wallet_job;

-- Not granted to wallet_service nor wallet_job: opening balances are written by the seed and by
-- imports of balances from another system, run as the owner.
CREATE OR REPLACE FUNCTION api.open_balance(
    p_user_id text, p_asset_id text, p_amount numeric, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ledger._post('opening_balance', p_user_id, p_asset_id, p_amount, NULL, p_idempotency_key,
                        p_metadata, p_client_id);
END
$$;
COMMENT ON FUNCTION api.open_balance(text, text, numeric, text, jsonb, text) IS
    'Credits an opening balance from the Treasury (seeding, imports). Owner only.';
REVOKE ALL ON FUNCTION api.open_balance(text, text, numeric, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.spend(
    p_user_id text, p_asset_id text, p_amount numeric, p_description text, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ledger._post('spend', p_user_id, p_asset_id, p_amount, p_description, p_idempotency_key,
                        p_metadata, p_client_id);
END
$$;
COMMENT ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text) IS
    'Debits a user''s wallet into the asset''s Revenue account; insufficient_funds (WFUND) when the balance does not cover it.';
REVOKE ALL ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text)
    TO wallet_service, wallet_job;

-- User -> user, in one asset: two user legs and no system slot. The sender never goes below zero
-- (the test is in the UPDATE, checked again under the lock, as a spend's); the recipient's wallet
-- is created by its first credit. The lock order of db/CONVENTIONS.md: the idempotency key, then
-- the two wallets in (owner_id, asset_id) order, byte order of the user ids here (one asset), each
-- locked or created at its own place; so two transfers crossing between the same users (A -> B,
-- B -> A) lock in the same order and never deadlock. The checks are the rule functions of
-- 05_rules.sql, in ledger._post's order, then same_user (WSAME).
CREATE OR REPLACE FUNCTION api.transfer(
    p_from_user_id text, p_to_user_id text, p_asset_id text, p_amount numeric, p_description text,
    p_idempotency_key text, p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.transfer_posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_asset        ledger.assets;
    v_client       text := coalesce(p_client_id, 'sql:' || session_user);
    v_amount       numeric;
    v_tx           bigint;
    v_from_first   boolean;
    v_from_wallet  bigint;
    v_from_balance numeric;
    v_from_version bigint;
    v_to_wallet    bigint;
    v_to_balance   numeric;
    v_to_version   bigint;
    v_posted       timestamptz;
BEGIN
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    v_amount := ledger._checked_amount(v_asset, p_amount);
    IF NOT ledger._valid_user_id(p_from_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_from_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    IF NOT ledger._valid_user_id(p_to_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_to_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    IF p_from_user_id = p_to_user_id COLLATE "C" THEN
        RAISE EXCEPTION 'a transfer needs two different users: % sends to itself',
                quote_literal(p_from_user_id)
            USING ERRCODE = 'WSAME';
    END IF;
    PERFORM ledger._check_call(p_idempotency_key, v_client, p_metadata, p_description, 'description');

    -- 1. The key. A concurrent holder of the same key makes this wait for its outcome.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata)
    VALUES ('transfer', v_client, p_idempotency_key, p_description, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay_transfer(v_client, p_idempotency_key, p_from_user_id, p_to_user_id,
                                       p_asset_id, v_amount, p_description, p_metadata);
    END IF;

    -- 2. The user wallets in (owner_id, asset_id) order: one asset, so the user ids' byte order
    -- (the order of wallets_one_per_user_and_asset, COLLATE "C"). Step 1 is the lower user id.
    v_from_first := p_from_user_id < p_to_user_id COLLATE "C";
    FOR v_step IN 1 .. 2 LOOP
        IF (v_step = 1) = v_from_first THEN
            -- the sender: the balance test is part of the UPDATE, re-checked under the lock
            UPDATE ledger.wallets AS w
            SET balance = w.balance - v_amount, version = w.version + 1, updated_at = now()
            WHERE w.owner_id = p_from_user_id AND w.asset_id = p_asset_id AND w.balance >= v_amount
            RETURNING w.id, w.balance, w.version INTO v_from_wallet, v_from_balance, v_from_version;
            IF NOT FOUND THEN
                SELECT w.balance INTO v_from_balance FROM ledger.wallets AS w
                WHERE w.owner_id = p_from_user_id AND w.asset_id = p_asset_id;
                -- raising rolls the whole call back, the key's claim (and a wallet created for the
                -- recipient in step 1) with it
                RAISE EXCEPTION 'insufficient funds: % has % %, needs %', p_from_user_id,
                        round(coalesce(v_from_balance, 0), v_asset.scale), v_asset.code, v_amount
                    USING ERRCODE = 'WFUND',
                          DETAIL = format('balance: %s, requested: %s',
                                          round(coalesce(v_from_balance, 0), v_asset.scale), v_amount);
            END IF;
            -- limits (migration 0013), under this wallet's lock: a transfer sent is spent
            IF v_asset.has_limits THEN
                PERFORM ledger._check_limits(v_asset, v_from_wallet, p_from_user_id, false, v_amount,
                                             v_from_balance);
            END IF;
        ELSE
            -- the recipient: its wallet, or its first credit creates it (ON CONFLICT covers a
            -- concurrent first credit of the same wallet, and locks the row either way)
            UPDATE ledger.wallets AS w
            SET balance = w.balance + v_amount, version = w.version + 1, updated_at = now()
            WHERE w.owner_id = p_to_user_id AND w.asset_id = p_asset_id
            RETURNING w.id, w.balance, w.version INTO v_to_wallet, v_to_balance, v_to_version;
            IF NOT FOUND THEN
                INSERT INTO ledger.wallets AS w (asset_id, kind, owner_id, balance, version)
                VALUES (p_asset_id, 'user', p_to_user_id, v_amount, 1)
                ON CONFLICT (owner_id, asset_id) DO UPDATE
                    SET balance = w.balance + excluded.balance, version = w.version + 1, updated_at = now()
                RETURNING w.id, w.balance, w.version INTO v_to_wallet, v_to_balance, v_to_version;
            END IF;
            -- limits, under this wallet's lock: a transfer received is earned
            IF v_asset.has_limits THEN
                PERFORM ledger._check_limits(v_asset, v_to_wallet, p_to_user_id, true, v_amount,
                                             v_to_balance);
            END IF;
        END IF;
    END LOOP;
    -- 3. No system slot.

    v_posted := clock_timestamp();  -- one reading, after every lock (see ledger._post)
    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
    VALUES (v_tx, v_from_wallet, -v_amount, v_from_balance, v_from_version, v_posted),
           (v_tx, v_to_wallet, v_amount, v_to_balance, v_to_version, v_posted);

    RETURN (v_tx, v_from_wallet, v_from_balance, v_to_wallet, v_to_balance, false, v_amount,
            now())::ledger.transfer_posting;
END
$$;
COMMENT ON FUNCTION api.transfer(text, text, text, numeric, text, text, jsonb, text) IS
    'Moves an amount of one asset from one user''s wallet to another''s (created on its first credit); no system account. Idempotent per client and key. Raises WASST, WAMNT, WUSER, WSAME (to oneself), WIKEY, WCLNT, WCLNS, WMETA, WDESC (a description is required), WFUND (the sender''s balance does not cover it), WBLIM (the recipient''s maximum balance), WVLIM (the sender''s daily spend or the recipient''s daily earn limit), WIDEM.';
REVOKE ALL ON FUNCTION api.transfer(text, text, text, numeric, text, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.transfer(text, text, text, numeric, text, text, jsonb, text)
    TO wallet_service, wallet_job;

-- Takes back all or part of a top-up, bonus, spend or transfer by mirroring its legs against the
-- same kinds of account: a top-up's or bonus's coins go back from the user to the Treasury, a
-- spend's from Revenue to the user, a transfer's from the recipient to the sender. p_amount NULL
-- is all that remains. Opening balances, reversals and the transactions of holds (hold, capture, release) are not reversible (WNREV).
--
-- The reversals of one transaction never add up to more than it (WREVX): every reversal of it
-- locks the same user wallets, the original's, before it reads what has been reversed, so they
-- run one after another and each sees the ones before it (a new statement, a new snapshot).
-- Mode 'strict' refuses to take a user below zero (WFUND); 'allow_negative' takes the whole
-- amount back regardless, the one way a balance goes below zero (trigger
-- wallets_negative_only_by_reversal checks it).
--
-- Lock order (db/CONVENTIONS.md): the key; the original's user wallets in (owner_id, asset_id)
-- order, locked by SELECT ... FOR NO KEY UPDATE; then one slot of the system account the
-- original moved (ledger._lock_system_slot); then the clock. The entries are written before the
-- wallets are updated, from the locked rows' balances and versions, so that the trigger finds
-- the entry that explains a balance below zero.
CREATE OR REPLACE FUNCTION api.reverse(
    p_transaction_id bigint, p_amount numeric, p_reason text, p_idempotency_key text,
    p_mode text DEFAULT 'strict', p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL)
RETURNS ledger.reversal_posting
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_client    text := coalesce(p_client_id, 'sql:' || session_user);
    v_mode      ledger.reversal_mode;
    v_original  ledger.transactions;
    v_asset     ledger.assets;
    v_tx        bigint;
    v_wallets   bigint[];
    v_kinds     ledger.wallet_kind[];
    v_signs     numeric[];
    v_balances  numeric[];
    v_versions  bigint[];
    v_deltas    numeric[];
    v_wallet    bigint;
    v_balance   numeric;
    v_version   bigint;
    v_owner     text;
    v_owners    text[];
    v_side      integer;
    v_other     integer;
    v_total     numeric;
    v_reversed  numeric;
    v_remaining numeric;
    v_amount    numeric;
    v_posted    timestamptz;
BEGIN
    PERFORM ledger._check_call(p_idempotency_key, v_client, p_metadata, p_reason, 'reason');
    IF p_mode IS NULL OR p_mode NOT IN ('strict', 'allow_negative') THEN
        RAISE EXCEPTION 'invalid reversal mode %', coalesce(quote_literal(left(p_mode, 40)), 'NULL')
            USING ERRCODE = 'WMODE', HINT = 'the mode is strict (the default) or allow_negative';
    END IF;
    v_mode := p_mode::ledger.reversal_mode;

    SELECT * INTO v_original FROM ledger.transactions AS t WHERE t.id = p_transaction_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transaction % not found', coalesce(p_transaction_id::text, 'NULL')
            USING ERRCODE = 'WTXNF';
    END IF;
    -- a hold's transactions are undone by the hold's own functions (void, capture), not here: a
    -- reversal of one would move money in or out of the holds account behind its hold's back
    IF v_original.type IN ('opening_balance', 'reversal', 'hold', 'capture', 'release') THEN
        RAISE EXCEPTION 'transaction % is % and cannot be reversed', v_original.id,
                CASE v_original.type WHEN 'reversal' THEN 'a reversal'
                                     WHEN 'opening_balance' THEN 'an opening balance'
                                     ELSE format('a hold''s %s', v_original.type) END
            USING ERRCODE = 'WNREV',
                  HINT = 'top-ups, bonuses, spends and transfers can be reversed';
    END IF;
    SELECT a.* INTO STRICT v_asset FROM ledger.assets AS a
    WHERE a.id = (SELECT w.asset_id FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
                  WHERE e.transaction_id = v_original.id LIMIT 1);
    IF p_amount IS NOT NULL THEN
        v_amount := ledger._checked_amount(v_asset, p_amount);  -- NULL is all that remains
    END IF;

    -- 1. The key. A concurrent holder of the same key makes this wait for its outcome.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata,
                                          reverses_transaction_id, reversal_mode)
    VALUES ('reversal', v_client, p_idempotency_key, p_reason, p_metadata, v_original.id, v_mode)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay_reversal(v_client, p_idempotency_key, p_transaction_id, v_amount,
                                       p_reason, v_mode, p_metadata);
    END IF;

    -- The original's legs: user wallets in (owner_id, asset_id) order, then its system slot.
    SELECT array_agg(e.wallet_id ORDER BY w.kind <> 'user', w.owner_id COLLATE "C", w.asset_id, e.id),
           array_agg(w.kind ORDER BY w.kind <> 'user', w.owner_id COLLATE "C", w.asset_id, e.id),
           array_agg(sign(e.amount) ORDER BY w.kind <> 'user', w.owner_id COLLATE "C", w.asset_id, e.id),
           max(abs(e.amount)) FILTER (WHERE w.kind = 'user')
    INTO v_wallets, v_kinds, v_signs, v_total
    FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    WHERE e.transaction_id = v_original.id;

    -- 2. The user wallets, in that order.
    v_balances := array_fill(NULL::numeric, ARRAY[cardinality(v_wallets)]);
    v_owners := array_fill(NULL::text, ARRAY[cardinality(v_wallets)]);
    v_versions := array_fill(NULL::bigint, ARRAY[cardinality(v_wallets)]);
    FOR i IN 1 .. cardinality(v_wallets) LOOP
        CONTINUE WHEN v_kinds[i] <> 'user';
        SELECT w.balance, w.version, w.owner_id INTO v_balance, v_version, v_owner
        FROM ledger.wallets AS w WHERE w.id = v_wallets[i]
        FOR NO KEY UPDATE;
        v_balances[i] := v_balance;
        v_versions[i] := v_version;
        v_owners[i] := v_owner;
    END LOOP;

    -- Under those locks: what earlier reversals took back, and so what remains.
    v_reversed := ledger._reversed_amount(v_original.id, v_wallets[1]);
    v_remaining := v_total - v_reversed;
    v_amount := coalesce(v_amount, v_remaining);
    IF v_remaining = 0 OR v_amount > v_remaining THEN
        RAISE EXCEPTION '%', CASE WHEN v_remaining = 0
                THEN format('transaction %s has already been reversed in full', v_original.id)
                ELSE format('reversing %s of transaction %s exceeds what remains of it (%s)',
                            round(v_amount, v_asset.scale), v_original.id,
                            round(v_remaining, v_asset.scale)) END
            USING ERRCODE = 'WREVX',
                  DETAIL = format('remaining: %s, requested: %s', round(v_remaining, v_asset.scale),
                                  round(v_amount, v_asset.scale));
    END IF;
    v_deltas := ARRAY(SELECT -s * v_amount FROM unnest(v_signs) AS s);
    FOR i IN 1 .. cardinality(v_wallets) LOOP
        -- only a debit can take a user below zero: a credit (a spend's user, a transfer's sender)
        -- to a user already in debt pays the debt, as any credit does
        IF v_kinds[i] = 'user' AND v_mode = 'strict' AND v_deltas[i] < 0
           AND v_balances[i] + v_deltas[i] < 0 THEN
            -- raising rolls the whole call back, the key's claim with it: the key stays unused
            RAISE EXCEPTION 'insufficient funds: % has % %, the reversal takes %',
                    v_owners[i], round(v_balances[i], v_asset.scale), v_asset.code, round(v_amount, v_asset.scale)
                USING ERRCODE = 'WFUND',
                      DETAIL = format('balance: %s, requested: %s', round(v_balances[i], v_asset.scale),
                                      round(v_amount, v_asset.scale)),
                      HINT = 'mode allow_negative takes the whole amount back and leaves the balance below zero';
        END IF;
    END LOOP;

    -- 3. A slot of each system account the original moved, last.
    FOR i IN 1 .. cardinality(v_wallets) LOOP
        CONTINUE WHEN v_kinds[i] = 'user';
        SELECT s.wallet_id, s.balance, s.version INTO v_wallet, v_balance, v_version
        FROM ledger._lock_system_slot(v_asset.id, v_kinds[i], v_asset.system_slots) AS s;
        v_wallets[i] := v_wallet;
        v_balances[i] := v_balance;
        v_versions[i] := v_version;
    END LOOP;

    -- 4. The clock, then the entries (before the wallets: see wallets_negative_only_by_reversal).
    v_posted := clock_timestamp();
    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
    SELECT v_tx, l.wallet_id, l.delta, l.balance + l.delta, l.version + 1, v_posted
    FROM unnest(v_wallets, v_deltas, v_balances, v_versions) AS l(wallet_id, delta, balance, version);
    FOR i IN 1 .. cardinality(v_wallets) LOOP
        UPDATE ledger.wallets AS w
        SET balance = w.balance + v_deltas[i], version = w.version + 1, updated_at = now()
        WHERE w.id = v_wallets[i];
    END LOOP;

    -- The answer, as ledger._reversal_posting reads it back on a replay: the user side is the
    -- debited user leg, else the credited one (entries are numbered in v_wallets' order); the
    -- other user leg, if any, is the counterparty.
    FOR i IN 1 .. cardinality(v_wallets) LOOP
        CONTINUE WHEN v_kinds[i] <> 'user';
        IF v_side IS NULL OR (v_deltas[i] < 0 AND v_deltas[v_side] > 0) THEN
            v_other := v_side;
            v_side := i;
        ELSE
            v_other := i;
        END IF;
    END LOOP;
    RETURN (v_tx, v_original.id, v_owners[v_side], v_asset.id, v_wallets[v_side],
            round(v_balances[v_side] + v_deltas[v_side], v_asset.scale), v_owners[v_other],
            v_wallets[v_other], round(v_balances[v_other] + v_deltas[v_other], v_asset.scale),
            round(v_amount, v_asset.scale), round(v_remaining - v_amount, v_asset.scale), false,
            now())::ledger.reversal_posting;
END
$$;
COMMENT ON FUNCTION api.reverse(bigint, numeric, text, text, text, jsonb, text) IS
    'Takes back all (p_amount NULL) or part of a top-up, bonus, spend or transfer by mirroring its legs: user -> Treasury, Revenue -> user, recipient -> sender. Idempotent per client and key. Raises WIKEY, WCLNT, WCLNS, WMETA, WDESC (a reason is required), WMODE, WTXNF, WNREV (opening balances, reversals, a hold''s transactions), WAMNT, WREVX (more than remains), WFUND (strict mode, the user has spent the coins), WIDEM.';
REVOKE ALL ON FUNCTION api.reverse(bigint, numeric, text, text, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.reverse(bigint, numeric, text, text, text, jsonb, text)
    TO wallet_service, wallet_job;
