-- api.topup: Treasury -> user. What it writes, and how it stores amounts at the edges. Called as
-- wallet_service, like the HTTP service. The argument errors it raises (WAMNT, WASST, WUSER,
-- WIKEY, WCLNT, WMETA) and the edges it accepts are proved for every money function at once by
-- 15_argument_validation.sql.
BEGIN;
\ir lib/helpers.psql
SELECT plan(15);

SELECT coalesce(sum(balance), 0) AS treasury_gold_before FROM ledger.wallets
WHERE asset_id = 'asset-gold-coin-001' AND kind = 'treasury' \gset

SELECT tap.act_as('wallet_service');

-- ---------------------------------------------------------------------------------------------
-- Success
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx1, wallet_id AS w1, balance AS b1, replayed AS r1
FROM api.topup('tap-topup-1', 'asset-gold-coin-001', 25, 'tap-topup-k1', '{"order": "o-1"}', 'api:tap') \gset

SELECT is(:'b1'::text, '25.00', 'a first top-up creates the wallet with the amount as its balance (25.00)');
SELECT is(:'r1'::boolean, false, 'a first top-up is not a replay');
SELECT results_eq(
    format($$ SELECT wallet_id, owner_type, user_id, account, asset_id, balance::text, version
              FROM api.wallet(%s) $$, :w1),
    format($$ VALUES (%s::bigint, 'user', 'tap-topup-1', NULL::text, 'asset-gold-coin-001', '25.00', 1::bigint) $$, :w1),
    'the new wallet belongs to the user, in the asset, at version 1');

SELECT results_eq(
    $$ SELECT wallet_id, balance::text, replayed
       FROM api.topup('tap-topup-1', 'asset-gold-coin-001', 10.50, 'tap-topup-k2', '{}', 'api:tap') $$,
    format($$ VALUES (%s::bigint, '35.50', false) $$, :w1),
    'a second top-up credits the same wallet: 25.00 + 10.50 = 35.50');
SELECT results_eq(
    $$ SELECT balance::text, version FROM api.balances('tap-topup-1', 'asset-gold-coin-001') $$,
    $$ VALUES ('35.50', 2::bigint) $$,
    'api.balances shows the new balance and one version per entry');
SELECT results_eq(
    $$ SELECT balance::text, replayed
       FROM api.topup('tap-topup-1', 'asset-diamond-001', 1, 'tap-topup-k3', '{}', 'api:tap') $$,
    $$ VALUES ('1.00', false) $$,
    'a top-up in another asset opens that asset''s wallet with its own balance');
SELECT isnt(
    (SELECT wallet_id FROM api.balances('tap-topup-1', 'asset-diamond-001')), :w1::bigint,
    'the user''s DIAMOND wallet is not the GOLD wallet');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT type::text, client_id::text COLLATE "default", idempotency_key::text COLLATE "default",
                     description::text, metadata::jsonb
              FROM ledger.transactions WHERE id = %s $$, :tx1),
    $$ VALUES ('topup', 'api:tap', 'tap-topup-k1', NULL::text, '{"order": "o-1"}'::jsonb) $$,
    'the transaction records type topup, the client, the key and the metadata, and no description');
SELECT results_eq(
    format($$ SELECT w.kind::text, w.owner_id::text COLLATE "default", e.amount::numeric
              FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
              WHERE e.transaction_id = %s ORDER BY e.amount $$, :tx1),
    $$ VALUES ('treasury', NULL::text, -25::numeric), ('user', 'tap-topup-1', 25::numeric) $$,
    'a top-up is two entries: -25 on a Treasury slot and +25 on the user''s wallet');
SELECT results_eq(
    format($$ SELECT e.balance_after, e.wallet_version::bigint FROM ledger.entries AS e
              WHERE e.transaction_id = %s AND e.wallet_id = %s $$, :tx1, :w1),
    $$ VALUES (25::numeric, 1::bigint) $$,
    'the user''s entry carries the balance after it (25) and the wallet version (1)');
SELECT is(
    (SELECT sum(balance) FROM ledger.wallets WHERE asset_id = 'asset-gold-coin-001' AND kind = 'treasury'),
    :'treasury_gold_before'::numeric - 35.50,
    'the GOLD Treasury (all slots) went down by exactly the 35.50 topped up');

-- ---------------------------------------------------------------------------------------------
-- Amounts at the edges, as credited (15_argument_validation.sql: every edge, every function)
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT balance::text FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 1.000, 'tap-topup-e1') $$,
    ARRAY['1.00'],
    '1.000 has trailing zeros only, so it is a valid 2-place amount (stored as 1.00)');
SELECT results_eq(
    $$ SELECT balance::text FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 0.01, 'tap-topup-e2') $$,
    ARRAY['1.01'],
    'the smallest 2-place amount, 0.01, is accepted');
SELECT results_eq(
    $$ SELECT balance::text FROM api.topup('tap-topup-3', 'asset-gold-coin-001', 1000000000, 'tap-topup-e3') $$,
    ARRAY['1000000000.00'],
    'exactly the asset''s max_amount (1e9) is accepted');
SELECT tap.act_as_superuser();

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every top-up of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
