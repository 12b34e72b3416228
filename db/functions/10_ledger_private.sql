-- Private helpers of the ledger: validation, system-slot locking, replays, and the triggers that
-- keep the books immutable and balanced. Not callable by any role but the owner; the API
-- functions in schema api (SECURITY DEFINER) call them. Error codes: db/errors.tsv.

-- The one posting routine behind api.topup, api.grant_bonus, api.open_balance (Treasury -> user)
-- and api.spend (user -> Revenue). Validates every argument, claims the idempotency key, moves
-- the money, writes both entries. Everything is inline: on this path each nested PL/pgSQL call,
-- bounded regular expression ({1,128}) or extra statement costs as much as a row update. The
-- argument rules come from db/functions/05_rules.sql all the same: those are single-expression
-- SQL functions that the planner inlines into this function's checks, at no cost per call
-- (measured, see docs/performance.md).
--
-- Lock order, the same in every call: the idempotency key (unique index), then the user's
-- wallet row, then one system slot, last. Nothing waits for anything while holding a slot, so
-- no cycle (deadlock) can form. The slot: this backend's home slot (pid modulo the slot count)
-- if no one holds it, else the next free one (SKIP LOCKED), and only when every slot is held
-- does the call wait, for its home slot. FOR NO KEY UPDATE is the lock the UPDATE itself takes:
-- it does not conflict with the KEY SHARE locks that foreign-key checks of entries take.
CREATE OR REPLACE FUNCTION ledger._post(
    p_type ledger.transaction_type, p_user_id text, p_asset_id text, p_amount numeric,
    p_description text, p_idempotency_key text, p_metadata jsonb, p_client_id text)
RETURNS ledger.posting
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_asset        ledger.assets;
    v_client       text := coalesce(p_client_id, 'sql:' || session_user);
    v_credit       boolean := p_type <> 'spend';
    v_system       ledger.wallet_kind := CASE WHEN p_type = 'spend' THEN 'revenue' ELSE 'treasury' END;
    v_amount       numeric;
    v_tx           bigint;
    v_wallet       bigint;
    v_balance      numeric;
    v_version      bigint;
    v_home         smallint;
    v_slot         bigint;
    v_slot_balance numeric;
    v_slot_version bigint;
    v_posted       timestamptz;
