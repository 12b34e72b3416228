-- Private helpers of the ledger: validation, system-slot locking, replays, and the triggers that
-- keep the books immutable and balanced. Not callable by any role but the owner; the API
-- functions in schema api (SECURITY DEFINER) call them. Error codes: db/errors.tsv.

-- Every amount goes through here: the asset must exist and the amount must be a positive number
-- of at most the asset's decimal places, no larger than its maximum.
CREATE OR REPLACE FUNCTION ledger._asset_for_amount(p_asset_id text, p_amount numeric)
RETURNS ledger.assets
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_asset ledger.assets;
BEGIN
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    -- NaN compares greater than every number in PostgreSQL, so it must be named explicitly.
    IF p_amount IS NULL OR p_amount = 'NaN' OR p_amount <= 0 THEN
        RAISE EXCEPTION 'amount must be greater than zero'
            USING ERRCODE = 'WAMNT', DETAIL = format('amount: %s', coalesce(p_amount::text, 'NULL'));
    END IF;
    IF p_amount > v_asset.max_amount THEN
        RAISE EXCEPTION 'amount % is above the maximum of % for %', p_amount, v_asset.max_amount, v_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    IF p_amount <> round(p_amount, v_asset.scale) THEN
        RAISE EXCEPTION 'amount % has more than % decimal places, the most % allows',
                p_amount, v_asset.scale, v_asset.id
            USING ERRCODE = 'WAMNT';
    END IF;
    RETURN v_asset;
END
$$;
REVOKE ALL ON FUNCTION ledger._asset_for_amount(text, numeric) FROM PUBLIC;

