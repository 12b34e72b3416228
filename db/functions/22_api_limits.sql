-- Limits (issue 16, migration 0013): who sets them and how. ledger._check_limits enforces them on
-- the posting path (ledger._post, api.transfer); these functions only write the configuration and
-- keep ledger.assets.has_limits true exactly when the asset has a limit or any user override, so
-- that an asset without limits costs the posting path one boolean test.
--
-- Who: the owner and wallet_job (a trusted job, the `wallet limits` command), not the HTTP
-- service: a limit is the economy's configuration, not a player's request. Not idempotent by key:
-- each call states the whole configuration, so repeating it is harmless.
--
-- A new limit applies to postings that read the asset after the call commits (ledger._post reads
-- the asset without a lock, so a posting already running finishes under the old configuration).

-- A limit is NULL (none) or a finite amount above zero with at most the asset's decimal places.
CREATE OR REPLACE FUNCTION ledger._check_limit_value(p_asset ledger.assets, p_name text, p_value numeric)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_value IS NOT NULL AND (p_value = 'NaN' OR p_value <= 0 OR p_value >= 'Infinity'
                                OR round(p_value, p_asset.scale) <> p_value) THEN
        RAISE EXCEPTION 'invalid %: %', p_name, p_value
            USING ERRCODE = 'WLIMT',
                  HINT = format('a limit is NULL (none) or an amount above zero with at most %s decimal places',
                                p_asset.scale);
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._check_limit_value(ledger.assets, text, numeric) IS
    'A limit''s value: NULL (none) or a finite amount above zero with at most the asset''s decimal places, else WLIMT.';
REVOKE ALL ON FUNCTION ledger._check_limit_value(ledger.assets, text, numeric)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.set_asset_limits(
    p_asset_id text, p_max_balance numeric, p_daily_earn_limit numeric, p_daily_spend_limit numeric,
    p_day_time_zone text DEFAULT 'UTC')
RETURNS ledger.assets
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_asset ledger.assets;
BEGIN
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    PERFORM ledger._check_limit_value(v_asset, 'maximum balance', p_max_balance);
    PERFORM ledger._check_limit_value(v_asset, 'daily earn limit', p_daily_earn_limit);
    PERFORM ledger._check_limit_value(v_asset, 'daily spend limit', p_daily_spend_limit);
    IF p_day_time_zone IS NULL
       OR NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names AS z WHERE z.name = p_day_time_zone) THEN
        RAISE EXCEPTION 'unknown time zone %', coalesce(quote_literal(p_day_time_zone), 'NULL')
            USING ERRCODE = 'WLIMT', HINT = 'the day''s time zone is an IANA name, such as UTC or Europe/Paris';
    END IF;
    UPDATE ledger.assets AS a
    SET max_balance = p_max_balance, daily_earn_limit = p_daily_earn_limit,
        daily_spend_limit = p_daily_spend_limit, day_time_zone = p_day_time_zone,
        has_limits = p_max_balance IS NOT NULL OR p_daily_earn_limit IS NOT NULL
                     OR p_daily_spend_limit IS NOT NULL
                     OR EXISTS (SELECT FROM ledger.user_limits AS u WHERE u.asset_id = a.id)
    WHERE a.id = p_asset_id
    RETURNING * INTO v_asset;
    RETURN v_asset;
END
$$;
COMMENT ON FUNCTION api.set_asset_limits(text, numeric, numeric, numeric, text) IS
    'Sets an asset''s maximum balance, daily earn limit (top-ups, bonuses, transfers received) and daily spend limit (spends, transfers sent), each NULL for none, and the time zone of its day (IANA name, default UTC). Opening balances and reversals are exempt. Returns the asset. Raises WASST, WLIMT. Owner and wallet_job.';
