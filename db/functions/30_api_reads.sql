-- The SQL API's reads: balances, a wallet's ledger, one transaction. Amounts come back rounded to
-- their asset's decimal places, so "100" is always shown as 100.00 for a 2-place asset.

-- A user's balance in every asset (or one): a user without a wallet in an asset holds 0 there
-- (wallet_id NULL), which is not an error. An unknown p_asset_id is unknown_asset (WASST).
-- Issue 16 added the last column, held. CREATE OR REPLACE cannot change a function's columns, so
-- the older one is dropped first, in the same transaction as its replacement (as
-- api.get_transaction's below; once every database has the new one, this block does nothing).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_proc
               WHERE oid = to_regprocedure('api.balances(text,text)')
                 AND NOT 'held' = ANY (proargnames)) THEN
        DROP FUNCTION api.balances(text, text);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION api.balances(p_user_id text, p_asset_id text DEFAULT NULL)
RETURNS TABLE (asset_id text, asset_code text, asset_name text, wallet_id bigint,
               balance numeric, version bigint, updated_at timestamptz, held numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT ledger._valid_user_id(p_user_id) THEN
        RAISE EXCEPTION 'invalid user id' USING ERRCODE = 'WUSER',
            HINT = 'a user id is 1 to 128 characters of letters, digits and ._:@-';
    END IF;
    RETURN QUERY
    SELECT a.id, a.code, a.name, w.id, round(coalesce(w.balance, 0), a.scale),
           coalesce(w.version::bigint, 0), w.updated_at,
           -- the wallet's open holds (holds_by_wallet), expired ones not yet swept included:
           -- their money is in the holds account until the sweep gives it back
           round(coalesce((SELECT sum(h.amount) FROM ledger.holds AS h
                           WHERE h.wallet_id = w.id AND h.status = 'open'), 0), a.scale)
    FROM ledger.assets AS a
    LEFT JOIN ledger.wallets AS w ON w.owner_id = p_user_id AND w.asset_id = a.id
    WHERE p_asset_id IS NULL OR a.id = p_asset_id
    ORDER BY a.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown asset %', quote_literal(p_asset_id) USING ERRCODE = 'WASST';
    END IF;
END
$$;
COMMENT ON FUNCTION api.balances(text, text) IS
    'A user''s balances: every asset, or only p_asset_id. No wallet means a balance of 0. balance is what the user can spend now; held is the sum of the wallet''s open holds (until the sweep releases an expired one).';
REVOKE ALL ON FUNCTION api.balances(text, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.balances(text, text) TO wallet_service, wallet_job, wallet_auditor;

-- One wallet: a user's, or one slot of a system account (owner_type 'system', account named).
CREATE OR REPLACE FUNCTION api.wallet(p_wallet_id bigint)
RETURNS TABLE (wallet_id bigint, owner_type text, user_id text, account text, asset_id text,
               balance numeric, version bigint, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT w.id, CASE WHEN w.kind = 'user' THEN 'user' ELSE 'system' END, w.owner_id::text,
           CASE WHEN w.kind = 'user' THEN NULL ELSE w.kind::text || '#' || w.slot END,
           w.asset_id, round(w.balance, a.scale), w.version::bigint, w.created_at, w.updated_at
    FROM ledger.wallets AS w
    JOIN ledger.assets AS a ON a.id = w.asset_id
    WHERE w.id = p_wallet_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wallet % not found', coalesce(p_wallet_id::text, 'NULL')
            USING ERRCODE = 'WWALT';
    END IF;
END
$$;
COMMENT ON FUNCTION api.wallet(bigint) IS 'One wallet''s owner, asset, balance and version.';
REVOKE ALL ON FUNCTION api.wallet(bigint) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.wallet(bigint) TO wallet_service, wallet_job, wallet_auditor;

-- Paging arguments shared by the two ledger readers.
CREATE OR REPLACE FUNCTION ledger._check_page(p_limit integer, p_offset integer, p_before_version bigint)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND ledger._page_limit_max() THEN
        RAISE EXCEPTION 'limit must be between 1 and %', ledger._page_limit_max() USING ERRCODE = 'WPAGE';
    END IF;
    IF p_offset IS NULL OR p_offset < 0 THEN
        RAISE EXCEPTION 'offset must be 0 or more' USING ERRCODE = 'WPAGE';
    END IF;
    IF p_before_version IS NOT NULL AND p_offset > 0 THEN
        RAISE EXCEPTION 'a cursor cannot be combined with an offset' USING ERRCODE = 'WPAGE';
    END IF;
    IF p_before_version IS NOT NULL AND p_before_version < 1 THEN
        RAISE EXCEPTION 'invalid cursor' USING ERRCODE = 'WPAGE';
    END IF;
END
$$;
COMMENT ON FUNCTION ledger._check_page(integer, integer, bigint) IS
    'The paging arguments of the ledger readers: limit 1 to ledger._page_limit_max(), offset 0 or more, a cursor of 1 or more and not combined with an offset; else WPAGE.';
REVOKE ALL ON FUNCTION ledger._check_page(integer, integer, bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Newest first by wallet_version, which orders a wallet's history exactly. A wallet's versions
-- are exactly 1 .. its current version, one per entry (each posting adds 1 under the row lock;
-- api.wallet_drift proves it), so skipping p_offset entries is the same as starting below
-- version (current + 1 - p_offset): every page, by offset or by keyset (p_before_version), is
-- one bounded index range scan of entries_one_per_wallet_version, the same cost at any depth.
-- (Measured with 1,000,000 entries in one wallet, docs/performance.md: an OFFSET that stepped
-- over the skipped rows took 0.3 s at depth 100,000.) The bound is a plain range condition, not
-- "p_before_version IS NULL OR ...", which the planner cannot use as an index condition.
CREATE OR REPLACE FUNCTION ledger._wallet_lines(
    p_wallet_id bigint, p_limit integer, p_offset integer, p_before_version bigint)
RETURNS SETOF ledger.ledger_line
LANGUAGE sql STABLE
AS $$
    SELECT e.id, e.transaction_id, t.type,
           CASE WHEN e.amount > 0 THEN 'credit' ELSE 'debit' END,
           round(abs(e.amount), a.scale), round(e.balance_after, a.scale), e.wallet_version,
           t.description::text, t.metadata::jsonb, t.created_at
    FROM ledger.entries AS e
    JOIN ledger.transactions AS t ON t.id = e.transaction_id
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    JOIN ledger.assets AS a ON a.id = w.asset_id
    WHERE e.wallet_id = p_wallet_id
      AND e.wallet_version < coalesce(p_before_version,
                                      (SELECT v.version + 1 FROM ledger.wallets AS v
                                       WHERE v.id = p_wallet_id)) - p_offset
    ORDER BY e.wallet_version DESC
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION ledger._wallet_lines(bigint, integer, integer, bigint) IS
    'One page of a wallet''s entries, newest first, found as one index range scan by wallet version whether paged by offset or by cursor: the same cost at any depth.';
REVOKE ALL ON FUNCTION ledger._wallet_lines(bigint, integer, integer, bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- A page of a wallet's entries, newest first: by p_offset, or by keyset, p_before_version being
-- the wallet_version of the last entry already seen (a page's next_cursor). An unknown wallet
-- has no entries here; api.ledger_page raises wallet_not_found.
-- p_limit's DEFAULT 50 is ledger._page_limit_default() written out: a default is evaluated with
-- the caller's rights, and the callers may not execute ledger's helpers. sql_tests/05_rules.sql
-- proves that both readers' defaults are the rule's.
CREATE OR REPLACE FUNCTION api.wallet_entries(
    p_wallet_id bigint, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0,
    p_before_version bigint DEFAULT NULL)
RETURNS SETOF ledger.ledger_line
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ledger._check_page(p_limit, p_offset, p_before_version);
    RETURN QUERY SELECT * FROM ledger._wallet_lines(p_wallet_id, p_limit, p_offset, p_before_version);
END
$$;
COMMENT ON FUNCTION api.wallet_entries(bigint, integer, integer, bigint) IS
    'A wallet''s entries, newest first, by offset or by keyset (p_before_version).';
REVOKE ALL ON FUNCTION api.wallet_entries(bigint, integer, integer, bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.wallet_entries(bigint, integer, integer, bigint)
    TO wallet_service, wallet_job, wallet_auditor;

-- The HTTP ledger page in one call: the wallet, one page of entries, and next_cursor (NULL on the
-- last page). Raises wallet_not_found (WWALT) for an unknown wallet.
-- A page from the lines read for it, one more than p_limit when another page follows: the first
-- p_limit, and the cursor of the next page (the last one's version; NULL on the last page).
-- Shared by the ledger pages and the statements (db/functions/32_balances_in_time.sql).
CREATE OR REPLACE FUNCTION ledger._page_of(p_lines ledger.ledger_line[], p_limit integer,
                                           OUT entries ledger.ledger_line[], OUT next_cursor bigint)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN cardinality(l.lines) > p_limit THEN l.lines[1:p_limit] ELSE l.lines END,
       CASE WHEN cardinality(l.lines) > p_limit THEN (l.lines[p_limit]).wallet_version END
FROM (SELECT coalesce(p_lines, '{}') AS lines) AS l
$$;
COMMENT ON FUNCTION ledger._page_of(ledger.ledger_line[], integer) IS
    'A page of p_limit lines from the p_limit + 1 (or fewer) read for it, and the next page''s cursor (NULL on the last page).';
REVOKE ALL ON FUNCTION ledger._page_of(ledger.ledger_line[], integer) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION api.ledger_page(
    p_wallet_id bigint, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0,
    p_before_version bigint DEFAULT NULL,
    OUT wallet_id bigint, OUT owner_type text, OUT user_id text, OUT asset_id text,
    OUT balance numeric, OUT entries ledger.ledger_line[], OUT next_cursor bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lines ledger.ledger_line[];
BEGIN
    PERFORM ledger._check_page(p_limit, p_offset, p_before_version);
    SELECT w.wallet_id, w.owner_type, w.user_id, w.asset_id, w.balance
    INTO wallet_id, owner_type, user_id, asset_id, balance
    FROM api.wallet(p_wallet_id) AS w;
    -- one row more than asked tells whether another page follows
    SELECT array_agg(l ORDER BY l.wallet_version DESC) INTO v_lines
    FROM ledger._wallet_lines(p_wallet_id, p_limit + 1, p_offset, p_before_version) AS l;
    SELECT p.entries, p.next_cursor INTO entries, next_cursor FROM ledger._page_of(v_lines, p_limit) AS p;
END
$$;
COMMENT ON FUNCTION api.ledger_page(bigint, integer, integer, bigint) IS
    'One page of a wallet''s ledger with the wallet itself and the cursor of the next page.';
REVOKE ALL ON FUNCTION api.ledger_page(bigint, integer, integer, bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.ledger_page(bigint, integer, integer, bigint)
    TO wallet_service, wallet_job, wallet_auditor;

-- Every entry of one transaction: which wallet, whose, which direction, the balance after.
CREATE OR REPLACE FUNCTION api.transaction_entries(p_transaction_id bigint)
RETURNS SETOF ledger.transaction_leg
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT e.id, e.wallet_id, CASE WHEN w.kind = 'user' THEN 'user' ELSE 'system' END, w.owner_id::text,
           CASE WHEN w.kind = 'user' THEN NULL ELSE w.kind::text || '#' || w.slot END,
           CASE WHEN e.amount > 0 THEN 'credit' ELSE 'debit' END,
           round(abs(e.amount), a.scale), round(e.balance_after, a.scale)
    FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    JOIN ledger.assets AS a ON a.id = w.asset_id
    WHERE e.transaction_id = p_transaction_id
    ORDER BY e.id;
$$;
COMMENT ON FUNCTION api.transaction_entries(bigint) IS 'The entries of one transaction.';
REVOKE ALL ON FUNCTION api.transaction_entries(bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.transaction_entries(bigint)
    TO wallet_service, wallet_job, wallet_auditor;

-- One transaction as the HTTP API shows it: its user side (user, wallet, amount, balance after)
-- and all its entries. Raises transaction_not_found (WTXNF). The user side of a transaction with
-- two user legs (a transfer, a transfer's reversal) is the debited one; the other user is in its
-- entries. (A transaction has at most two user legs today; the first debit, else the first
-- credit.) A reversal names what it reverses; a reversible transaction says how much of it has
-- been reversed, and by which reversals (in the order they were posted).
--
-- Issue 15 added reverses_transaction_id, reversed_amount and reversals, issue 17 batch_id.
-- CREATE OR REPLACE cannot change a function's columns, so
-- the older one is dropped first, here, in the same transaction as its replacement: no caller
-- ever finds the function missing. (Once every database has the new one, this block does
-- nothing.)
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_proc
               WHERE oid = to_regprocedure('api.get_transaction(bigint)')
                 AND NOT 'batch_id' = ANY (proargnames)) THEN
        DROP FUNCTION api.get_transaction(bigint);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION api.get_transaction(
    p_transaction_id bigint,
    OUT transaction_id bigint, OUT type ledger.transaction_type, OUT status text,
    OUT user_id text, OUT asset_id text, OUT amount numeric, OUT balance numeric,
    OUT wallet_id bigint, OUT description text, OUT metadata jsonb, OUT created_at timestamptz,
    OUT entries ledger.transaction_leg[], OUT reverses_transaction_id bigint,
    OUT reversed_amount numeric, OUT reversals bigint[], OUT batch_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_scale smallint;
BEGIN
    SELECT t.id, t.type, 'completed', w.owner_id::text, w.asset_id, round(abs(e.amount), a.scale),
           round(e.balance_after, a.scale), w.id, t.description::text, t.metadata::jsonb, t.created_at,
           t.reverses_transaction_id, t.batch_id, a.scale
    INTO transaction_id, type, status, user_id, asset_id, amount, balance, wallet_id,
         description, metadata, created_at, reverses_transaction_id, batch_id, v_scale
    FROM ledger.transactions AS t
    JOIN ledger.entries AS e ON e.transaction_id = t.id
    JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
    JOIN ledger.assets AS a ON a.id = w.asset_id
    WHERE t.id = p_transaction_id
    ORDER BY e.amount > 0, e.id
    LIMIT 1;
    IF NOT FOUND THEN
        -- a capture of a whole hold has no user leg: its user side is the hold's, with no balance
        SELECT t.id, t.type, 'completed', h.user_id::text, h.asset_id, NULL::numeric, NULL::numeric,
               h.wallet_id, t.description::text, t.metadata::jsonb, t.created_at,
               t.reverses_transaction_id, a.scale
        INTO transaction_id, type, status, user_id, asset_id, amount, balance, wallet_id,
             description, metadata, created_at, reverses_transaction_id, v_scale
        FROM ledger.transactions AS t
        JOIN ledger.holds AS h ON h.resolve_transaction_id = t.id
        JOIN ledger.assets AS a ON a.id = h.asset_id
        WHERE t.id = p_transaction_id;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transaction % not found', coalesce(p_transaction_id::text, 'NULL')
            USING ERRCODE = 'WTXNF';
    END IF;
    IF type = 'capture' THEN
        -- a capture's amount is what it captured (its user leg, if any, is the rest given back)
        SELECT round(h.captured, v_scale) INTO amount FROM ledger.holds AS h
        WHERE h.resolve_transaction_id = p_transaction_id;
    END IF;
    SELECT array_agg(l) INTO entries FROM api.transaction_entries(p_transaction_id) AS l;
    IF type NOT IN ('opening_balance', 'reversal', 'hold', 'capture', 'release') THEN
        -- every reversal moves the original's user wallets; read on this one (wallet_id)
        SELECT round(coalesce(sum(abs(e.amount)), 0), v_scale),
               coalesce(array_agg(r.id ORDER BY e.wallet_version), '{}')
        INTO reversed_amount, reversals
        FROM ledger.transactions AS r
        JOIN ledger.entries AS e ON e.transaction_id = r.id AND e.wallet_id = get_transaction.wallet_id
        WHERE r.reverses_transaction_id = p_transaction_id;
    END IF;
END
$$;
COMMENT ON FUNCTION api.get_transaction(bigint) IS
    'One transaction with its user side (the debited user, else the credited one: a transfer''s sender) and all its entries; status is always completed (a failed call leaves nothing). A reversal names the transaction it reverses; a top-up, bonus, spend or transfer how much of it its reversals took back, and their ids (NULL for opening balances, reversals and a hold''s transactions, which cannot be reversed). batch_id: the batch (api.post_batch) it is an item of, else NULL. A capture''s user side is its hold''s user, its amount what it captured, its balance the user''s after the rest came back (NULL for a capture of the whole hold, which has no user leg).';
REVOKE ALL ON FUNCTION api.get_transaction(bigint)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.get_transaction(bigint) TO wallet_service, wallet_job, wallet_auditor;
