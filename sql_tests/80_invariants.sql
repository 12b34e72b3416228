-- The invariants of the books after a mix of operations (top-ups, bonuses, spends, a replay and a
-- refusal, several users, all three assets), checked both through the reconciliation views and
-- independently of them; then tampering, to prove each reconciliation check can fail.
BEGIN;
\ir lib/helpers.psql
SELECT plan(24);
-- The last tests drop a CHECK constraint (rolled back with everything else). Taking that lock
-- first, before any other, makes a concurrently running test file (pg_prove -j) wait for this
-- one instead of deadlocking with it.
LOCK TABLE ledger.wallets IN ACCESS EXCLUSIVE MODE;

CREATE TEMP TABLE tap_inv_before AS
SELECT asset_id, account::text AS account, balance FROM api.system_accounts;

SELECT tap.act_as('wallet_service');
DO $$
BEGIN
    -- GOLD: issued 100 + 250.50 + 10 + 1 = 361.50; spent 35.25 + 250.50 + 0.99 + 10 = 296.74
    PERFORM api.topup('tap-inv-1', 'asset-gold-coin-001', 100, 'tap-inv-1');
    PERFORM api.topup('tap-inv-2', 'asset-gold-coin-001', 250.50, 'tap-inv-2');
    PERFORM api.grant_bonus('tap-inv-1', 'asset-gold-coin-001', 10, 'welcome', 'tap-inv-3');
    PERFORM api.spend('tap-inv-1', 'asset-gold-coin-001', 35.25, 'a shield', 'tap-inv-4');
    PERFORM api.spend('tap-inv-2', 'asset-gold-coin-001', 250.50, 'everything', 'tap-inv-5');
    PERFORM api.topup('tap-inv-3', 'asset-gold-coin-001', 1, 'tap-inv-6');
    PERFORM api.spend('tap-inv-3', 'asset-gold-coin-001', 0.99, 'a pebble', 'tap-inv-7');
    PERFORM api.spend('user-rich-001', 'asset-gold-coin-001', 10, 'a castle tax', 'tap-inv-8');
    -- DIAMOND: issued 40 + 5 = 45; spent 5 + 0.01 = 5.01
    PERFORM api.topup('tap-inv-1', 'asset-diamond-001', 40, 'tap-inv-9');
    PERFORM api.grant_bonus('tap-inv-4', 'asset-diamond-001', 5, 'contest', 'tap-inv-10');
    PERFORM api.spend('tap-inv-4', 'asset-diamond-001', 5, 'a ring', 'tap-inv-11');
    PERFORM api.spend('tap-inv-1', 'asset-diamond-001', 0.01, 'a chip', 'tap-inv-12');
    -- LOYALTY: issued 12.34 + 7 + 100 = 119.34; spent 2.34 + 99.99 = 102.33
    PERFORM api.grant_bonus('tap-inv-2', 'asset-loyalty-001', 12.34, 'survey', 'tap-inv-13');
    PERFORM api.grant_bonus('tap-inv-3', 'asset-loyalty-001', 7, 'survey', 'tap-inv-14');
    PERFORM api.spend('tap-inv-2', 'asset-loyalty-001', 2.34, 'a coupon', 'tap-inv-15');
    PERFORM api.topup('tap-inv-4', 'asset-loyalty-001', 100, 'tap-inv-16');
    PERFORM api.spend('tap-inv-4', 'asset-loyalty-001', 99.99, 'a voucher', 'tap-inv-17');
    -- a replay and a refusal move nothing
    PERFORM api.topup('tap-inv-1', 'asset-gold-coin-001', 100, 'tap-inv-1');
    BEGIN
        PERFORM api.spend('tap-inv-2', 'asset-gold-coin-001', 0.01, 'nothing left', 'tap-inv-18');
        RAISE EXCEPTION 'spend from an empty wallet was accepted';
    EXCEPTION WHEN SQLSTATE 'WFUND' THEN
        NULL;
    END;
END
$$;

