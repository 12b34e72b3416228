-- The SQL API's money functions: the only way money moves. Each returns the transaction id, the
-- user's wallet id, that wallet's balance after the transaction, and whether the call was a
-- replay of an earlier one with the same idempotency key. See docs/sql-api.md.
--
-- p_client_id scopes the idempotency key: the HTTP service passes its API client's identity;
-- a direct SQL caller may leave it NULL and gets 'sql:<login role>'.

CREATE OR REPLACE FUNCTION api.topup(
    p_user_id text, p_asset_id text, p_amount numeric, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT * INTO transaction_id, wallet_id, balance, replayed
    FROM ledger._credit_user('topup', p_user_id, p_asset_id, p_amount, NULL, p_idempotency_key,
                             p_metadata, p_client_id);
END
$$;
COMMENT ON FUNCTION api.topup(text, text, numeric, text, jsonb, text) IS
    'Credits a user''s wallet from the asset''s Treasury (a purchase). Idempotent per client and key.';
REVOKE ALL ON FUNCTION api.topup(text, text, numeric, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.topup(text, text, numeric, text, jsonb, text) TO wallet_service;

CREATE OR REPLACE FUNCTION api.grant_bonus(
    p_user_id text, p_asset_id text, p_amount numeric, p_reason text, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT * INTO transaction_id, wallet_id, balance, replayed
    FROM ledger._credit_user('bonus', p_user_id, p_asset_id, p_amount,
                             ledger._checked_description(p_reason, 'reason'), p_idempotency_key,
                             p_metadata, p_client_id);
END
$$;
COMMENT ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text) IS
    'Credits a user''s wallet from the asset''s Treasury as a bonus (referral, reward); p_reason is required.';
REVOKE ALL ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.grant_bonus(text, text, numeric, text, text, jsonb, text) TO wallet_service;

-- Not granted to wallet_service: opening balances are written by the seed and by migrations of
-- balances from another system, run as the owner.
CREATE OR REPLACE FUNCTION api.open_balance(
    p_user_id text, p_asset_id text, p_amount numeric, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT * INTO transaction_id, wallet_id, balance, replayed
    FROM ledger._credit_user('opening_balance', p_user_id, p_asset_id, p_amount, NULL,
                             p_idempotency_key, p_metadata, p_client_id);
END
$$;
COMMENT ON FUNCTION api.open_balance(text, text, numeric, text, jsonb, text) IS
    'Credits an opening balance from the Treasury (seeding, imports). Owner only.';
REVOKE ALL ON FUNCTION api.open_balance(text, text, numeric, text, jsonb, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION api.spend(
    p_user_id text, p_asset_id text, p_amount numeric, p_description text, p_idempotency_key text,
    p_metadata jsonb DEFAULT '{}', p_client_id text DEFAULT NULL,
    OUT transaction_id bigint, OUT wallet_id bigint, OUT balance numeric, OUT replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_asset       ledger.assets := ledger._asset_for_amount(p_asset_id, p_amount);
    v_client      text := ledger._checked_client(p_user_id, p_idempotency_key, p_metadata, p_client_id);
    v_description text := ledger._checked_description(p_description, 'description');
    v_amount      numeric := round(p_amount, v_asset.scale);
    v_tx          bigint;
    v_wallet      bigint;
    v_balance     numeric;
    v_version     bigint;
    v_slot        record;
BEGIN
    INSERT INTO ledger.transactions AS t (type, client_id, idempotency_key, description, metadata)
    VALUES ('spend', v_client, p_idempotency_key, v_description, p_metadata)
    ON CONFLICT (client_id, idempotency_key) DO NOTHING
    RETURNING t.id INTO v_tx;
    IF v_tx IS NULL THEN
        SELECT * INTO transaction_id, wallet_id, balance, replayed
        FROM ledger._replay(v_client, p_idempotency_key, 'spend', p_user_id, p_asset_id, v_amount,
                            v_description, p_metadata);
        RETURN;
    END IF;

    -- The balance test is part of the UPDATE: a concurrent spend that commits first is seen
    -- when this one re-checks the locked row, so two spends can never both take the last coin.
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

    v_slot := ledger._move_system_slot(v_asset, 'revenue', v_amount);

    INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
    VALUES (v_tx, v_wallet, -v_amount, v_balance, v_version),
           (v_tx, v_slot.wallet_id, v_amount, v_slot.balance_after, v_slot.version_after);

    transaction_id := v_tx;
    wallet_id := v_wallet;
    balance := v_balance;
    replayed := false;
END
$$;
COMMENT ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text) IS
    'Debits a user''s wallet into the asset''s Revenue account; insufficient_funds (WFUND) when the balance does not cover it.';
REVOKE ALL ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.spend(text, text, numeric, text, text, jsonb, text) TO wallet_service;
