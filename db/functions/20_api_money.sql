-- The SQL API's money functions: the only way money moves. Each returns one row (ledger.posting):
-- the transaction id, the user's wallet id, that wallet's balance after the transaction, and
-- whether the call was a replay of an earlier one with the same idempotency key. All four are
-- thin doors to ledger._post, which holds the logic and the lock order. See docs/sql-api.md.
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