REVOKE ALL ON FUNCTION api.set_asset_limits(text, numeric, numeric, numeric, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.set_asset_limits(text, numeric, numeric, numeric, text) TO wallet_job;

CREATE OR REPLACE FUNCTION api.set_user_limits(
    p_user_id text, p_asset_id text, p_max_balance numeric, p_daily_earn_limit numeric,
    p_daily_spend_limit numeric)
RETURNS ledger.user_limits
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_asset  ledger.assets;
    v_limits ledger.user_limits;
BEGIN
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    SELECT * INTO v_asset FROM ledger.assets AS a WHERE a.id = p_asset_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    PERFORM ledger._check_limit_value(v_asset, 'maximum balance', p_max_balance);
    PERFORM ledger._check_limit_value(v_asset, 'daily earn limit', p_daily_earn_limit);
    PERFORM ledger._check_limit_value(v_asset, 'daily spend limit', p_daily_spend_limit);
    INSERT INTO ledger.user_limits AS u (user_id, asset_id, max_balance, daily_earn_limit, daily_spend_limit)
    VALUES (p_user_id, p_asset_id, p_max_balance, p_daily_earn_limit, p_daily_spend_limit)
    ON CONFLICT (user_id, asset_id) DO UPDATE
        SET max_balance = excluded.max_balance, daily_earn_limit = excluded.daily_earn_limit,
            daily_spend_limit = excluded.daily_spend_limit, updated_at = now()
    RETURNING * INTO v_limits;
    UPDATE ledger.assets AS a SET has_limits = true WHERE a.id = p_asset_id AND NOT a.has_limits;
    RETURN v_limits;
END
$$;
COMMENT ON FUNCTION api.set_user_limits(text, text, numeric, numeric, numeric) IS
    'Sets one user''s limits for an asset, which replace the asset''s three limits for that user (each NULL: no limit for this user). Returns the override. Raises WUSER, WASST, WLIMT. Owner and wallet_job.';
REVOKE ALL ON FUNCTION api.set_user_limits(text, text, numeric, numeric, numeric)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.set_user_limits(text, text, numeric, numeric, numeric) TO wallet_job;

CREATE OR REPLACE FUNCTION api.clear_user_limits(p_user_id text, p_asset_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_found boolean;
BEGIN
    PERFORM FROM ledger.assets AS a WHERE a.id = p_asset_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', coalesce(quote_literal(p_asset_id), 'NULL')
            USING ERRCODE = 'WASST';
    END IF;
    DELETE FROM ledger.user_limits AS u WHERE u.user_id = p_user_id AND u.asset_id = p_asset_id;
    v_found := FOUND;
    UPDATE ledger.assets AS a
    SET has_limits = a.max_balance IS NOT NULL OR a.daily_earn_limit IS NOT NULL
                     OR a.daily_spend_limit IS NOT NULL
                     OR EXISTS (SELECT FROM ledger.user_limits AS u WHERE u.asset_id = a.id)
    WHERE a.id = p_asset_id;
    RETURN v_found;
END
$$;
COMMENT ON FUNCTION api.clear_user_limits(text, text) IS
    'Removes one user''s override for an asset, so the asset''s limits apply to them again; true if there was one. Raises WASST. Owner and wallet_job.';
REVOKE ALL ON FUNCTION api.clear_user_limits(text, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.clear_user_limits(text, text) TO wallet_job;

-- A user's limits as the posting path applies them (the override, else the asset's) and what the
-- day has used of them so far, per asset: for the HTTP layer and the coming `wallet limits show`.
-- A read, so granted like api.balances. Usage of an earlier day reads as 0, as the posting path
-- counts it; it is counted only while the asset has limits.
CREATE OR REPLACE FUNCTION api.limits(p_user_id text, p_asset_id text DEFAULT NULL)
RETURNS TABLE (asset_id text, source text, max_balance numeric, daily_earn_limit numeric,
               daily_spend_limit numeric, day_time_zone text, earned_today numeric,
               spent_today numeric, resets_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id %', coalesce(quote_literal(left(p_user_id, 140)), 'NULL')
            USING ERRCODE = 'WUSER',
                  HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    RETURN QUERY
    SELECT a.id,
           CASE WHEN u.user_id IS NOT NULL THEN 'user' WHEN a.has_limits THEN 'asset' ELSE 'none' END,
           round(CASE WHEN u.user_id IS NOT NULL THEN u.max_balance ELSE a.max_balance END, a.scale),
           round(CASE WHEN u.user_id IS NOT NULL THEN u.daily_earn_limit ELSE a.daily_earn_limit END, a.scale),
           round(CASE WHEN u.user_id IS NOT NULL THEN u.daily_spend_limit ELSE a.daily_spend_limit END, a.scale),
           a.day_time_zone,
           round(CASE WHEN w.usage_day = d.today THEN coalesce(w.earned_today, 0) ELSE 0 END, a.scale),
           round(CASE WHEN w.usage_day = d.today THEN coalesce(w.spent_today, 0) ELSE 0 END, a.scale),
           (d.today + 1)::timestamp AT TIME ZONE a.day_time_zone
    FROM ledger.assets AS a
    CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE a.day_time_zone)::date AS today) AS d
    LEFT JOIN ledger.user_limits AS u ON u.user_id = p_user_id AND u.asset_id = a.id
    LEFT JOIN ledger.wallets AS w ON w.owner_id = p_user_id AND w.asset_id = a.id
    WHERE p_asset_id IS NULL OR a.id = p_asset_id
    ORDER BY a.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', quote_literal(p_asset_id) USING ERRCODE = 'WASST';
    END IF;
END
$$;
COMMENT ON FUNCTION api.limits(text, text) IS
    'A user''s limits per asset (every asset, or only p_asset_id) as postings apply them: source ''user'' (the override), ''asset'' or ''none''; the three limits (NULL: none), the day''s time zone, what today has earned and spent under limits, and when the day resets. Raises WUSER, WASST.';
REVOKE ALL ON FUNCTION api.limits(text, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.limits(text, text) TO wallet_service, wallet_job, wallet_auditor;

-- The assets' own limits (those of every user without an override) and how many overrides each
-- has: for operators and jobs, who may not read ledger.assets and ledger.user_limits themselves.
CREATE OR REPLACE FUNCTION api.asset_limits(p_asset_id text DEFAULT NULL)
RETURNS TABLE (asset_id text, has_limits boolean, max_balance numeric, daily_earn_limit numeric,
               daily_spend_limit numeric, day_time_zone text, overrides bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT a.id, a.has_limits, round(a.max_balance, a.scale), round(a.daily_earn_limit, a.scale),
           round(a.daily_spend_limit, a.scale), a.day_time_zone,
           (SELECT count(*) FROM ledger.user_limits AS u WHERE u.asset_id = a.id)
    FROM ledger.assets AS a
    WHERE p_asset_id IS NULL OR a.id = p_asset_id
    ORDER BY a.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', quote_literal(p_asset_id) USING ERRCODE = 'WASST';
    END IF;
END
$$;
COMMENT ON FUNCTION api.asset_limits(text) IS
    'Every asset''s (or only p_asset_id''s) own limits, which apply to users without an override (NULL: none), the time zone of its day, has_limits, and how many users have an override for it. Raises WASST.';
REVOKE ALL ON FUNCTION api.asset_limits(text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.asset_limits(text) TO wallet_job, wallet_auditor;

-- The users' overrides, of every asset or one, by asset then user.
CREATE OR REPLACE FUNCTION api.limit_overrides(p_asset_id text DEFAULT NULL)
RETURNS TABLE (user_id text, asset_id text, max_balance numeric, daily_earn_limit numeric,
               daily_spend_limit numeric, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_asset_id IS NOT NULL AND NOT EXISTS (SELECT FROM ledger.assets AS a WHERE a.id = p_asset_id) THEN
        RAISE EXCEPTION 'unknown asset %', quote_literal(p_asset_id) USING ERRCODE = 'WASST';
    END IF;
    RETURN QUERY
    SELECT u.user_id::text, u.asset_id::text, round(u.max_balance, a.scale), round(u.daily_earn_limit, a.scale),
           round(u.daily_spend_limit, a.scale), u.updated_at
    FROM ledger.user_limits AS u
    JOIN ledger.assets AS a ON a.id = u.asset_id
    WHERE p_asset_id IS NULL OR u.asset_id = p_asset_id
    ORDER BY u.asset_id, u.user_id;
END
$$;
COMMENT ON FUNCTION api.limit_overrides(text) IS
    'The users'' overrides (api.set_user_limits) of every asset or only p_asset_id, by asset then user: each replaces the asset''s three limits for its user (NULL: no limit). Raises WASST.';
REVOKE ALL ON FUNCTION api.limit_overrides(text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.limit_overrides(text) TO wallet_job, wallet_auditor;