BEGIN
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    -- NaN compares greater than every number in PostgreSQL, so it is named explicitly.
    IF p_amount IS NULL OR p_amount = 'NaN' OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be greater than zero'
            USING ERRCODE = 'WAMNT', DETAIL = format('amount: %s', coalesce(p_amount::text, 'NULL'));
    END IF;
    IF p_amount > v_asset.max_amount THEN
        RAISE EXCEPTION 'amount % is above the maximum of % for %', p_amount, v_asset.max_amount, v_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    v_amount := round(p_amount, v_asset.scale);
    IF v_amount <> p_amount THEN
        RAISE EXCEPTION 'amount % has more than % decimal places, the most % allows',
                p_amount, v_asset.scale, v_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    IF NOT ledger._valid_idempotency_key(p_idempotency_key) THEN
        RAISE EXCEPTION 'invalid idempotency key'
            USING ERRCODE = 'WIKEY',
                  HINT = 'an idempotency key is 1 to 255 printable ASCII characters';
    END IF;
    IF NOT ledger._valid_client_id(v_client) THEN
        RAISE EXCEPTION 'invalid client id' USING ERRCODE = 'WCLNT',
            HINT = 'a client id is 1 to 200 characters';
    END IF;
    IF NOT ledger._valid_client_namespace(v_client, session_user) THEN
        RAISE EXCEPTION 'client id % is not for login %', quote_literal(left(v_client, 80)), session_user
            USING ERRCODE = 'WCLNS',
                  HINT = 'api:<key name> is the HTTP service''s (login wallet_service), sql:<login> is '
                         'that login''s own; a job names any other client, or none';
    END IF;
    IF p_metadata IS NULL OR jsonb_typeof(p_metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'WMETA';
    END IF;
    IF octet_length(p_metadata::text) > ledger._metadata_max_bytes() THEN
        RAISE EXCEPTION 'metadata is larger than % bytes', ledger._metadata_max_bytes()
            USING ERRCODE = 'WMETA';
    END IF;
    -- spends need a description and bonuses a reason; blank means only whitespace
    IF p_type IN ('spend', 'bonus')
       AND (p_description IS NULL OR length(p_description) > ledger._description_max_length()
            OR p_description !~ '[^[:space:]]') THEN
        RAISE EXCEPTION 'a % of 1 to % characters is required',
                CASE WHEN p_type = 'spend' THEN 'description' ELSE 'reason' END,
                ledger._description_max_length()
            USING ERRCODE = 'WDESC';
    END IF;

    -- Claims the key; a concurrent holder of the same key makes this wait for its outcome.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata)
    VALUES (p_type, v_client, p_idempotency_key, p_description, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        RETURN ledger._replay(v_client, p_idempotency_key, p_type, p_user_id, p_asset_id, v_amount,
                              p_description, p_metadata);
    END IF;

    IF v_credit THEN
        UPDATE ledger.wallets AS w
        SET balance = w.balance + v_amount, version = w.version + 1, updated_at = now()
        WHERE w.owner_id = p_user_id AND w.asset_id = p_asset_id
        RETURNING w.id, w.balance, w.version INTO v_wallet, v_balance, v_version;
        IF NOT FOUND THEN
            -- first credit; ON CONFLICT covers a concurrent first credit of the same wallet
            INSERT INTO ledger.wallets AS w (asset_id, kind, owner_id, balance, version)
            VALUES (p_asset_id, 'user', p_user_id, v_amount, 1)
            ON CONFLICT (owner_id, asset_id) DO UPDATE
                SET balance = w.balance + excluded.balance, version = w.version + 1, updated_at = now()
            RETURNING w.id, w.balance, w.version INTO v_wallet, v_balance, v_version;
        END IF;
    ELSE
        -- The balance test is part of the UPDATE: a concurrent spend that commits first is seen
        -- when this one re-checks the locked row, so two spends never both take the last coin.
        UPDATE ledger.wallets AS w
        SET balance = w.balance - v_amount, version = w.version + 1, updated_at = now()
        WHERE w.owner_id = p_user_id AND w.asset_id = p_asset_id AND w.balance >= v_amount
        RETURNING w.id, w.balance, w.version INTO v_wallet, v_balance, v_version;
        IF NOT FOUND THEN
            SELECT w.balance INTO v_balance FROM ledger.wallets AS w
            WHERE w.owner_id = p_user_id AND w.asset_id = p_asset_id;
            -- raising rolls the whole call back, the key's claim with it: the key stays unused
            RAISE EXCEPTION 'insufficient funds: % has % %, needs %', p_user_id,
                    round(coalesce(v_balance, 0), v_asset.scale), v_asset.code, v_amount
                USING ERRCODE = 'WFUND',
                      DETAIL = format('balance: %s, requested: %s',
                                      round(coalesce(v_balance, 0), v_asset.scale), v_amount);
        END IF;
    END IF;
    -- Limits (migration 0013): an asset without any costs this one boolean test. Checked and
    -- counted under the user wallet's row lock, which the UPDATE above holds. Opening balances
    -- (imports) are exempt.
    IF v_asset.has_limits AND p_type <> 'opening_balance' THEN
        PERFORM ledger._check_limits(v_asset, v_wallet, p_user_id, v_credit, v_amount, v_balance);
    END IF;

    -- The system side. "kind <> 'user'" repeats the partial index's predicate so that a generic
    -- plan can use that index.
    v_home := pg_backend_pid() % v_asset.system_slots;
    UPDATE ledger.wallets AS w
    SET balance = w.balance + CASE WHEN v_credit THEN -v_amount ELSE v_amount END,
        version = w.version + 1, updated_at = now()
    WHERE w.id = (SELECT s.id FROM ledger.wallets AS s
                  WHERE s.asset_id = p_asset_id AND s.kind = v_system AND s.kind <> 'user'
                    AND s.slot = v_home
                  FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING w.id, w.balance, w.version INTO v_slot, v_slot_balance, v_slot_version;
    IF NOT FOUND THEN
        UPDATE ledger.wallets AS w
        SET balance = w.balance + CASE WHEN v_credit THEN -v_amount ELSE v_amount END,
            version = w.version + 1, updated_at = now()
        WHERE w.id = (SELECT s.id FROM ledger.wallets AS s
                      WHERE s.asset_id = p_asset_id AND s.kind = v_system AND s.kind <> 'user'
                      ORDER BY (s.slot + v_asset.system_slots - v_home) % v_asset.system_slots
                      LIMIT 1
                      FOR NO KEY UPDATE SKIP LOCKED)
        RETURNING w.id, w.balance, w.version INTO v_slot, v_slot_balance, v_slot_version;
    END IF;
    IF NOT FOUND THEN
        UPDATE ledger.wallets AS w
        SET balance = w.balance + CASE WHEN v_credit THEN -v_amount ELSE v_amount END,
            version = w.version + 1, updated_at = now()
        WHERE w.asset_id = p_asset_id AND w.kind = v_system AND w.kind <> 'user' AND w.slot = v_home
        RETURNING w.id, w.balance, w.version INTO STRICT v_slot, v_slot_balance, v_slot_version;
    END IF;

    -- One clock reading, after every lock: the next version of either wallet is posted by a call
    -- that got the row lock after this one committed, so posted_at never decreases along a
    -- wallet's versions (now() would: it is the time the database transaction started).
    v_posted := clock_timestamp();
    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
    VALUES (v_tx, v_wallet, CASE WHEN v_credit THEN v_amount ELSE -v_amount END, v_balance, v_version,
            v_posted),
           (v_tx, v_slot, CASE WHEN v_credit THEN -v_amount ELSE v_amount END, v_slot_balance,
            v_slot_version, v_posted);

    RETURN (v_tx, v_wallet, v_balance, false, v_amount, now())::ledger.posting;
END
$$;
COMMENT ON FUNCTION ledger._post(ledger.transaction_type, text, text, numeric, text, text, jsonb, text) IS
    'The one posting routine behind the single-user-leg money functions (top-up, bonus, opening balance, spend): validates (rules of 05_rules.sql), claims the idempotency key or replays it (ledger._replay), moves the money user wallet first, system slot last, writes both entries with one posted_at read after the locks. An asset with limits (has_limits) has them checked and counted under the user wallet''s lock (ledger._check_limits), but for an opening balance. Raises WASST, WAMNT, WUSER, WIKEY, WCLNT, WCLNS, WMETA, WDESC, WFUND, WBLIM, WVLIM, WIDEM.';
REVOKE ALL ON FUNCTION ledger._post(ledger.transaction_type, text, text, numeric, text, text, jsonb, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- The limits of one posting on a user wallet (migration 0013), called by ledger._post,
-- api.transfer and api.authorize_hold only when the asset has limits (ledger.assets.has_limits), right after the
-- UPDATE of the wallet, so under its row lock: two postings to one wallet run one after the
-- other here, and the second sees the first's usage. The user's override (ledger.user_limits)
-- replaces the asset's three limits; NULL is no limit. A credit (p_earn) may not take the
-- balance above the maximum balance (WBLIM); the day's earned or spent amount, this posting
-- included, may not exceed the daily limit (WVLIM). The day is the calendar day in the asset's
-- day_time_zone, read from clock_timestamp() under the lock; usage of an earlier day counts as
-- zero. Both counters are kept whenever the asset has limits, so a daily limit set during the
-- day counts what was posted since the asset got limits. Raising rolls back the whole posting.
-- Returns the day counted (a hold keeps it, to give back on that day what it releases).
CREATE OR REPLACE FUNCTION ledger._check_limits(
    p_asset ledger.assets, p_wallet_id bigint, p_user_id text, p_earn boolean, p_amount numeric,
    p_balance numeric)
RETURNS date
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_max   numeric := p_asset.max_balance;
    v_earn  numeric := p_asset.daily_earn_limit;
    v_spend numeric := p_asset.daily_spend_limit;
    v_limit numeric;
    v_day   date := (clock_timestamp() AT TIME ZONE p_asset.day_time_zone)::date;
    v_used  numeric;
BEGIN
    SELECT u.max_balance, u.daily_earn_limit, u.daily_spend_limit INTO v_max, v_earn, v_spend
    FROM ledger.user_limits AS u
    WHERE u.user_id = p_user_id AND u.asset_id = p_asset.id;
    IF NOT FOUND THEN
        v_max := p_asset.max_balance;
        v_earn := p_asset.daily_earn_limit;
        v_spend := p_asset.daily_spend_limit;
    END IF;
    IF p_earn AND p_balance > v_max THEN
        RAISE EXCEPTION 'balance limit exceeded: % would hold % %, the most it may hold is %', p_user_id,
                round(p_balance, p_asset.scale), p_asset.code, round(v_max, p_asset.scale)
            USING ERRCODE = 'WBLIM',
                  DETAIL = format('limit: %s, used: %s, requested: %s',
                                  round(v_max, p_asset.scale), round(p_balance - p_amount, p_asset.scale),
                                  round(p_amount, p_asset.scale));
    END IF;
    UPDATE ledger.wallets AS w
    SET usage_day = v_day,
        earned_today = CASE WHEN w.usage_day = v_day THEN coalesce(w.earned_today, 0) ELSE 0 END
                       + CASE WHEN p_earn THEN p_amount ELSE 0 END,
        spent_today = CASE WHEN w.usage_day = v_day THEN coalesce(w.spent_today, 0) ELSE 0 END
                      + CASE WHEN p_earn THEN 0 ELSE p_amount END
    WHERE w.id = p_wallet_id
    RETURNING CASE WHEN p_earn THEN w.earned_today ELSE w.spent_today END INTO STRICT v_used;
    v_limit := CASE WHEN p_earn THEN v_earn ELSE v_spend END;
    IF v_used > v_limit THEN
        RAISE EXCEPTION 'velocity limit exceeded: % may % at most % % a day', p_user_id,
                CASE WHEN p_earn THEN 'earn' ELSE 'spend' END, round(v_limit, p_asset.scale), p_asset.code
            USING ERRCODE = 'WVLIM',
                  DETAIL = format('limit: %s, used: %s, requested: %s, resets_at: %s',
                                  round(v_limit, p_asset.scale), round(v_used - p_amount, p_asset.scale),
                                  round(p_amount, p_asset.scale),
                                  to_char(((v_day + 1)::timestamp AT TIME ZONE p_asset.day_time_zone)
                                          AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    END IF;
    RETURN v_day;
END
$$;
COMMENT ON FUNCTION ledger._check_limits(ledger.assets, bigint, text, boolean, numeric, numeric) IS
    'The limits of one posting on a user wallet whose row the caller has just updated (so locked): the user''s override, else the asset''s; a credit above the maximum balance raises WBLIM, a day''s earned or spent amount above its daily limit raises WVLIM (DETAIL: limit, used, requested, resets_at in UTC); counts the posting in the wallet''s usage_day, earned_today, spent_today, and returns that day. Called by ledger._post, api.transfer and api.authorize_hold only for an asset with has_limits.';
REVOKE ALL ON FUNCTION ledger._check_limits(ledger.assets, bigint, text, boolean, numeric, numeric)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- The checks of every money function but ledger._post (which has them inline, on the hot path,
-- where a nested call costs as much as a row update): an amount against its asset (WAMNT), and
-- the caller's key, client, metadata and description or reason (WIKEY, WCLNT, WCLNS, WMETA,
-- WDESC), in _post's order, with _post's messages. The rules are the inlined functions of
-- 05_rules.sql, as everywhere.
CREATE OR REPLACE FUNCTION ledger._checked_amount(p_asset ledger.assets, p_amount numeric)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    -- NaN compares greater than every number in PostgreSQL, so it is named explicitly.
    IF p_amount IS NULL OR p_amount = 'NaN' OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be greater than zero'
            USING ERRCODE = 'WAMNT', DETAIL = format('amount: %s', coalesce(p_amount::text, 'NULL'));
    END IF;
    IF p_amount > p_asset.max_amount THEN
        RAISE EXCEPTION 'amount % is above the maximum of % for %', p_amount, p_asset.max_amount, p_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    IF round(p_amount, p_asset.scale) <> p_amount THEN
        RAISE EXCEPTION 'amount % has more than % decimal places, the most % allows',
                p_amount, p_asset.scale, p_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    RETURN round(p_amount, p_asset.scale);  -- 2.500 is stored as 2.50, as _post stores it
END
$$;
COMMENT ON FUNCTION ledger._checked_amount(ledger.assets, numeric) IS
    'A money function''s amount checked against its asset (above zero, at most its maximum, at most its decimal places: else WAMNT) and returned at the asset''s scale. For the functions other than ledger._post, which checks inline.';
REVOKE ALL ON FUNCTION ledger._checked_amount(ledger.assets, numeric)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._check_call(
    p_idempotency_key text, p_client_id text, p_metadata jsonb, p_text text, p_text_name text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT ledger._valid_idempotency_key(p_idempotency_key) THEN
        RAISE EXCEPTION 'invalid idempotency key'
            USING ERRCODE = 'WIKEY',
                  HINT = 'an idempotency key is 1 to 255 printable ASCII characters';
    END IF;
    IF NOT ledger._valid_client_id(p_client_id) THEN
        RAISE EXCEPTION 'invalid client id' USING ERRCODE = 'WCLNT',
            HINT = 'a client id is 1 to 200 characters';
    END IF;
    IF NOT ledger._valid_client_namespace(p_client_id, session_user) THEN
        RAISE EXCEPTION 'client id % is not for login %', quote_literal(left(p_client_id, 80)), session_user
            USING ERRCODE = 'WCLNS',
                  HINT = 'api:<key name> is the HTTP service''s (login wallet_service), sql:<login> is '
                         'that login''s own; a job names any other client, or none';
    END IF;
    IF p_metadata IS NULL OR jsonb_typeof(p_metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'WMETA';
    END IF;
    IF octet_length(p_metadata::text) > ledger._metadata_max_bytes() THEN
        RAISE EXCEPTION 'metadata is larger than % bytes', ledger._metadata_max_bytes()
            USING ERRCODE = 'WMETA';
    END IF;
    -- blank means only whitespace; no p_text_name: the function takes no text (a hold's capture)
    IF p_text_name IS NOT NULL AND (p_text IS NULL OR length(p_text) > ledger._description_max_length()
                                    OR p_text !~ '[^[:space:]]') THEN
        RAISE EXCEPTION 'a % of 1 to % characters is required', p_text_name,
                ledger._description_max_length()
            USING ERRCODE = 'WDESC';
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._check_call(text, text, jsonb, text, text) IS
    'A money function''s idempotency key (WIKEY), client id and its namespace for the session''s login (WCLNT, WCLNS), metadata (WMETA) and required description or reason, named by p_text_name (WDESC; p_text_name NULL: the function takes none). For the functions other than ledger._post, which checks inline.';
REVOKE ALL ON FUNCTION ledger._check_call(text, text, jsonb, text, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A repeated idempotency key for a single-user-leg posting (ledger._post's types): the original
-- transaction if the arguments are the same, else idempotency_key_reused. Compares the stored
-- transaction itself, so no fingerprint can drift. A key that belongs to a transaction of another
-- shape (a transfer has two user legs, ledger._replay_transfer) is WIDEM by its type; the user
-- leg read is then the first debit, else the first credit, only for the message.
CREATE OR REPLACE FUNCTION ledger._replay(
    p_client_id text, p_idempotency_key text, p_type ledger.transaction_type, p_user_id text,
    p_asset_id text, p_amount numeric, p_description text, p_metadata jsonb)
RETURNS ledger.posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx    ledger.transactions;
    v_entry ledger.entries;
    v_user  ledger.wallets;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t
    WHERE t.client_id = p_client_id AND t.idempotency_key = p_idempotency_key;

    SELECT e.* INTO v_entry FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    WHERE e.transaction_id = v_tx.id AND w.kind = 'user'
    ORDER BY e.amount > 0, e.id
    LIMIT 1;
    SELECT * INTO v_user FROM ledger.wallets AS w WHERE w.id = v_entry.wallet_id;

    IF v_tx.type <> p_type OR v_user.owner_id <> p_user_id OR v_user.asset_id <> p_asset_id
       OR abs(v_entry.amount) <> p_amount OR v_tx.description IS DISTINCT FROM p_description
       OR v_tx.metadata <> p_metadata THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s (%s of %s %s to %s)', v_tx.id,
                                  v_tx.type, abs(v_entry.amount), v_user.asset_id, v_user.owner_id);
    END IF;
    RETURN (v_tx.id, v_user.id, v_entry.balance_after, true, abs(v_entry.amount), v_tx.created_at)::ledger.posting;
END
$$;
COMMENT ON FUNCTION ledger._replay(text, text, ledger.transaction_type, text, text, numeric, text, jsonb) IS
    'A repeated idempotency key: the original transaction''s posting (replayed = true) if every argument is the same as stored, else WIDEM. Compares the stored transaction and its user entry, so no fingerprint can drift.';
REVOKE ALL ON FUNCTION ledger._replay(text, text, ledger.transaction_type, text, text, numeric, text, jsonb)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A repeated idempotency key for api.transfer: the original transfer (both users' sides, replayed
-- = true) if every argument is the same as stored, else WIDEM. A transfer is two user legs and no
-- system slot: the debit is the sender's, the credit the recipient's. A key that belongs to a
-- transaction of another type is WIDEM by its type.
CREATE OR REPLACE FUNCTION ledger._replay_transfer(
    p_client_id text, p_idempotency_key text, p_from_user_id text, p_to_user_id text,
    p_asset_id text, p_amount numeric, p_description text, p_metadata jsonb)
RETURNS ledger.transfer_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx         ledger.transactions;
    v_from_entry ledger.entries;
    v_to_entry   ledger.entries;
    v_from       ledger.wallets;
    v_to         ledger.wallets;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t
    WHERE t.client_id = p_client_id AND t.idempotency_key = p_idempotency_key;

    IF v_tx.type <> 'transfer' THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s, a %s', v_tx.id, v_tx.type);
    END IF;

    SELECT e.* INTO v_from_entry FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    WHERE e.transaction_id = v_tx.id AND w.kind = 'user' AND e.amount < 0;
    SELECT e.* INTO v_to_entry FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    WHERE e.transaction_id = v_tx.id AND w.kind = 'user' AND e.amount > 0;
    SELECT * INTO v_from FROM ledger.wallets AS w WHERE w.id = v_from_entry.wallet_id;
    SELECT * INTO v_to FROM ledger.wallets AS w WHERE w.id = v_to_entry.wallet_id;

    IF v_from.owner_id IS DISTINCT FROM p_from_user_id OR v_to.owner_id IS DISTINCT FROM p_to_user_id
       OR v_from.asset_id IS DISTINCT FROM p_asset_id OR v_to_entry.amount IS DISTINCT FROM p_amount
       OR v_tx.description IS DISTINCT FROM p_description OR v_tx.metadata <> p_metadata THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s (transfer of %s %s from %s to %s)',
                                  v_tx.id, v_to_entry.amount, v_from.asset_id, v_from.owner_id,
                                  v_to.owner_id);
    END IF;
    RETURN (v_tx.id, v_from.id, v_from_entry.balance_after, v_to.id, v_to_entry.balance_after, true,
            v_to_entry.amount, v_tx.created_at)::ledger.transfer_posting;
END
$$;
COMMENT ON FUNCTION ledger._replay_transfer(text, text, text, text, text, numeric, text, jsonb) IS
    'A repeated idempotency key of api.transfer: the original transfer (replayed = true) if every argument is the same as stored (sender, recipient, asset, amount, description, metadata), else WIDEM; a key of another type is WIDEM. Compares the stored transaction and its two user entries.';
REVOKE ALL ON FUNCTION ledger._replay_transfer(text, text, text, text, text, numeric, text, jsonb)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Immutability: transactions and entries are written once. Fires for every role, the owner's
-- included (only dropping the trigger, which needs ownership, gets past it).
CREATE OR REPLACE FUNCTION ledger._reject_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RAISE EXCEPTION '% on ledger.% is not allowed: ledger rows are immutable', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'WIMUT',
              HINT = 'correct a mistake with a new, compensating transaction';
END
$$;
COMMENT ON FUNCTION ledger._reject_change() IS
    'Trigger function of transactions_are_immutable and entries_are_immutable: UPDATE, DELETE and TRUNCATE of ledger rows raise WIMUT, for every role, the owner included.';
REVOKE ALL ON FUNCTION ledger._reject_change()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Triggers go through deploy.ensure_trigger (db/functions/01_deploy.sql), written as
-- pg_get_triggerdef prints them: an unchanged trigger then costs a deploy no lock on its table.
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER transactions_are_immutable BEFORE DELETE OR UPDATE OR TRUNCATE ON ledger.transactions '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._reject_change()');
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER entries_are_immutable BEFORE DELETE OR UPDATE OR TRUNCATE ON ledger.entries '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._reject_change()');

-- Double entry, enforced by the database at commit: every transaction has at least two entries
-- and they sum to zero. A deferred constraint trigger sees the whole transaction, however many
-- statements wrote it, and costs one index probe per transaction; a statement trigger with a
-- transition table cost twice as much. (That entries stay within one asset is proved by
-- api.unbalanced_transactions.)
-- SECURITY DEFINER: a deferred trigger fires at commit, after api.*'s definer rights have ended,
-- as the caller, who may not read ledger tables.
CREATE OR REPLACE FUNCTION ledger._check_transaction_balances()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_total   numeric;
    v_entries bigint;
BEGIN
    SELECT sum(e.amount), count(*) INTO v_total, v_entries
    FROM ledger.entries AS e WHERE e.transaction_id = NEW.id;
    IF v_entries < 2 OR v_total <> 0 THEN
        RAISE EXCEPTION 'transaction % does not balance: % entries summing to %', NEW.id,
                v_entries, coalesce(v_total, 0)
            USING ERRCODE = 'WUNBL';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ledger._check_transaction_balances() IS
    'Trigger function of the deferred constraint trigger transactions_balance: at commit, a new transaction with fewer than two entries or entries not summing to zero raises WUNBL. SECURITY DEFINER: it fires after api.*''s definer rights have ended.';
REVOKE ALL ON FUNCTION ledger._check_transaction_balances()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A batch's items (batch_id set) are checked by their batch instead, all at once
-- (batches_balance, db/functions/26_api_batches.sql): one query per batch rather than one per item.
SELECT deploy.ensure_trigger(
    'CREATE CONSTRAINT TRIGGER transactions_balance AFTER INSERT ON ledger.transactions '
    'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.batch_id IS NULL)) '
    'EXECUTE FUNCTION ledger._check_transaction_balances()');

-- Entries are written with their transaction, in the database transaction that creates it, and
-- never after: transactions_balance checks the transactions a database transaction creates, so an
-- entry added to a committed transaction (only the owner or a superuser could INSERT one) would
-- never be checked. Fires for every role, the owner's included; COPY as well.
--
-- "Created by this database transaction" is the transaction row's xmin: this transaction's own
-- xid, or one of its subtransactions' (a SAVEPOINT, a PL/pgSQL block with EXCEPTION, pgTAP's
-- lives_ok). The first is one comparison, and is ledger._post's case in an autocommitted call
-- (the service's). Otherwise pg_xact_status answers: a row that this statement can see and whose
-- xmin is still in progress was written by this transaction. xmin is 32 bits, so its 64-bit form
-- is rebuilt as the xid within 2^31 after this transaction's (its subtransactions' xids are all
-- after it; an xmin before it is someone else's). What no xid comparison can tell apart is a row
-- written exactly 2^32 transactions before this one (its frozen xmin has the same 32 bits): four
-- billion transactions, which this ledger does not reach in its lifetime.
--
-- Its cost: one statement, a primary-key probe of the row just written, per entry. Measured with
-- track_functions = pl over 4,000 top-ups: about 6 to 9 µs of one backend per call, 12 to 18 µs
-- per posting; which is why the service's and jobs' postings skip it (the trigger's WHEN, below).
CREATE OR REPLACE FUNCTION ledger._check_entry_transaction_is_new()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_xmin   xid;
    v_top    bigint;
    v_after  bigint;
    v_status text;
BEGIN
    -- the one statement on the posting path: no row unless the transaction exists and is not
    -- this database transaction's own (a missing one is the foreign key's to refuse, 23503)
    SELECT t.xmin INTO v_xmin FROM ledger.transactions AS t
    WHERE t.id = NEW.transaction_id AND t.xmin <> pg_catalog.pg_current_xact_id()::xid;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    -- a subtransaction's xid, or another transaction's: how far after this transaction's xid the
    -- row's xmin is, modulo 2^32
    v_top := pg_catalog.pg_current_xact_id()::text::bigint;
    v_after := (v_xmin::text::bigint - v_top) & 4294967295;
    IF v_after BETWEEN 1 AND 2147483647 THEN
        BEGIN
            v_status := pg_catalog.pg_xact_status((v_top + v_after)::text::xid8);
        EXCEPTION WHEN invalid_parameter_value THEN
            v_status := NULL;  -- "in the future": the rebuilt xid is not one of ours
        END;
    END IF;
    IF v_status IS DISTINCT FROM 'in progress' THEN
        RAISE EXCEPTION 'transaction % is committed: entries cannot be added to it', NEW.transaction_id
            USING ERRCODE = 'WIMUT',
                  HINT = 'correct a mistake with a new, compensating transaction';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger._check_entry_transaction_is_new() IS
    'Trigger function of entries_of_new_transactions: an entry whose transaction an earlier database transaction created (a committed one) raises WIMUT, for every role, the owner included. Compares the transaction row''s xmin with this database transaction''s xids.';
REVOKE ALL ON FUNCTION ledger._check_entry_transaction_is_new()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Not for the logins of the service and of jobs: they cannot write ledger.entries at all (no
-- privilege, and no role of theirs has one), only call api.*, whose one writer of entries,
-- ledger._post, writes them for the transaction it has just inserted. So every session that can
-- write an entry itself (the owner, a superuser, any login granted the owner's role) is checked,
-- and the posting path does not pay for the check: a PL/pgSQL call and a probe per entry cost
-- 5 to 9 % of top-ups at 32 clients (measured, docs/performance.md). The WHEN is plain C.
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER entries_of_new_transactions BEFORE INSERT ON ledger.entries FOR EACH ROW '
    'WHEN ((SESSION_USER <> ALL (ARRAY[''wallet_service''::name, ''wallet_job''::name]))) '
    'EXECUTE FUNCTION ledger._check_entry_transaction_is_new()');

-- A wallet's identity (asset, kind, owner, slot) is set once and fits its kind: a user wallet has
-- an owner and one row; a system slot has no owner. Fires only when one of those columns is
-- written, so a balance update never pays for it.
CREATE OR REPLACE FUNCTION ledger._check_wallet_identity()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.asset_id, NEW.kind, NEW.owner_id, NEW.slot)
                            IS DISTINCT FROM (OLD.asset_id, OLD.kind, OLD.owner_id, OLD.slot) THEN
        RAISE EXCEPTION 'a wallet''s asset, kind, owner and slot cannot change'
            USING ERRCODE = 'WIMUT';
    END IF;
    IF (NEW.kind = 'user') <> (NEW.owner_id IS NOT NULL) OR (NEW.kind = 'user' AND NEW.slot <> 0) THEN
        RAISE EXCEPTION 'a user wallet has an owner and slot 0; a system slot has no owner'
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger._check_wallet_identity() IS
    'Trigger function of wallets_identity: a user wallet has an owner and slot 0, a system slot no owner (23514); asset, kind, owner and slot never change (WIMUT). Fires only when one of those columns is written.';
REVOKE ALL ON FUNCTION ledger._check_wallet_identity()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER wallets_identity BEFORE INSERT OR UPDATE OF asset_id, kind, owner_id, slot '
    'ON ledger.wallets FOR EACH ROW EXECUTE FUNCTION ledger._check_wallet_identity()');

-- A user's balance goes below zero only by a reversal in mode allow_negative (a store refund of
-- coins already spent), and by no more than that reversal's own amount; every other way (a
-- spend, a transfer, a direct UPDATE or INSERT by the owner or a superuser) is refused with
-- check_violation, as the CHECK it replaces did. A wallet already below zero may be credited
-- (credits pay the debt first, simply by raising the balance). api.reverse writes its entries
-- before it updates the wallets, so the entry that explains the new version is there when this
-- fires. The WHEN is plain C, so a posting that leaves a balance at or above zero, all of them
-- on the hot path, never calls the function.
--
-- BEFORE, not AFTER: every UPDATE of a wallet already fetches the old row for the BEFORE trigger
-- wallets_identity, so one more BEFORE trigger costs only its WHEN; an AFTER row trigger fetches
-- the row again and goes through the after-trigger queue for every update, which cost the
-- postings at 32 clients about 5 % (spends) to 10 % (top-ups) (measured, docs/performance.md).
CREATE OR REPLACE FUNCTION ledger._check_negative_balance()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.balance >= OLD.balance THEN
        RETURN NEW;  -- a credit, or no change: a debt only shrinks
    END IF;
    IF TG_OP = 'UPDATE' AND EXISTS (
        SELECT FROM ledger.entries AS e
        JOIN ledger.transactions AS t ON t.id = e.transaction_id
        WHERE e.wallet_id = NEW.id AND e.wallet_version = NEW.version
          AND t.type = 'reversal' AND t.reversal_mode = 'allow_negative'
          AND e.amount < 0 AND e.balance_after = NEW.balance AND OLD.balance + e.amount = NEW.balance
          -- the wallet's latest entry: an older one replayed on a rewound wallet explains nothing
          AND NOT EXISTS (SELECT FROM ledger.entries AS l
                          WHERE l.wallet_id = NEW.id AND l.wallet_version > NEW.version)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the balance of user wallet % cannot go below zero (% would be %)', NEW.id,
            NEW.owner_id, NEW.balance
        USING ERRCODE = '23514',
              HINT = 'only a reversal in mode allow_negative takes a user below zero (api.reverse)';
END
$$;
COMMENT ON FUNCTION ledger._check_negative_balance() IS
    'Trigger function of wallets_negative_only_by_reversal: a user wallet written below zero raises check_violation (23514) unless the write is a credit or the debit of an allow_negative reversal entry for exactly this version, amount and balance, and that entry is the wallet''s latest. For every role, the owner included.';
REVOKE ALL ON FUNCTION ledger._check_negative_balance()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER wallets_negative_only_by_reversal BEFORE INSERT OR UPDATE OF balance ON ledger.wallets '
    'FOR EACH ROW WHEN (((new.kind = ''user''::ledger.wallet_kind) AND (new.balance < (0)::numeric))) '
    'EXECUTE FUNCTION ledger._check_negative_balance()');

-- One system slot of an asset's account, locked for a posting that is not ledger._post's (which
-- has the same choice inline, on the hot path): the backend's home slot if no one holds it, else
-- the next free one in slot order (SKIP LOCKED), else a wait for the home slot. Returns the slot
-- with its balance and version as they are under the lock; the caller writes the row.
CREATE OR REPLACE FUNCTION ledger._lock_system_slot(
    p_asset_id text, p_kind ledger.wallet_kind, p_slots smallint,
    OUT wallet_id bigint, OUT balance numeric, OUT version bigint)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_home smallint := pg_backend_pid() % p_slots;
BEGIN
    -- the home slot by its index entry first: the ordered search below reads every slot
    SELECT s.id, s.balance, s.version INTO wallet_id, balance, version
    FROM ledger.wallets AS s
    WHERE s.asset_id = p_asset_id AND s.kind = p_kind AND s.kind <> 'user' AND s.slot = v_home
    FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT s.id, s.balance, s.version INTO wallet_id, balance, version
        FROM ledger.wallets AS s
        WHERE s.asset_id = p_asset_id AND s.kind = p_kind AND s.kind <> 'user'
        ORDER BY (s.slot + p_slots - v_home) % p_slots
        LIMIT 1
        FOR NO KEY UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
        SELECT s.id, s.balance, s.version INTO STRICT wallet_id, balance, version
        FROM ledger.wallets AS s
        WHERE s.asset_id = p_asset_id AND s.kind = p_kind AND s.kind <> 'user' AND s.slot = v_home
        FOR NO KEY UPDATE;
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._lock_system_slot(text, ledger.wallet_kind, smallint) IS
    'Locks one slot of an asset''s Treasury, Revenue or holds account for a posting outside ledger._post (home slot, else the next free one, else a wait for the home slot) and returns it with its balance and version under the lock.';
REVOKE ALL ON FUNCTION ledger._lock_system_slot(text, ledger.wallet_kind, smallint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- How much of a transaction its reversals have taken back: each reversal's amount is its entry on
-- p_wallet_id, one of the original's user wallets (every reversal of a transaction moves all of
-- them). Up to a wallet version when given: what had been reversed once the reversal at that
-- version was posted (a replay answers what the first call answered). The index
-- transactions_reversals finds the reversals.
CREATE OR REPLACE FUNCTION ledger._reversed_amount(
    p_transaction_id bigint, p_wallet_id bigint, p_up_to_version bigint DEFAULT NULL)
RETURNS numeric
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- PL/pgSQL, not SQL: a SQL function that cannot be inlined (this one aggregates) is planned
    -- again at every call, a PL/pgSQL one keeps its plan
    RETURN (SELECT coalesce(sum(abs(e.amount)), 0)
            FROM ledger.transactions AS r
            JOIN ledger.entries AS e ON e.transaction_id = r.id AND e.wallet_id = p_wallet_id
            WHERE r.reverses_transaction_id = p_transaction_id
              AND (p_up_to_version IS NULL OR e.wallet_version <= p_up_to_version));
END
$$;
COMMENT ON FUNCTION ledger._reversed_amount(bigint, bigint, bigint) IS
    'What the reversals of a transaction add up to, read on one of its user wallets; up to a wallet version when given.';
REVOKE ALL ON FUNCTION ledger._reversed_amount(bigint, bigint, bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A stored reversal as api.reverse answers it: its user side (the user it takes from, else the one
-- it gives to: a top-up's or bonus's user, a spend's user, a transfer's recipient), the other user
-- of a transfer's reversal, and what remained of the original right after it. Read from the
-- stored rows, so a replay answers exactly what the first call answered.
CREATE OR REPLACE FUNCTION ledger._reversal_posting(p_reversal_id bigint, p_replayed boolean)
RETURNS ledger.reversal_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx       ledger.transactions;
    v_scale    smallint;
    v_entry    ledger.entries;
    v_user     ledger.wallets;
    v_other    ledger.entries;
    v_other_to ledger.wallets;
    v_original numeric;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t WHERE t.id = p_reversal_id;
    SELECT e.* INTO v_entry FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
    WHERE e.transaction_id = v_tx.id
    ORDER BY e.amount > 0, e.id
    LIMIT 1;
    SELECT * INTO v_user FROM ledger.wallets AS w WHERE w.id = v_entry.wallet_id;
    SELECT e.* INTO v_other FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
    WHERE e.transaction_id = v_tx.id AND e.id <> v_entry.id;
    SELECT * INTO v_other_to FROM ledger.wallets AS w WHERE w.id = v_other.wallet_id;
    SELECT a.scale INTO v_scale FROM ledger.assets AS a WHERE a.id = v_user.asset_id;
    SELECT abs(e.amount) INTO v_original FROM ledger.entries AS e
    WHERE e.transaction_id = v_tx.reverses_transaction_id AND e.wallet_id = v_user.id;
    RETURN (v_tx.id, v_tx.reverses_transaction_id, v_user.owner_id, v_user.asset_id, v_user.id,
            round(v_entry.balance_after, v_scale), v_other_to.owner_id, v_other_to.id,
            round(v_other.balance_after, v_scale), round(abs(v_entry.amount), v_scale),
            round(v_original - ledger._reversed_amount(v_tx.reverses_transaction_id, v_user.id,
                                                       v_entry.wallet_version), v_scale),
            p_replayed, v_tx.created_at)::ledger.reversal_posting;
END
$$;
COMMENT ON FUNCTION ledger._reversal_posting(bigint, boolean) IS
    'A stored reversal as api.reverse returns it: its user side (the debited user, else the credited one), a transfer reversal''s other user, the amount, and what remained of the original right after it.';
REVOKE ALL ON FUNCTION ledger._reversal_posting(bigint, boolean)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A repeated idempotency key for api.reverse: the stored reversal (replayed = true) if every
-- argument is the same, else WIDEM. The amount: the same amount, or none (all that remained) for
-- a reversal that left nothing to reverse, so "all that remains" and the amount it came to are
-- the same request, and "all" is not a 3.00 that left 7.00.
CREATE OR REPLACE FUNCTION ledger._replay_reversal(
    p_client_id text, p_idempotency_key text, p_transaction_id bigint, p_amount numeric,
    p_reason text, p_mode ledger.reversal_mode, p_metadata jsonb)
RETURNS ledger.reversal_posting
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_tx      ledger.transactions;
    v_posting ledger.reversal_posting;
BEGIN
    SELECT * INTO STRICT v_tx FROM ledger.transactions AS t
    WHERE t.client_id = p_client_id AND t.idempotency_key = p_idempotency_key;
    IF v_tx.type <> 'reversal' THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s, a %s', v_tx.id, v_tx.type);
    END IF;
    v_posting := ledger._reversal_posting(v_tx.id, true);
    IF v_tx.reverses_transaction_id IS DISTINCT FROM p_transaction_id
       OR v_tx.reversal_mode IS DISTINCT FROM p_mode
       OR v_tx.description IS DISTINCT FROM p_reason OR v_tx.metadata <> p_metadata
       OR (p_amount IS NOT NULL AND v_posting.amount <> p_amount)
       OR (p_amount IS NULL AND v_posting.remaining <> 0) THEN
        RAISE EXCEPTION 'idempotency key % was already used with different arguments',
                quote_literal(p_idempotency_key)
            USING ERRCODE = 'WIDEM',
                  DETAIL = format('the key belongs to transaction %s (reversal of %s %s of transaction %s, %s)',
                                  v_tx.id, v_posting.amount, v_posting.asset_id,
                                  v_tx.reverses_transaction_id, v_tx.reversal_mode);
    END IF;
    RETURN v_posting;
END
$$;
COMMENT ON FUNCTION ledger._replay_reversal(text, text, bigint, numeric, text, ledger.reversal_mode, jsonb) IS
    'A repeated idempotency key of api.reverse: the stored reversal (replayed = true) if it reverses the same transaction by the same amount (no amount: one that left nothing) with the same mode, reason and metadata, else WIDEM; a key of another type is WIDEM.';
REVOKE ALL ON FUNCTION ledger._replay_reversal(text, text, bigint, numeric, text, ledger.reversal_mode, jsonb)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
