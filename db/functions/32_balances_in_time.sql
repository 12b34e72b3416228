-- Balances in time and statements (issue 18). A moment splits every wallet's history into a prefix
-- of its versions: the entries posted at or before it, and the rest.
--
-- Why a prefix, found by binary search over wallet_version (~20 index probes for a wallet of
-- 1,000,000 entries, no index of its own, so nothing added to a posting):
-- * An entry's posted_at is one clock reading per transaction, taken after all its locks
--   (db/CONVENTIONS.md, "Lock order", step 4); the next version of a wallet is written by a call
--   that got the wallet's row lock after this one committed, so along a wallet's versions
--   posted_at never decreases (sql_tests/80_invariants.sql checks every wallet's history, and
--   tests/ledger/test_concurrency.py one raced by concurrent postings of every kind).
-- * Entries from before migration 0008 have posted_at NULL and come first in each wallet's
--   history (every posting since writes posted_at). Their time is their transaction's
--   created_at, which is now(): when its database transaction *began*, before it waited for
--   its locks. So two of them raced on one wallet may be out of version order by the wait, and
--   a binary search over them could miss one. A moment before a wallet's first posted_at is
--   therefore placed by reading those entries in version order up to the first one after it
--   (ledger._version_at): exact, and a cost bounded by that wallet's history from before 0008,
--   which never grows. Such an entry counts from the latest of its own time and every earlier
--   version's: a moment cuts the history once, so opening + credits - debits = closing holds.
-- * Every posting since 0008 comes after all of them: the first one's transaction began before
--   it committed, which was before the next one took the lock and read the clock.
-- Should the database's clock ever step back (an NTP step), posted_at could decrease in a wallet:
-- the search then still cuts each history once (a statement still adds up), but may place an
-- entry posted in that step on the wrong side of a moment inside it; the invariant above says so.

