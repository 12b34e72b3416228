-- api.grant_bonus: Treasury -> user with a required reason. What it writes. Called as
-- wallet_service. The argument errors it raises (WDESC for the reason, and the checks every money
-- function shares) are proved by 15_argument_validation.sql.
BEGIN;
\ir lib/helpers.psql
SELECT plan(9);

SELECT coalesce(sum(balance), 0) AS treasury_loyalty_before FROM ledger.wallets
WHERE asset_id = 'asset-loyalty-001' AND kind = 'treasury' \gset

SELECT tap.act_as('wallet_service');

-- ---------------------------------------------------------------------------------------------
-- Success
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx1, wallet_id AS w1, balance AS b1, replayed AS r1
FROM api.grant_bonus('tap-bonus-1', 'asset-loyalty-001', 15, 'referral of tap-bonus-2',
                     'tap-bonus-k1', '{"campaign": "spring"}', 'api:tap') \gset

SELECT is(:'b1'::text, '15.00', 'a first bonus opens the wallet with the bonus as its balance (15.00)');
SELECT is(:'r1'::boolean, false, 'a first bonus is not a replay');
SELECT results_eq(
    $$ SELECT wallet_id, balance::text, replayed
       FROM api.grant_bonus('tap-bonus-1', 'asset-loyalty-001', 2.25, 'daily login', 'tap-bonus-k2',
                            '{}', 'api:tap') $$,
    format($$ VALUES (%s::bigint, '17.25', false) $$, :w1),
    'a second bonus credits the same wallet: 15.00 + 2.25 = 17.25');
SELECT results_eq(
    $$ SELECT balance::text FROM api.grant_bonus('tap-bonus-1', 'asset-loyalty-001', 1,
                                                 repeat('r', 500), 'tap-bonus-k3') $$,
    ARRAY['18.25'],
    'a reason of 500 characters is accepted');
SELECT results_eq(
    format($$ SELECT type::text, user_id, asset_id, amount::text, balance::text, description, metadata
              FROM api.get_transaction(%s) $$, :tx1),
    $$ VALUES ('bonus', 'tap-bonus-1', 'asset-loyalty-001', '15.00', '15.00', 'referral of tap-bonus-2',
               '{"campaign": "spring"}'::jsonb) $$,
    'api.get_transaction shows the bonus with its reason as the description, and its metadata');
SELECT results_eq(
    format($$ SELECT owner_type, account LIKE 'treasury#%%', direction, amount::text
              FROM api.transaction_entries(%s) ORDER BY owner_type $$, :tx1),
    $$ VALUES ('system', true, 'debit', '15.00'), ('user', NULL, 'credit', '15.00') $$,
    'a bonus debits a Treasury slot and credits the user');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT type::text, client_id::text COLLATE "default", idempotency_key::text COLLATE "default",
                     description::text
              FROM ledger.transactions WHERE id = %s $$, :tx1),
    $$ VALUES ('bonus', 'api:tap', 'tap-bonus-k1', 'referral of tap-bonus-2') $$,
    'the transaction records type bonus, the client, the key and the reason');
SELECT is(
    (SELECT sum(balance) FROM ledger.wallets WHERE asset_id = 'asset-loyalty-001' AND kind = 'treasury'),
    :'treasury_loyalty_before'::numeric - 18.25,
    'the LOYALTY Treasury (all slots) went down by exactly the 18.25 granted');

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every bonus of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