SELECT results_eq(
    $$ SELECT u.user_id, b.asset_id, b.balance::text
       FROM unnest(ARRAY['tap-inv-1', 'tap-inv-2', 'tap-inv-3', 'tap-inv-4']) AS u (user_id),
            api.balances(u.user_id) AS b
       ORDER BY 1, 2 $$,
    $$ VALUES ('tap-inv-1', 'asset-diamond-001', '39.99'), ('tap-inv-1', 'asset-gold-coin-001', '74.75'),
              ('tap-inv-1', 'asset-loyalty-001', '0.00'),
              ('tap-inv-2', 'asset-diamond-001', '0.00'), ('tap-inv-2', 'asset-gold-coin-001', '0.00'),
              ('tap-inv-2', 'asset-loyalty-001', '10.00'),
              ('tap-inv-3', 'asset-diamond-001', '0.00'), ('tap-inv-3', 'asset-gold-coin-001', '0.01'),
              ('tap-inv-3', 'asset-loyalty-001', '7.00'),
              ('tap-inv-4', 'asset-diamond-001', '0.00'), ('tap-inv-4', 'asset-gold-coin-001', '0.00'),
              ('tap-inv-4', 'asset-loyalty-001', '0.01') $$,
    'every user ends with exactly what was credited minus what was spent');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('user-rich-001', 'asset-gold-coin-001') $$,
    ARRAY['9990.00'],
    'the seeded user''s spend came off the seeded balance: 10000.00 - 10 = 9990.00');

-- ---------------------------------------------------------------------------------------------
-- The reconciliation views, as the auditor
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT check_name, ok, problems FROM api.reconcile() $$,
    $$ VALUES ('entries and balances sum to zero per asset', true, 0::bigint),
              ('wallet balances and versions match their entries', true, 0::bigint),
              ('no user balance is negative but by a reversal', true, 0::bigint),
              ('every transaction is one balanced double entry', true, 0::bigint) $$,
    'api.reconcile(): every check is ok');
SELECT is_empty($$ SELECT * FROM api.wallet_drift $$, 'api.wallet_drift is empty');
SELECT is_empty($$ SELECT * FROM api.unbalanced_transactions $$, 'api.unbalanced_transactions is empty');
SELECT is_empty($$ SELECT * FROM api.negative_user_balances $$, 'api.negative_user_balances is empty');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", balanced, entries_total, balances_total FROM api.trial_balance $$,
    $$ VALUES ('asset-diamond-001', true, 0::numeric, 0::numeric),
              ('asset-gold-coin-001', true, 0::numeric, 0::numeric),
              ('asset-loyalty-001', true, 0::numeric, 0::numeric) $$,
    'api.trial_balance: every asset is balanced, entries and balances each totalling zero');
SELECT is_empty(
    $$ SELECT asset_id FROM api.trial_balance
       WHERE treasury_balance <> -(user_balances + revenue_balance) $$,
    'per asset the Treasury is exactly minus what users and Revenue hold');

-- ---------------------------------------------------------------------------------------------
-- The same invariants, computed here from the tables (not trusting the views)
-- ---------------------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM ledger.wallets WHERE owner_id LIKE 'tap-inv-%'), 8::bigint,
    'the operations opened the 8 expected user wallets');
SELECT is_empty(
    $$ SELECT w.id
       FROM ledger.wallets AS w
       CROSS JOIN LATERAL (SELECT coalesce(sum(e.amount), 0) AS total, count(*) AS n,
                                  max(e.wallet_version) AS top
                           FROM ledger.entries AS e WHERE e.wallet_id = w.id) AS s
       LEFT JOIN LATERAL (SELECT e.balance_after FROM ledger.entries AS e
                          WHERE e.wallet_id = w.id ORDER BY e.wallet_version DESC LIMIT 1) AS latest ON true
       WHERE w.balance <> s.total OR w.version <> s.n
          OR (s.n > 0 AND (latest.balance_after <> w.balance OR s.top <> s.n)) $$,
    'every wallet''s balance = the sum of its entries = its latest entry''s balance_after, and version = entry count');
