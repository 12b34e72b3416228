-- Proving the books from psql: views an auditor can read, and api.reconcile() that runs every
-- check at once (`wallet reconcile` prints it). Each view lists problems, so empty means clean,
-- except api.trial_balance and api.system_accounts, which are reports.

-- Per asset: the entries sum to zero, and so do the balances (Treasury's negative balance is
-- exactly what users, Revenue and nobody else hold).
CREATE OR REPLACE VIEW api.trial_balance AS
WITH entry_sums AS (
    SELECT w.asset_id, sum(e.amount) AS entries_total, count(*) AS entries
    FROM ledger.entries AS e
    JOIN ledger.wallets AS w ON w.id = e.wallet_id
    GROUP BY w.asset_id
), balance_sums AS (
    SELECT w.asset_id,
           sum(w.balance) AS balances_total,
           sum(w.balance) FILTER (WHERE w.kind = 'treasury') AS treasury,
           sum(w.balance) FILTER (WHERE w.kind = 'revenue') AS revenue,
           sum(w.balance) FILTER (WHERE w.kind = 'user') AS users,
           sum(w.balance) FILTER (WHERE w.kind = 'holds') AS holds,
           count(*) FILTER (WHERE w.kind = 'user') AS user_wallets
    FROM ledger.wallets AS w
    GROUP BY w.asset_id
)
SELECT a.id AS asset_id, a.code AS asset_code,
       round(coalesce(b.treasury, 0), a.scale) AS treasury_balance,
       round(coalesce(b.revenue, 0), a.scale) AS revenue_balance,
       round(coalesce(b.users, 0), a.scale) AS user_balances,
       coalesce(b.user_wallets, 0) AS user_wallets,
       coalesce(s.entries, 0) AS entries,
       coalesce(s.entries_total, 0) AS entries_total,
       coalesce(b.balances_total, 0) AS balances_total,
       coalesce(s.entries_total, 0) = 0 AND coalesce(b.balances_total, 0) = 0 AS balanced,
       -- last: CREATE OR REPLACE VIEW adds columns only at the end
       round(coalesce(b.holds, 0), a.scale) AS holds_balance
FROM ledger.assets AS a
LEFT JOIN entry_sums AS s ON s.asset_id = a.id
LEFT JOIN balance_sums AS b ON b.asset_id = a.id
ORDER BY a.id;
COMMENT ON VIEW api.trial_balance IS
    'Per asset: Treasury, Revenue, holds and user balances; entries and balances must each total zero.';
