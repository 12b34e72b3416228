-- Balances in time and statements (issue 18, work in progress). A moment splits every wallet's
-- history exactly: an entry's posted_at is one clock reading per transaction taken after all its
-- locks (migration 0008), so along a wallet's versions it never decreases; entries from before
-- 0008 have posted_at NULL and count at their transaction's created_at.

CREATE OR REPLACE FUNCTION ledger._posted_before(p_wallet_id bigint, p_at timestamptz)
RETURNS TABLE (balance numeric, version bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT e.balance_after, e.wallet_version::bigint
FROM ledger.entries AS e
LEFT JOIN ledger.transactions AS t ON e.posted_at IS NULL AND t.id = e.transaction_id
WHERE e.wallet_id = p_wallet_id AND coalesce(e.posted_at, t.created_at) <= p_at
ORDER BY e.wallet_version DESC
LIMIT 1
$$;
COMMENT ON FUNCTION ledger._posted_before(bigint, timestamptz) IS
    'The wallet''s balance and version right after its last entry posted at or before p_at (no row: none was).';
REVOKE ALL ON FUNCTION ledger._posted_before(bigint, timestamptz) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._check_moment(p_at timestamptz, p_name text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_at IS NULL OR p_at > clock_timestamp() OR p_at = 'infinity' OR p_at = '-infinity' THEN
        RAISE EXCEPTION '% is a moment in the past, not %', p_name, coalesce(p_at::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._check_moment(timestamptz, text) IS
    'Raises 22023 naming p_name unless p_at is a finite moment not after the clock.';
REVOKE ALL ON FUNCTION ledger._check_moment(timestamptz, text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A user's balances as they were at p_at: every asset's wallet (or one), 0.00 where the wallet had
-- no entry yet.
CREATE OR REPLACE FUNCTION api.balances_at(p_user_id text, p_at timestamptz, p_asset_id text DEFAULT NULL)
RETURNS TABLE (asset_id text, wallet_id bigint, balance numeric, version bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ledger._check_moment(p_at, 'p_at');
    RETURN QUERY
    SELECT w.asset_id::text, w.id, round(coalesce(b.balance, 0), a.scale), coalesce(b.version, 0)
    FROM ledger.wallets AS w
    JOIN ledger.assets AS a ON a.id = w.asset_id
    LEFT JOIN LATERAL ledger._posted_before(w.id, p_at) AS b ON true
    WHERE w.owner_id = p_user_id AND w.kind = 'user' AND (p_asset_id IS NULL OR w.asset_id = p_asset_id)
    ORDER BY w.asset_id;
END
$$;
COMMENT ON FUNCTION api.balances_at(text, timestamptz, text) IS
    'A user''s balances as they were at p_at (a moment in the past, else 22023), per asset (or p_asset_id''s only): each wallet''s balance after its last entry posted at or before p_at.';
REVOKE ALL ON FUNCTION api.balances_at(text, timestamptz, text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.balances_at(text, timestamptz, text) TO wallet_service, wallet_job, wallet_auditor;

-- A wallet's statement for [p_from, p_to): opening + credits - debits = closing, exactly, and the
-- same per transaction type.
CREATE OR REPLACE FUNCTION api.statement(p_wallet_id bigint, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (wallet_id bigint, user_id text, asset_id text, opening numeric, credits numeric,
               debits numeric, closing numeric, by_type jsonb)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_wallet ledger.wallets;
    v_scale  integer;
BEGIN
    PERFORM ledger._check_moment(p_to, 'p_to');
    PERFORM ledger._check_moment(p_from, 'p_from');
    IF p_to < p_from THEN
        RAISE EXCEPTION 'p_to (%) is before p_from (%)', p_to, p_from USING ERRCODE = '22023';
    END IF;
    SELECT * INTO v_wallet FROM ledger.wallets AS w WHERE w.id = p_wallet_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet % not found', p_wallet_id USING ERRCODE = 'WWALT';
    END IF;
    SELECT a.scale INTO v_scale FROM ledger.assets AS a WHERE a.id = v_wallet.asset_id;
    RETURN QUERY
    WITH period AS (
        SELECT e.amount, t.type::text AS type
        FROM ledger.entries AS e
        JOIN ledger.transactions AS t ON t.id = e.transaction_id
        WHERE e.wallet_id = p_wallet_id
          AND coalesce(e.posted_at, t.created_at) > p_from AND coalesce(e.posted_at, t.created_at) <= p_to
    )
    SELECT v_wallet.id, CASE WHEN v_wallet.kind = 'user' THEN v_wallet.owner_id::text END, v_wallet.asset_id::text,
           round(coalesce((SELECT b.balance FROM ledger._posted_before(p_wallet_id, p_from) AS b), 0), v_scale),
           round(coalesce((SELECT sum(p.amount) FROM period AS p WHERE p.amount > 0), 0), v_scale),
           round(coalesce((SELECT -sum(p.amount) FROM period AS p WHERE p.amount < 0), 0), v_scale),
           round(coalesce((SELECT b.balance FROM ledger._posted_before(p_wallet_id, p_to) AS b), 0), v_scale),
           coalesce((SELECT jsonb_object_agg(x.type, jsonb_build_object(
                                 'credits', round(x.credits, v_scale)::text, 'debits', round(x.debits, v_scale)::text,
                                 'count', x.n))
                     FROM (SELECT p.type, coalesce(sum(p.amount) FILTER (WHERE p.amount > 0), 0) AS credits,
                                  coalesce(-sum(p.amount) FILTER (WHERE p.amount < 0), 0) AS debits, count(*) AS n
                           FROM period AS p GROUP BY p.type) AS x), '{}'::jsonb);
END
$$;
COMMENT ON FUNCTION api.statement(bigint, timestamptz, timestamptz) IS
    'A wallet''s statement for the period after p_from up to p_to (moments in the past, p_to not before p_from, else 22023; no such wallet: WWALT): opening (the balance at p_from), credits, debits, closing (at p_to), with opening + credits - debits = closing, and the same per transaction type.';
REVOKE ALL ON FUNCTION api.statement(bigint, timestamptz, timestamptz) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.statement(bigint, timestamptz, timestamptz) TO wallet_service, wallet_job, wallet_auditor;