SELECT is_empty(
    $$ SELECT e.id
       FROM (SELECT e.*, lag(e.balance_after, 1, 0::numeric) OVER h AS before,
                    lag(e.wallet_version, 1, 0::bigint) OVER h AS prev_version
             FROM ledger.entries AS e
             WINDOW h AS (PARTITION BY e.wallet_id ORDER BY e.wallet_version)) AS e
       WHERE e.balance_after <> e.before + e.amount OR e.wallet_version <> e.prev_version + 1 $$,
    'every wallet''s history is a chain: versions 1, 2, 3 ... and each balance_after = the one before + amount');
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       LEFT JOIN ledger.entries AS e ON e.transaction_id = t.id
       LEFT JOIN ledger.wallets AS w ON w.id = e.wallet_id
       WHERE t.type <> 'transfer'
       GROUP BY t.id, t.type
       HAVING count(e.id) <> 2 OR sum(e.amount) <> 0 OR count(DISTINCT w.asset_id) <> 1
           OR count(*) FILTER (WHERE w.kind = 'user') <> 1
           OR count(*) FILTER (WHERE w.kind = CASE WHEN t.type = 'spend' THEN 'revenue'::ledger.wallet_kind
                                                   ELSE 'treasury'::ledger.wallet_kind END) <> 1
           OR bool_or(w.kind = 'user' AND (e.amount > 0) <> (t.type <> 'spend')) $$,
    'every transaction but transfers is two entries in one asset summing to zero: spends move user -> Revenue, the rest Treasury -> user');
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       LEFT JOIN ledger.entries AS e ON e.transaction_id = t.id
       LEFT JOIN ledger.wallets AS w ON w.id = e.wallet_id
       WHERE t.type = 'transfer'
       GROUP BY t.id
       HAVING count(e.id) <> 2 OR sum(e.amount) <> 0 OR count(DISTINCT w.asset_id) <> 1
           OR count(*) FILTER (WHERE w.kind = 'user') <> 2
           OR count(DISTINCT w.owner_id) <> 2
           OR count(*) FILTER (WHERE e.amount > 0) <> 1 $$,
    'every transfer is two user entries in one asset, of two users, one debit and one credit, summing to zero');
SELECT is_empty(
    $$ SELECT a.asset_id
       FROM api.system_accounts AS a
       LEFT JOIN (SELECT w.asset_id,
                         sum(e.amount) FILTER (WHERE t.type NOT IN ('spend', 'transfer')) AS issued,
                         -sum(e.amount) FILTER (WHERE t.type = 'spend') AS spent
                  FROM ledger.entries AS e
                  JOIN ledger.transactions AS t ON t.id = e.transaction_id
                  JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
                  GROUP BY w.asset_id) AS u ON u.asset_id = a.asset_id
       WHERE (a.account = 'treasury' AND a.balance <> -coalesce(u.issued, 0))
          OR (a.account = 'revenue' AND a.balance <> coalesce(u.spent, 0)) $$,
    'per asset, the Treasury (sum of its slots) = minus everything issued, Revenue = everything spent');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT a.asset_id COLLATE "default", a.account::text, a.balance - b.balance
       FROM api.system_accounts AS a JOIN tap_inv_before AS b USING (asset_id)
       WHERE b.account = a.account::text ORDER BY 1, 2 $$,
    $$ VALUES ('asset-diamond-001', 'revenue', 5.01), ('asset-diamond-001', 'treasury', -45.00),
              ('asset-gold-coin-001', 'revenue', 296.74), ('asset-gold-coin-001', 'treasury', -361.50),
              ('asset-loyalty-001', 'revenue', 102.33), ('asset-loyalty-001', 'treasury', -119.34) $$,
    'the operations moved the Treasury by minus what they issued and Revenue by what they spent, per asset');

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forced here, before the tampering below writes a transaction without entries on purpose.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every transaction of the mix passes the deferred double-entry check when it is forced');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;

