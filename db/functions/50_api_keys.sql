-- API keys of the HTTP service. People manage them as the owner (`wallet keys create|list|revoke`);
-- the service reads the active ones into memory with api.active_api_keys(), and reloads them on
-- every NOTIFY on channel wallet_api_keys (sent by create and revoke, delivered at commit) and
-- every few seconds in case a notification was missed. Only a key's SHA-256 digest is stored.

-- A key's row is kept for good, and changes only by its revocation: its name scopes its clients'
-- idempotency keys (client api:<name>), so a key deleted or renamed would let a new key of that
-- name inherit them (replays of requests it never made, WIDEM on its own). DELETE and TRUNCATE
-- are refused, and an UPDATE may only set revoked_at where it is NULL (or leave the row as it
-- is, as revoking a revoked key does). For every role, the owner included.
CREATE OR REPLACE FUNCTION ledger._check_api_key_change()
RETURNS trigger
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% on ledger.api_keys is not allowed: API keys are never deleted', TG_OP
            USING ERRCODE = 'WIMUT',
                  HINT = 'revoke the key instead (wallet keys revoke NAME); its name stays taken';
    END IF;
    IF to_jsonb(NEW) - 'revoked_at' <> to_jsonb(OLD) - 'revoked_at'
       OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
        RAISE EXCEPTION 'API key % can only be revoked, once', quote_literal(OLD.name)
            USING ERRCODE = 'WIMUT',
                  HINT = 'a key''s name, digest, prefix, scopes and creation time are fixed, and a '
                         'revocation is final: create a new key under a new name instead';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION ledger._check_api_key_change() IS
    'Trigger function of api_keys_are_kept and api_keys_change_only_by_revocation: DELETE and TRUNCATE of API keys, and any UPDATE but setting a NULL revoked_at, raise WIMUT, for every role, the owner included.';
REVOKE ALL ON FUNCTION ledger._check_api_key_change()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

SELECT deploy.ensure_trigger(
    'CREATE TRIGGER api_keys_are_kept BEFORE DELETE OR TRUNCATE ON ledger.api_keys '
    'FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_api_key_change()');
SELECT deploy.ensure_trigger(
    'CREATE TRIGGER api_keys_change_only_by_revocation BEFORE UPDATE ON ledger.api_keys '
    'FOR EACH ROW EXECUTE FUNCTION ledger._check_api_key_change()');

-- p_key_hash is the key's SHA-256 digest, p_key_prefix its first characters (for listings); the
-- key itself never reaches the database. Scopes come back de-duplicated and sorted.
CREATE OR REPLACE FUNCTION api.create_api_key(
    p_name text, p_scopes text[], p_key_hash bytea, p_key_prefix text)
RETURNS TABLE (name text, key_prefix text, scopes text[], created_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_known  CONSTANT text[] := ledger._api_scopes();
    v_scopes text[];
BEGIN
    IF NOT ledger._valid_api_key_name(p_name) THEN
        RAISE EXCEPTION 'invalid API key name %', coalesce(quote_literal(left(p_name, 80)), 'NULL')
            USING ERRCODE = 'WKNAM',
                  HINT = 'a key name is 1 to 64 characters of letters, digits and ._-';
    END IF;
    SELECT array_agg(DISTINCT s.scope COLLATE "C" ORDER BY s.scope COLLATE "C")
    INTO v_scopes
    FROM unnest(p_scopes) AS s (scope);
    -- NULL when there is no scope; a NULL scope is contained in nothing, so it fails <@ as well
    IF v_scopes IS NULL OR NOT v_scopes <@ v_known THEN
        RAISE EXCEPTION 'invalid scopes %', coalesce(left(p_scopes::text, 200), 'NULL')
            USING ERRCODE = 'WKSCP',
                  HINT = 'give one or more of ' || array_to_string(v_known, ', ');
    END IF;
    -- ON CONFLICT rather than a look-up first: a concurrent create of the same name waits for
    -- the other transaction and then answers WKDUP instead of a unique violation.
    RETURN QUERY
    INSERT INTO ledger.api_keys AS k (name, key_hash, key_prefix, scopes)
    VALUES (p_name, p_key_hash, p_key_prefix, v_scopes)
    ON CONFLICT ON CONSTRAINT api_keys_name_unique DO NOTHING
    RETURNING k.name, k.key_prefix, k.scopes, k.created_at;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'an API key named % exists already', quote_literal(p_name)
            USING ERRCODE = 'WKDUP',
                  HINT = 'names are never reused, not even after a revocation: choose another';
    END IF;
    PERFORM pg_catalog.pg_notify('wallet_api_keys', p_name);
END
$$;
COMMENT ON FUNCTION api.create_api_key(text, text[], bytea, text) IS
    'Registers an API key by its SHA-256 digest; names are unique forever. Owner only.';
REVOKE ALL ON FUNCTION api.create_api_key(text, text[], bytea, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Revoking twice is not an error: the key keeps, and the call returns, its first revoked_at.
CREATE OR REPLACE FUNCTION api.revoke_api_key(p_name text)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_revoked_at timestamptz;
BEGIN
    UPDATE ledger.api_keys AS k
    SET revoked_at = coalesce(k.revoked_at, pg_catalog.now())
    WHERE k.name = p_name
    RETURNING k.revoked_at INTO v_revoked_at;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no API key is named %', coalesce(quote_literal(left(p_name, 80)), 'NULL')
            USING ERRCODE = 'WKNOF';
    END IF;
    PERFORM pg_catalog.pg_notify('wallet_api_keys', p_name);
    RETURN v_revoked_at;
END
$$;
COMMENT ON FUNCTION api.revoke_api_key(text) IS
    'Revokes an API key for good (its name stays taken); returns when it was revoked. Owner only.';
REVOKE ALL ON FUNCTION api.revoke_api_key(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.list_api_keys()
RETURNS TABLE (name text, key_prefix text, scopes text[], created_at timestamptz,
               revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.name, k.key_prefix, k.scopes, k.created_at, k.revoked_at
    FROM ledger.api_keys AS k
    ORDER BY k.name;
$$;
COMMENT ON FUNCTION api.list_api_keys() IS
    'Every API key, revoked ones included, by name: prefix, scopes and dates, never the digest.';
REVOKE ALL ON FUNCTION api.list_api_keys() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.list_api_keys() TO wallet_auditor;

-- The service's only door to the keys: it can learn which digests are valid, and change nothing.
CREATE OR REPLACE FUNCTION api.active_api_keys()
RETURNS TABLE (key_hash bytea, name text, scopes text[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.key_hash, k.name, k.scopes
    FROM ledger.api_keys AS k
    WHERE k.revoked_at IS NULL
    ORDER BY k.name;
$$;
COMMENT ON FUNCTION api.active_api_keys() IS
    'The digest, name and scopes of every API key not revoked, for the HTTP service to load.';
REVOKE ALL ON FUNCTION api.active_api_keys()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.active_api_keys() TO wallet_service;