-- Checks what every money function takes besides the amount; returns the caller's client id
-- (the one given, or 'sql:<login role>' for a direct SQL caller who names none).
CREATE OR REPLACE FUNCTION ledger._checked_client(
    p_user_id text, p_idempotency_key text, p_metadata jsonb, p_client_id text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF p_user_id IS NULL OR p_user_id !~ '^[A-Za-z0-9._:@-]{1,128}$' THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    IF p_idempotency_key IS NULL OR p_idempotency_key !~ '^[ -~]{1,255}$' THEN
        RAISE EXCEPTION 'invalid idempotency key'
            USING ERRCODE = 'WIKEY',
                  HINT = 'an idempotency key is 1 to 255 printable ASCII characters';
    END IF;
    IF p_metadata IS NULL OR jsonb_typeof(p_metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'WMETA';
    END IF;
    IF octet_length(p_metadata::text) > 4096 THEN
        RAISE EXCEPTION 'metadata is larger than 4096 bytes' USING ERRCODE = 'WMETA';
    END IF;
    IF p_client_id IS NULL THEN
        RETURN 'sql:' || session_user;
    END IF;
    IF length(p_client_id) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'invalid client id' USING ERRCODE = 'WIKEY',
            HINT = 'a client id is 1 to 200 characters';
    END IF;
    RETURN p_client_id;
END
$$;
REVOKE ALL ON FUNCTION ledger._checked_client(text, text, jsonb, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION ledger._checked_description(p_description text, p_what text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    -- blank means no character but whitespace (tabs and newlines too)
    IF p_description IS NULL OR p_description !~ '[^[:space:]]' OR length(p_description) > 500 THEN
        RAISE EXCEPTION 'a % of 1 to 500 characters is required', p_what USING ERRCODE = 'WDESC';
    END IF;
    RETURN p_description;
END
$$;
REVOKE ALL ON FUNCTION ledger._checked_description(text, text) FROM PUBLIC;

-- A repeated idempotency key: the original transaction if the arguments are the same, else
-- idempotency_key_reused. Compares the stored transaction itself, so no fingerprint can drift.
CREATE OR REPLACE FUNCTION ledger._replay(
    p_client_id text, p_idempotency_key text, p_type ledger.transaction_type, p_user_id text,
    p_asset_id text, p_amount numeric, p_description text, p_metadata jsonb,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
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
    WHERE e.transaction_id = v_tx.id AND w.kind = 'user';
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
    transaction_id := v_tx.id;
    wallet_id := v_user.id;
    balance := v_entry.balance_after;
    replayed := true;
END
$$;
REVOKE ALL ON FUNCTION ledger._replay(text, text, ledger.transaction_type, text, text, numeric, text, jsonb) FROM PUBLIC;

-- Moves p_delta into one slot of a system account and returns that slot, locked.
-- Lock order (every money function): the idempotency key (unique index), then the user's wallet
-- row, then one system slot, last. Nothing waits for a slot while holding one, so no cycle can
-- form. SKIP LOCKED takes the first slot no one holds, starting from a slot chosen by the
-- backend's pid (each connection tends to its own slot); only when every slot is held does the
-- call wait, and then for its starting slot.
CREATE OR REPLACE FUNCTION ledger._move_system_slot(
    p_asset ledger.assets, p_kind ledger.wallet_kind, p_delta numeric,
    OUT wallet_id bigint, OUT balance_after numeric, OUT version_after bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_start smallint := pg_backend_pid() % p_asset.system_slots;
BEGIN
    -- "kind <> 'user'" repeats the partial index's predicate so a generic plan can use it.
    UPDATE ledger.wallets AS w
    SET balance = w.balance + p_delta, version = w.version + 1, updated_at = now()
    WHERE w.id = (SELECT s.id FROM ledger.wallets AS s
                  WHERE s.asset_id = p_asset.id AND s.kind = p_kind AND s.kind <> 'user'
                  ORDER BY (s.slot + p_asset.system_slots - v_start) % p_asset.system_slots
                  LIMIT 1
                  FOR UPDATE SKIP LOCKED)
    RETURNING w.id, w.balance, w.version INTO wallet_id, balance_after, version_after;
    IF NOT FOUND THEN
        UPDATE ledger.wallets AS w
        SET balance = w.balance + p_delta, version = w.version + 1, updated_at = now()
        WHERE w.asset_id = p_asset.id AND w.kind = p_kind AND w.kind <> 'user' AND w.slot = v_start
        RETURNING w.id, w.balance, w.version INTO STRICT wallet_id, balance_after, version_after;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION ledger._move_system_slot(ledger.assets, ledger.wallet_kind, numeric) FROM PUBLIC;

-- Treasury -> user: top-ups, bonuses and opening balances. Creates the user's wallet on its
-- first credit.
CREATE OR REPLACE FUNCTION ledger._credit_user(
    p_type ledger.transaction_type, p_user_id text, p_asset_id text, p_amount numeric,
    p_description text, p_idempotency_key text, p_metadata jsonb, p_client_id text,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_asset   ledger.assets := ledger._asset_for_amount(p_asset_id, p_amount);
    v_client  text := ledger._checked_client(p_user_id, p_idempotency_key, p_metadata, p_client_id);
    v_amount  numeric := round(p_amount, v_asset.scale);
    v_tx      bigint;
    v_wallet  bigint;
    v_balance numeric;
    v_version bigint;
    v_slot    record;
BEGIN
    -- Claims the key; a concurrent holder of the same key makes this wait for its outcome.
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata)
    VALUES (p_type, v_client, p_idempotency_key, p_description, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        SELECT * INTO transaction_id, wallet_id, balance, replayed
        FROM ledger._replay(v_client, p_idempotency_key, p_type, p_user_id, p_asset_id, v_amount,
                            p_description, p_metadata);
        RETURN;
    END IF;

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

    v_slot := ledger._move_system_slot(v_asset, 'treasury', -v_amount);

    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
    VALUES (v_tx, v_slot.wallet_id, -v_amount, v_slot.balance_after, v_slot.version_after),
           (v_tx, v_wallet, v_amount, v_balance, v_version);

    transaction_id := v_tx;
    wallet_id := v_wallet;
    balance := v_balance;
    replayed := false;
END
$$;
REVOKE ALL ON FUNCTION ledger._credit_user(ledger.transaction_type, text, text, numeric, text, text, jsonb, text) FROM PUBLIC;

-- Immutability: transactions and entries are written once. Fires for every role, the owner's
-- included (only dropping the trigger, which needs ownership, gets past it).
CREATE OR REPLACE FUNCTION ledger._reject_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% on ledger.% is not allowed: ledger rows are immutable', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'WIMUT',
              HINT = 'correct a mistake with a new, compensating transaction';
END
$$;
REVOKE ALL ON FUNCTION ledger._reject_change() FROM PUBLIC;

CREATE OR REPLACE TRIGGER transactions_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger._reject_change();
CREATE OR REPLACE TRIGGER entries_are_immutable
    BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger._reject_change();

-- Double entry, enforced by the database: the entries one statement writes for a transaction
-- sum to zero, number at least two, and stay within one asset.
CREATE OR REPLACE FUNCTION ledger._check_entries_balance()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_bad bigint;
BEGIN
    SELECT n.transaction_id INTO v_bad
    FROM new_entries AS n
    JOIN ledger.wallets AS w ON w.id = n.wallet_id
    GROUP BY n.transaction_id
    HAVING sum(n.amount) <> 0 OR count(*) < 2 OR count(DISTINCT w.asset_id) <> 1
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entries of transaction % do not balance', v_bad USING ERRCODE = 'WUNBL';
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION ledger._check_entries_balance() FROM PUBLIC;

CREATE OR REPLACE TRIGGER entries_balance_per_transaction
    AFTER INSERT ON ledger.entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_entries_balance();