-- ---------------------------------------------------------------------------------------------
-- Tampering: reconciliation must notice
-- ---------------------------------------------------------------------------------------------
SELECT id AS tampered FROM ledger.wallets WHERE owner_id = 'tap-inv-1' AND asset_id = 'asset-gold-coin-001' \gset
SELECT tap.act_as('wallet_owner');
UPDATE ledger.wallets SET balance = balance + 1 WHERE id = :tampered;
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT check_name, ok, problems FROM api.reconcile() $$,
    $$ VALUES ('entries and balances sum to zero per asset', false, 1::bigint),
              ('wallet balances and versions match their entries', false, 1::bigint),
              ('no user balance is negative but by a reversal', true, 0::bigint),
              ('every transaction is one balanced double entry', true, 0::bigint) $$,
    'after one wallet''s balance is edited directly, api.reconcile() reports the drift and the unbalanced asset');
SELECT results_eq(
    $$ SELECT wallet_id, owner_id COLLATE "default", balance, entries_sum, latest_balance_after
       FROM api.wallet_drift $$,
    format($$ VALUES (%s::bigint, 'tap-inv-1', 75.75::numeric, 74.75::numeric, 74.75::numeric) $$, :tampered),
    'api.wallet_drift lists exactly the edited wallet: balance 75.75 against entries of 74.75');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", balanced FROM api.trial_balance $$,
    $$ VALUES ('asset-diamond-001', true), ('asset-gold-coin-001', false), ('asset-loyalty-001', true) $$,
    'api.trial_balance shows GOLD, and only GOLD, out of balance');

-- a balance-neutral edit (1 moved between two users) still leaves the trial balance whole
SELECT tap.act_as('wallet_owner');
UPDATE ledger.wallets SET balance = balance - 1
WHERE owner_id = 'tap-inv-3' AND asset_id = 'asset-loyalty-001';
UPDATE ledger.wallets SET balance = balance + 1
WHERE owner_id = 'tap-inv-2' AND asset_id = 'asset-loyalty-001';
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT owner_id COLLATE "default" FROM api.wallet_drift WHERE asset_id = 'asset-loyalty-001'
       ORDER BY owner_id $$,
    ARRAY['tap-inv-2', 'tap-inv-3'],
    'moving balance between users behind the ledger''s back is caught by api.wallet_drift even though the totals still match');

-- a transaction written without its entries (the deferred double-entry check would refuse it at
-- commit, see 60_immutability.sql; reconciliation must see it all the same)
SELECT tap.act_as('wallet_owner');
INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:inv', 'tap-inv-bare');
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT u.type::text, u.entries FROM api.unbalanced_transactions AS u
       JOIN ledger.transactions AS t ON t.id = u.transaction_id WHERE t.idempotency_key = 'tap-inv-bare' $$,
    $$ VALUES ('topup', 0::bigint) $$,
    'api.unbalanced_transactions lists a transaction that has no entries');
SELECT results_eq(
    $$ SELECT ok, problems FROM api.reconcile() WHERE check_name = 'every transaction is one balanced double entry' $$,
    $$ VALUES (false, 1::bigint) $$,
    'api.reconcile() reports it');

-- a negative user balance that no reversal explains, possible only once the trigger is gone
SELECT tap.act_as('wallet_owner');
DROP TRIGGER wallets_negative_only_by_reversal ON ledger.wallets;
UPDATE ledger.wallets SET balance = -5 WHERE owner_id = 'tap-inv-4' AND asset_id = 'asset-diamond-001';
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT user_id COLLATE "default", asset_id COLLATE "default", balance
       FROM api.negative_user_balances $$,
    $$ VALUES ('tap-inv-4', 'asset-diamond-001', -5::numeric) $$,
    'api.negative_user_balances lists a user wallet below zero that no reversal took there');
SELECT results_eq(
    $$ SELECT ok FROM api.reconcile() $$,
    ARRAY[false, false, false, false],
    'with all four kinds of damage, every api.reconcile() check fails');
SELECT tap.act_as_superuser();

SELECT * FROM finish();
ROLLBACK;