COMMENT ON COLUMN api.trial_balance.asset_id IS 'The asset.';
COMMENT ON COLUMN api.trial_balance.asset_code IS 'Its code.';
COMMENT ON COLUMN api.trial_balance.treasury_balance IS 'The Treasury, all slots summed: minus everything issued.';
COMMENT ON COLUMN api.trial_balance.revenue_balance IS 'Revenue, all slots summed: everything spent.';
COMMENT ON COLUMN api.trial_balance.user_balances IS 'What users hold, summed.';
COMMENT ON COLUMN api.trial_balance.user_wallets IS 'How many user wallets hold the asset.';
COMMENT ON COLUMN api.trial_balance.entries IS 'How many entries move the asset.';
COMMENT ON COLUMN api.trial_balance.entries_total IS 'The entries'' signed amounts summed: 0 when the books are right.';
COMMENT ON COLUMN api.trial_balance.balances_total IS 'Every wallet''s balance summed, system slots included: 0 when the books are right.';
COMMENT ON COLUMN api.trial_balance.balanced IS 'entries_total and balances_total are both 0.';
COMMENT ON COLUMN api.trial_balance.holds_balance IS 'The holds account, all slots summed: the open holds'' amounts.';
REVOKE ALL ON TABLE api.trial_balance FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
-- and to the service, for the console's books page: totals per asset, nothing of any one user
-- (the other views, which name wallets and users, stay the auditor's)
GRANT SELECT ON TABLE api.trial_balance TO wallet_auditor, wallet_service;

-- Wallets (user wallets and system slots) whose stored balance or version disagrees with their
-- entries: the balance must equal the sum of the entries and the latest entry's balance_after,
-- and the version must equal the number of entries and the latest entry's wallet_version.
CREATE OR REPLACE VIEW api.wallet_drift AS
WITH sums AS (
    SELECT e.wallet_id, sum(e.amount) AS entries_sum, count(*) AS entry_count,
           max(e.wallet_version) AS latest_version
    FROM ledger.entries AS e
    GROUP BY e.wallet_id
)
SELECT w.id AS wallet_id, w.kind, w.owner_id::text AS owner_id, w.slot::smallint AS slot, w.asset_id, w.balance,
       coalesce(s.entries_sum, 0) AS entries_sum, latest.balance_after AS latest_balance_after,
       w.version::bigint AS version, coalesce(s.entry_count, 0) AS entry_count, s.latest_version::bigint AS latest_version
FROM ledger.wallets AS w
LEFT JOIN sums AS s ON s.wallet_id = w.id
LEFT JOIN ledger.entries AS latest
       ON latest.wallet_id = w.id AND latest.wallet_version = s.latest_version
WHERE w.balance <> coalesce(s.entries_sum, 0)
   OR w.version <> coalesce(s.entry_count, 0)
   OR w.version <> coalesce(s.latest_version, 0)
   OR latest.balance_after <> w.balance;
COMMENT ON VIEW api.wallet_drift IS
    'Wallets whose balance or version disagrees with their entries. Empty when the books are right.';
COMMENT ON COLUMN api.wallet_drift.wallet_id IS 'The wallet.';
COMMENT ON COLUMN api.wallet_drift.kind IS 'user, treasury, revenue or holds.';
COMMENT ON COLUMN api.wallet_drift.owner_id IS 'The user; NULL for a system slot.';
COMMENT ON COLUMN api.wallet_drift.slot IS 'The slot of a system account (0 for a user wallet).';
COMMENT ON COLUMN api.wallet_drift.asset_id IS 'The asset.';
COMMENT ON COLUMN api.wallet_drift.balance IS 'The stored balance.';
COMMENT ON COLUMN api.wallet_drift.entries_sum IS 'The sum of the wallet''s entries: what the balance should be.';
COMMENT ON COLUMN api.wallet_drift.latest_balance_after IS 'The balance_after of the wallet''s latest entry: what the balance should be too.';
COMMENT ON COLUMN api.wallet_drift.version IS 'The stored version.';
COMMENT ON COLUMN api.wallet_drift.entry_count IS 'How many entries the wallet has: what the version should be.';
COMMENT ON COLUMN api.wallet_drift.latest_version IS 'The wallet_version of the latest entry: what the version should be too.';
REVOKE ALL ON TABLE api.wallet_drift FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE api.wallet_drift TO wallet_auditor;

-- Users in debt: user wallets below zero, each with the reversals (mode allow_negative) that took
-- it there since it last stood at zero or above, in the order they were posted. A report for
-- support and finance, not a fault: a store refund of coins already spent leaves the player in
-- debt until later credits pay it. An empty reversals array is a fault (see
-- api.negative_user_balances), which trigger wallets_negative_only_by_reversal forbids.
CREATE OR REPLACE FUNCTION api.negative_balances(p_asset_id text DEFAULT NULL)
RETURNS TABLE (user_id text, asset_id text, asset_code text, wallet_id bigint, balance numeric,
               since timestamptz, reversals bigint[])
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.owner_id::text, w.asset_id, a.code, w.id, round(w.balance, a.scale), d.since,
           coalesce(d.reversals, '{}')
    FROM ledger.wallets AS w
    JOIN ledger.assets AS a ON a.id = w.asset_id
    LEFT JOIN LATERAL (
        SELECT min(coalesce(e.posted_at, t.created_at)) AS since,
               array_agg(t.id ORDER BY e.wallet_version) AS reversals
        FROM ledger.entries AS e
        JOIN ledger.transactions AS t ON t.id = e.transaction_id
        WHERE e.wallet_id = w.id AND t.type = 'reversal' AND e.amount < 0 AND e.balance_after < 0
          AND e.wallet_version > coalesce((SELECT max(z.wallet_version) FROM ledger.entries AS z
                                           WHERE z.wallet_id = w.id AND z.balance_after >= 0), 0)
    ) AS d ON true
    WHERE w.kind = 'user' AND w.balance < 0 AND (p_asset_id IS NULL OR w.asset_id = p_asset_id)
    ORDER BY w.asset_id, w.balance, w.owner_id
$$;
COMMENT ON FUNCTION api.negative_balances(text) IS
    'Users in debt per asset (all assets, or p_asset_id): user wallets below zero, with when the debt began and the allow_negative reversals that made it, oldest first. A report, not a fault.';
REVOKE ALL ON FUNCTION api.negative_balances(text) FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.negative_balances(text) TO wallet_service, wallet_job, wallet_auditor;

-- A balance below zero that no reversal explains: trigger wallets_negative_only_by_reversal
-- forbids these; the view proves it from the data. Its columns keep the types and collations
-- they had before issue 15 (user and asset ids COLLATE "C", the balance as stored). Dropped
-- and made again rather than replaced: CREATE OR REPLACE VIEW cannot change a column's type or
-- collation, which a database migrated by a development version of issue 15 had different.
-- Nothing depends on the view (api.reconcile reads it at run time), and this file is applied in
-- one transaction, so no reader ever finds it missing.
DROP VIEW IF EXISTS api.negative_user_balances;
CREATE VIEW api.negative_user_balances AS
SELECT w.id AS wallet_id, w.owner_id::text AS user_id, w.asset_id, w.balance
FROM api.negative_balances() AS n
JOIN ledger.wallets AS w ON w.id = n.wallet_id
WHERE cardinality(n.reversals) = 0;
COMMENT ON VIEW api.negative_user_balances IS
    'User wallets below zero that no allow_negative reversal took there (api.negative_balances lists the explained ones). Always empty.';
COMMENT ON COLUMN api.negative_user_balances.wallet_id IS 'The wallet.';
COMMENT ON COLUMN api.negative_user_balances.user_id IS 'Its user.';
COMMENT ON COLUMN api.negative_user_balances.asset_id IS 'The asset.';
COMMENT ON COLUMN api.negative_user_balances.balance IS 'The balance, below zero.';
REVOKE ALL ON TABLE api.negative_user_balances
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE api.negative_user_balances TO wallet_auditor;

-- Transactions that are not a clean double entry: entries not summing to zero, fewer than two,
-- mixing assets, or not the shape of their type: one user leg (and one system slot) for
-- opening_balance, topup, bonus, spend, hold and release; two user legs and no system slot for a
-- transfer; a reversal has the user legs of the transaction it reverses; a capture a holds slot and
-- a Revenue slot, and a user leg if it gave some of the hold back.
CREATE OR REPLACE VIEW api.unbalanced_transactions AS
WITH shaped AS (
    SELECT t.id AS transaction_id, t.type, t.created_at,
           coalesce(sum(e.amount), 0)::numeric AS entries_total, count(e.id) AS entries,
           count(DISTINCT w.asset_id) AS assets,
           count(*) FILTER (WHERE w.kind = 'user') AS user_entries,
           count(*) FILTER (WHERE w.kind <> 'user') AS system_entries,
           CASE WHEN t.type = 'transfer' THEN 2::bigint
                WHEN t.type = 'reversal' THEN
                    (SELECT count(*) FROM ledger.entries AS oe
                     JOIN ledger.wallets AS ow ON ow.id = oe.wallet_id AND ow.kind = 'user'
                     WHERE oe.transaction_id = t.reverses_transaction_id)
                -- a capture gives the user back the rest, if any
                WHEN t.type = 'capture' THEN
                    (SELECT count(*) FROM ledger.holds AS h
                     WHERE h.resolve_transaction_id = t.id AND h.released > 0)
                ELSE 1::bigint END AS expected_user_entries,
           CASE WHEN t.type = 'transfer' THEN 0::bigint
                WHEN t.type = 'reversal' THEN
                    (SELECT count(*) FROM ledger.entries AS oe
                     JOIN ledger.wallets AS ow ON ow.id = oe.wallet_id AND ow.kind <> 'user'
                     WHERE oe.transaction_id = t.reverses_transaction_id)
                WHEN t.type = 'capture' THEN 2::bigint  -- a holds slot and a Revenue slot
                ELSE 1::bigint END AS expected_system_entries
    FROM ledger.transactions AS t
    LEFT JOIN ledger.entries AS e ON e.transaction_id = t.id
    LEFT JOIN ledger.wallets AS w ON w.id = e.wallet_id
    GROUP BY t.id
)
SELECT s.transaction_id, s.type, s.created_at, s.entries_total, s.entries, s.assets, s.user_entries,
       s.expected_user_entries, s.system_entries, s.expected_system_entries
FROM shaped AS s
WHERE s.entries_total <> 0 OR s.entries < 2 OR s.assets <> 1
   OR s.user_entries IS DISTINCT FROM s.expected_user_entries
   OR s.system_entries IS DISTINCT FROM s.expected_system_entries;
COMMENT ON VIEW api.unbalanced_transactions IS
    'Transactions whose entries do not form one balanced, single-asset double entry of their type''s shape (one user leg and one system slot; a transfer two user legs and no slot; a reversal the legs of what it reverses; a capture two slots, holds and Revenue, and a user leg when it released a rest). Always empty.';
COMMENT ON COLUMN api.unbalanced_transactions.transaction_id IS 'The transaction.';
COMMENT ON COLUMN api.unbalanced_transactions.type IS 'Its type.';
COMMENT ON COLUMN api.unbalanced_transactions.created_at IS 'When it was made.';
COMMENT ON COLUMN api.unbalanced_transactions.entries_total IS 'Its entries'' amounts summed (should be 0).';
COMMENT ON COLUMN api.unbalanced_transactions.entries IS 'How many entries it has (should be 2 or more).';
COMMENT ON COLUMN api.unbalanced_transactions.assets IS 'How many assets its entries move (should be 1).';
COMMENT ON COLUMN api.unbalanced_transactions.user_entries IS 'How many of its entries move a user wallet (should be expected_user_entries).';
COMMENT ON COLUMN api.unbalanced_transactions.expected_user_entries IS 'How many user legs its type has: 1, 2 for a transfer, the reversed transaction''s for a reversal, 0 or 1 for a capture (1 when it released a rest).';
COMMENT ON COLUMN api.unbalanced_transactions.system_entries IS 'How many of its entries move a system slot (should be expected_system_entries).';
COMMENT ON COLUMN api.unbalanced_transactions.expected_system_entries IS 'How many system legs its type has: 1, 0 for a transfer, the reversed transaction''s for a reversal, 2 for a capture.';
REVOKE ALL ON TABLE api.unbalanced_transactions
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE api.unbalanced_transactions TO wallet_auditor;

-- Each system account as one balance (the sum of its slots).
CREATE OR REPLACE VIEW api.system_accounts AS
SELECT w.asset_id, w.kind AS account, count(*) AS slots,
       round(sum(w.balance), a.scale) AS balance, sum(w.version::bigint) AS entries,
       max(w.updated_at) AS updated_at
FROM ledger.wallets AS w
JOIN ledger.assets AS a ON a.id = w.asset_id
WHERE w.kind <> 'user'
GROUP BY w.asset_id, w.kind, a.scale
ORDER BY w.asset_id, w.kind;
COMMENT ON VIEW api.system_accounts IS 'Treasury, Revenue and holds per asset, their slots summed.';
COMMENT ON COLUMN api.system_accounts.asset_id IS 'The asset.';
COMMENT ON COLUMN api.system_accounts.account IS 'treasury, revenue or holds.';
COMMENT ON COLUMN api.system_accounts.slots IS 'How many wallet rows (slots) the account is split into.';
COMMENT ON COLUMN api.system_accounts.balance IS 'The account''s balance: its slots summed, at the asset''s decimal places.';
COMMENT ON COLUMN api.system_accounts.entries IS 'How many entries have moved the account (its slots'' versions summed).';
COMMENT ON COLUMN api.system_accounts.updated_at IS 'When one of its slots last moved.';
REVOKE ALL ON TABLE api.system_accounts FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE api.system_accounts TO wallet_auditor;

-- Every check at once: one row per check, ok false with the number of problems and where to look.
CREATE OR REPLACE FUNCTION api.reconcile()
RETURNS TABLE (check_name text, ok boolean, problems bigint, detail text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
    v_summary text;
BEGIN
    SELECT count(*) FILTER (WHERE NOT tb.balanced),
           string_agg(format('%s: entries %s, balances %s', tb.asset_code, tb.entries_total,
                             tb.balances_total), '; ') FILTER (WHERE NOT tb.balanced)
    INTO v_count, v_summary
    FROM api.trial_balance AS tb;
    RETURN QUERY SELECT 'entries and balances sum to zero per asset', v_count = 0, v_count,
        coalesce(v_summary, 'every asset balances');

    SELECT count(*) INTO v_count FROM api.wallet_drift;
    RETURN QUERY SELECT 'wallet balances and versions match their entries', v_count = 0, v_count,
        CASE WHEN v_count = 0 THEN 'no drift' ELSE 'see api.wallet_drift' END;

    SELECT count(*) INTO v_count FROM api.negative_user_balances;
    RETURN QUERY SELECT 'no user balance is negative but by a reversal', v_count = 0, v_count,
        CASE WHEN v_count = 0 THEN 'none unexplained' ELSE 'see api.negative_user_balances' END;

    SELECT count(*) INTO v_count FROM api.unbalanced_transactions;
    RETURN QUERY SELECT 'every transaction is one balanced double entry', v_count = 0, v_count,
        CASE WHEN v_count = 0 THEN 'all balanced' ELSE 'see api.unbalanced_transactions' END;

    -- each asset's holds account holds exactly its open holds (each open hold's whole amount:
    -- a hold is resolved in one piece)
    SELECT count(*), string_agg(format('%s: holds account %s, open holds %s', x.asset_id, x.account,
                                       x.open_holds), '; ')
    INTO v_count, v_summary
    FROM (SELECT a.id AS asset_id,
                 (SELECT coalesce(sum(w.balance), 0) FROM ledger.wallets AS w
                  WHERE w.asset_id = a.id AND w.kind = 'holds' AND w.kind <> 'user') AS account,
                 (SELECT coalesce(sum(h.amount), 0) FROM ledger.holds AS h
                  WHERE h.asset_id = a.id AND h.status = 'open') AS open_holds
          FROM ledger.assets AS a) AS x
    WHERE x.account <> x.open_holds;
    RETURN QUERY SELECT 'each holds account equals its open holds', v_count = 0, v_count,
        coalesce(v_summary, 'every holds account matches');
END
$$;
COMMENT ON FUNCTION api.reconcile() IS
    'Runs every reconciliation check; each row is one check, ok = false means discrepancies.';
REVOKE ALL ON FUNCTION api.reconcile() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT EXECUTE ON FUNCTION api.reconcile() TO wallet_auditor, wallet_service, wallet_job;
