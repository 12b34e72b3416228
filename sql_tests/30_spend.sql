-- api.spend: user -> Revenue, never below zero. What it writes, and the insufficient-funds rule
-- (WFUND). Called as wallet_service, like the HTTP service. The argument errors it raises are
-- proved for every money function at once by 15_argument_validation.sql.
BEGIN;
\ir lib/helpers.psql
SELECT plan(24);

SELECT coalesce(sum(balance), 0) AS revenue_gold_before FROM ledger.wallets
WHERE asset_id = 'asset-gold-coin-001' AND kind = 'revenue' \gset

SELECT tap.act_as('wallet_service');
SELECT wallet_id AS w1 FROM api.topup('tap-spend-1', 'asset-gold-coin-001', 100, 'tap-spend-fund-1') \gset

-- ---------------------------------------------------------------------------------------------
-- Success
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx1, wallet_id AS sw1, balance AS b1, replayed AS r1
FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 30, 'a sword', 'tap-spend-k1',
               '{"item": "sword-7"}', 'api:tap') \gset

SELECT is(:'b1'::text, '70.00', 'a spend debits the wallet: 100.00 - 30 = 70.00');
SELECT is(:'r1'::boolean, false, 'a first spend is not a replay');
SELECT is(:sw1::bigint, :w1::bigint, 'the spend debits the wallet the top-up opened');
SELECT results_eq(
    format($$ SELECT type::text, status, user_id, asset_id, amount::text, balance::text, wallet_id,
                     description, metadata
              FROM api.get_transaction(%s) $$, :tx1),
    format($$ VALUES ('spend', 'completed', 'tap-spend-1', 'asset-gold-coin-001', '30.00', '70.00',
                      %s::bigint, 'a sword', '{"item": "sword-7"}'::jsonb) $$, :w1),
    'api.get_transaction shows the spend: amount, balance after, description and metadata');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, account LIKE 'revenue#%%', direction, amount::text
              FROM api.transaction_entries(%s) ORDER BY owner_type $$, :tx1),
    $$ VALUES ('system', NULL, true, 'credit', '30.00'), ('user', 'tap-spend-1', NULL, 'debit', '30.00') $$,
    'a spend debits the user and credits a Revenue slot');
SELECT results_eq(
    $$ SELECT balance::text, version FROM api.balances('tap-spend-1', 'asset-gold-coin-001') $$,
    $$ VALUES ('70.00', 2::bigint) $$,
    'api.balances shows 70.00 at version 2 (top-up, spend)');
SELECT results_eq(
    $$ SELECT balance::text FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 0.500, 'a potion', 'tap-spend-k2') $$,
    ARRAY['69.50'],
    'a spend of 0.500 is a valid 2-place amount');
SELECT results_eq(
    $$ SELECT balance::text FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 69.50, repeat('d', 500), 'tap-spend-k3') $$,
    ARRAY['0.00'],
    'spending the whole balance leaves exactly 0.00 (and a 500-character description is accepted)');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT type::text, client_id::text COLLATE "default", idempotency_key::text COLLATE "default",
                     description::text
              FROM ledger.transactions WHERE id = %s $$, :tx1),
    $$ VALUES ('spend', 'api:tap', 'tap-spend-k1', 'a sword') $$,
    'the transaction records type spend, the client, the key and the description');
SELECT results_eq(
    format($$ SELECT e.amount::numeric, e.balance_after, e.wallet_version::bigint FROM ledger.entries AS e
              WHERE e.transaction_id = %s AND e.wallet_id = %s $$, :tx1, :w1),
    $$ VALUES (-30::numeric, 70::numeric, 2::bigint) $$,
    'the user''s entry is -30 with balance_after 70 at version 2');
SELECT is(
    (SELECT sum(balance) FROM ledger.wallets WHERE asset_id = 'asset-gold-coin-001' AND kind = 'revenue'),
    :'revenue_gold_before'::numeric + 100,
    'the GOLD Revenue account (all slots) went up by exactly the 100 spent');

-- ---------------------------------------------------------------------------------------------
-- Insufficient funds (WFUND): nothing moves
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ SELECT * FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 0.01, 'd', 'tap-spend-f1') $$,
    'WFUND', NULL, 'spending 0.01 from an empty wallet is insufficient_funds (WFUND)');
SELECT lives_ok($$ SELECT * FROM api.topup('tap-spend-1', 'asset-gold-coin-001', 50, 'tap-spend-fund-2') $$,
    'the wallet is topped up to 50.00');

SELECT tap.snapshot();

SELECT throws_ok($$ SELECT * FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 50.01, 'd', 'tap-spend-f2') $$,
    'WFUND', NULL, 'spending one cent more than the balance is insufficient_funds (WFUND)');
SELECT throws_ok($$ SELECT * FROM api.spend('tap-spend-1', 'asset-gold-coin-001', 1000000000, 'd', 'tap-spend-f3') $$,
    'WFUND', NULL, 'spending far more than the balance is insufficient_funds (WFUND)');
SELECT throws_ok($$ SELECT * FROM api.spend('tap-spend-nowallet', 'asset-gold-coin-001', 1, 'd', 'tap-spend-f4') $$,
    'WFUND', NULL, 'spending from a user who has no wallet at all is insufficient_funds (WFUND)');
SELECT throws_ok($$ SELECT * FROM api.spend('tap-spend-1', 'asset-diamond-001', 1, 'd', 'tap-spend-f5') $$,
    'WFUND', NULL, 'spending an asset the user has no wallet in is insufficient_funds (WFUND)');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-spend-1', 'asset-gold-coin-001') $$,
    ARRAY['50.00'],
    'after the refused spends the balance is still 50.00');

SELECT * FROM tap.nothing_moved('the refused spends (a missing wallet holds zero, it is not opened)');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT balance, version::bigint FROM ledger.wallets
       WHERE owner_id = 'tap-spend-1' AND asset_id = 'asset-gold-coin-001' $$,
    $$ VALUES (50::numeric, 5::bigint) $$,
    'the wallet is untouched by every refused spend: 50 at version 5');

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every spend and top-up of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