-- The wallet's version at p_at: the number of its entries (the first ones, by version) posted at
-- or before p_at, 0 for none. p_version is the wallet's current version, read by the caller in
-- the same snapshot. Binary search for the last version v whose entry has posted_at <= p_at or
-- NULL (true for a prefix, false after it), one probe of entries_one_per_wallet_version each;
-- then, if v's entry is from before migration 0008, the scan of those (above).
CREATE OR REPLACE FUNCTION ledger._version_at(p_wallet_id bigint, p_version bigint, p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lo     bigint := 0;          -- its entry was posted at or before p_at (0: none is)
    v_hi     bigint := coalesce(p_version, 0);  -- no version above this one was
    v_mid    bigint;
    v_posted timestamptz;
    v_legacy boolean := false;     -- v_lo's entry is from before migration 0008
    v_after  bigint;
BEGIN
    WHILE v_lo < v_hi LOOP
        v_mid := v_hi - (v_hi - v_lo) / 2;  -- the upper middle: v_lo always moves
        SELECT e.posted_at INTO v_posted
        FROM ledger.entries AS e
        WHERE e.wallet_id = p_wallet_id AND e.wallet_version = v_mid;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'wallet % has no entry at version % (see api.wallet_drift)', p_wallet_id, v_mid;
        END IF;
        IF v_posted IS NULL OR v_posted <= p_at THEN
            v_lo := v_mid;
            v_legacy := v_posted IS NULL;
        ELSE
            v_hi := v_mid - 1;
        END IF;
    END LOOP;
    IF v_legacy THEN
        -- v_lo is the last entry from before 0008, and p_at is before every later one
        SELECT e.wallet_version INTO v_after
        FROM ledger.entries AS e
        JOIN ledger.transactions AS t ON t.id = e.transaction_id
        WHERE e.wallet_id = p_wallet_id AND e.wallet_version BETWEEN 1 AND v_lo AND t.created_at > p_at
        ORDER BY e.wallet_version
        LIMIT 1;
        IF FOUND THEN
            RETURN v_after - 1;
        END IF;
    END IF;
    RETURN v_lo;
END
$$;
COMMENT ON FUNCTION ledger._version_at(bigint, bigint, timestamptz) IS
    'How many of the wallet''s entries, the first ones by version, were posted at or before p_at (p_version: the wallet''s version): a binary search over wallet_version by posted_at, which never decreases along a wallet''s versions; a moment before the wallet''s first posted_at reads its entries from before migration 0008 in order (their created_at is when their transaction began, not when it posted).';
REVOKE ALL ON FUNCTION ledger._version_at(bigint, bigint, timestamptz) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

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

-- A user's balances as they were at p_at, in api.balances' shape but for held: every asset (or
-- one), 0.00 where the wallet had no entry yet or did not exist; version is the wallet's version
-- then, updated_at the time of the entry that made it (NULL for none). Holds are not kept in time
-- here (ledger.holds' index covers the open ones only): balance is what the user could spend.
CREATE OR REPLACE FUNCTION api.balances_at(p_user_id text, p_at timestamptz, p_asset_id text DEFAULT NULL)
RETURNS TABLE (asset_id text, asset_code text, asset_name text, wallet_id bigint,
               balance numeric, version bigint, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id' USING ERRCODE = 'WUSER',
            HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    PERFORM ledger._check_moment(p_at, 'p_at');
    RETURN QUERY
    SELECT a.id, a.code, a.name, w.id, round(coalesce(e.balance_after, 0), a.scale),
           coalesce(v.version, 0), coalesce(e.posted_at, t.created_at)
    FROM ledger.assets AS a
    LEFT JOIN ledger.wallets AS w ON w.owner_id = p_user_id AND w.asset_id = a.id
    LEFT JOIN LATERAL (SELECT ledger._version_at(w.id, w.version::bigint, p_at) AS version
                       WHERE w.id IS NOT NULL) AS v ON true
    LEFT JOIN ledger.entries AS e ON e.wallet_id = w.id AND e.wallet_version = v.version
    LEFT JOIN ledger.transactions AS t ON e.posted_at IS NULL AND t.id = e.transaction_id
    WHERE p_asset_id IS NULL OR a.id = p_asset_id
    ORDER BY a.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', quote_literal(p_asset_id) USING ERRCODE = 'WASST';
    END IF;
END
$$;
COMMENT ON FUNCTION api.balances_at(text, timestamptz, text) IS
    'A user''s balances as they were at p_at (a moment in the past, else 22023): every asset, or only p_asset_id (else WASST); each wallet''s balance and version after its entries posted at or before p_at, and when the last of them was posted (NULL: none). No holds: balance is what the user could spend then. WUSER for an invalid user id.';
REVOKE ALL ON FUNCTION api.balances_at(text, timestamptz, text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.balances_at(text, timestamptz, text) TO wallet_service, wallet_job, wallet_auditor;

-- A wallet's statement for the period after p_from up to p_to, in one call: the wallet, the
-- versions and balances at both ends (opening + credits - debits = closing, exactly: the period
-- is the versions (opening_version, closing_version]), and one page of the period's entries,
-- newest first, as the ledger pages (api.ledger_page): p_before_version is the wallet_version of
-- the last entry already seen (a page's next_cursor), and next_cursor is NULL on the last page.
-- The sums (credits, debits and by_type) read the whole period, so they come with the first page
-- only (p_before_version NULL) and are NULL on the pages after it: paging through a long period
-- costs a page each, not the period again and again. Everything else costs ~20 index probes per
-- end and a page, at any depth.
-- p_limit's DEFAULT 50 is ledger._page_limit_default() written out (as api.ledger_page's).
CREATE OR REPLACE FUNCTION api.statement(
    p_wallet_id bigint, p_from timestamptz, p_to timestamptz, p_limit integer DEFAULT 50,
    p_before_version bigint DEFAULT NULL,
    OUT wallet_id bigint, OUT owner_type text, OUT user_id text, OUT asset_id text,
    OUT opening_version bigint, OUT closing_version bigint,
    OUT opening numeric, OUT credits numeric, OUT debits numeric, OUT closing numeric,
    OUT by_type jsonb, OUT entries ledger.ledger_line[], OUT next_cursor bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_wallet ledger.wallets;
    v_scale  integer;
    v_lines  ledger.ledger_line[];
BEGIN
    PERFORM ledger._check_moment(p_from, 'p_from');
    PERFORM ledger._check_moment(p_to, 'p_to');
    IF p_to < p_from THEN
        RAISE EXCEPTION 'p_to (%) is before p_from (%)', p_to, p_from USING ERRCODE = '22023';
    END IF;
    PERFORM ledger._check_page(p_limit, 0, p_before_version);
    SELECT * INTO v_wallet FROM ledger.wallets AS w WHERE w.id = p_wallet_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet % not found', coalesce(p_wallet_id::text, 'NULL') USING ERRCODE = 'WWALT';
    END IF;
    SELECT a.scale INTO v_scale FROM ledger.assets AS a WHERE a.id = v_wallet.asset_id;
    wallet_id := v_wallet.id;
    owner_type := CASE WHEN v_wallet.kind = 'user' THEN 'user' ELSE 'system' END;
    user_id := v_wallet.owner_id;
    asset_id := v_wallet.asset_id;
    opening_version := ledger._version_at(v_wallet.id, v_wallet.version, p_from);
    closing_version := ledger._version_at(v_wallet.id, v_wallet.version, p_to);
    SELECT round(coalesce(max(e.balance_after) FILTER (WHERE e.wallet_version = opening_version), 0), v_scale),
           round(coalesce(max(e.balance_after) FILTER (WHERE e.wallet_version = closing_version), 0), v_scale)
    INTO opening, closing
    FROM ledger.entries AS e
    WHERE e.wallet_id = v_wallet.id AND e.wallet_version IN (opening_version, closing_version);
    IF p_before_version IS NULL THEN
        SELECT round(coalesce(sum(x.credits), 0), v_scale), round(coalesce(sum(x.debits), 0), v_scale),
               coalesce(jsonb_object_agg(x.type, jsonb_build_object(
                            'credits', round(x.credits, v_scale)::text,
                            'debits', round(x.debits, v_scale)::text, 'count', x.n)), '{}')
        INTO credits, debits, by_type
        FROM (SELECT t.type::text AS type,
                     coalesce(sum(e.amount) FILTER (WHERE e.amount > 0), 0) AS credits,
                     coalesce(-sum(e.amount) FILTER (WHERE e.amount < 0), 0) AS debits, count(*) AS n
              FROM ledger.entries AS e
              JOIN ledger.transactions AS t ON t.id = e.transaction_id
              WHERE e.wallet_id = v_wallet.id
                AND e.wallet_version > opening_version AND e.wallet_version <= closing_version
              GROUP BY t.type) AS x;
    END IF;
    -- one row more than asked tells whether another page follows; the lines below the period
    -- (versions up to opening_version) are the only ones dropped, at the end of the range
    SELECT array_agg(l ORDER BY l.wallet_version DESC) INTO v_lines
    FROM ledger._wallet_lines(v_wallet.id, p_limit + 1, 0,
                              least(coalesce(p_before_version, closing_version + 1), closing_version + 1)) AS l
    WHERE l.wallet_version > opening_version;
    SELECT p.entries, p.next_cursor INTO entries, next_cursor FROM ledger._page_of(v_lines, p_limit) AS p;
END
$$;
COMMENT ON FUNCTION api.statement(bigint, timestamptz, timestamptz, integer, bigint) IS
    'A wallet''s statement for the period after p_from up to p_to (moments in the past, p_to not before p_from, else 22023; no such wallet: WWALT; a bad page: WPAGE): the wallet, its versions and balances at both ends (opening + credits - debits = closing, exactly), the credits, debits and the same per transaction type (first page only, p_before_version NULL; NULL after it), and one page of the period''s entries, newest first, with the cursor of the next page (NULL on the last).';
REVOKE ALL ON FUNCTION api.statement(bigint, timestamptz, timestamptz, integer, bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.statement(bigint, timestamptz, timestamptz, integer, bigint) TO wallet_service, wallet_job, wallet_auditor;
