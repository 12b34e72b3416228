-- api.grant_bonus: Treasury -> user with a required reason. What it writes, and every error it
-- raises (WDESC for the reason, and the checks it shares with api.topup). Called as wallet_service.
BEGIN;
\ir lib/helpers.psql
SELECT plan(32);

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

-- ---------------------------------------------------------------------------------------------
-- Rejected
-- ---------------------------------------------------------------------------------------------
SELECT count(*) AS tx_before FROM ledger.transactions \gset
SELECT tap.act_as('wallet_service');

SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 5, NULL, 'tap-bonus-x1') $$,
    'WDESC', NULL, 'a missing reason is invalid_description (WDESC)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 5, '', 'tap-bonus-x2') $$,
    'WDESC', NULL, 'an empty reason is invalid_description (WDESC)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 5, '    ', 'tap-bonus-x3') $$,
    'WDESC', NULL, 'a blank reason is invalid_description (WDESC)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 5, E'\t\n', 'tap-bonus-x3b') $$,
    'WDESC', NULL, 'a reason of only a tab and a newline is blank too (WDESC)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 5, repeat('r', 501), 'tap-bonus-x4') $$,
    'WDESC', NULL, 'a reason of 501 characters is invalid_description (WDESC)');

SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 0, 'r', 'tap-bonus-x5') $$,
    'WAMNT', NULL, 'a zero bonus is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', -1, 'r', 'tap-bonus-x6') $$,
    'WAMNT', NULL, 'a negative bonus is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', NULL, 'r', 'tap-bonus-x7') $$,
    'WAMNT', NULL, 'a NULL bonus is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 'NaN', 'r', 'tap-bonus-x8') $$,
    'WAMNT', NULL, 'a NaN bonus is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 'Infinity', 'r', 'tap-bonus-x9') $$,
    'WAMNT', NULL, 'an infinite bonus is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1.001, 'r', 'tap-bonus-x10') $$,
    'WAMNT', NULL, 'a bonus of 1.001 has too many decimal places (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1000000000.01, 'r', 'tap-bonus-x11') $$,
    'WAMNT', NULL, 'a bonus above max_amount is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-nope', 1, 'r', 'tap-bonus-x12') $$,
    'WASST', NULL, 'a bonus in an unknown asset is unknown_asset (WASST)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('', 'asset-loyalty-001', 1, 'r', 'tap-bonus-x13') $$,
    'WUSER', NULL, 'a bonus for an empty user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus(repeat('u', 129), 'asset-loyalty-001', 1, 'r', 'tap-bonus-x14') $$,
    'WUSER', NULL, 'a bonus for a 129-character user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap bonus 2', 'asset-loyalty-001', 1, 'r', 'tap-bonus-x15') $$,
    'WUSER', NULL, 'a bonus for a user id with spaces is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1, 'r', '') $$,
    'WIKEY', NULL, 'a bonus with an empty key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1, 'r', repeat('k', 256)) $$,
    'WIKEY', NULL, 'a bonus with a 256-character key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1, 'r', 'bonus-ключ') $$,
    'WIKEY', NULL, 'a bonus with a non-ASCII key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1, 'r', 'tap-bonus-x16', '["a"]') $$,
    'WMETA', NULL, 'a bonus with array metadata is invalid_metadata (WMETA)');
SELECT throws_ok(
    $$ SELECT * FROM api.grant_bonus('tap-bonus-2', 'asset-loyalty-001', 1, 'r', 'tap-bonus-x17',
                                     jsonb_build_object('note', repeat('x', 5000))) $$,
    'WMETA', NULL, 'a bonus with metadata over 4096 bytes is invalid_metadata (WMETA)');

SELECT tap.act_as_superuser();
SELECT is((SELECT count(*) FROM ledger.transactions), :tx_before::bigint,
    'no rejected bonus left a transaction behind');
SELECT is_empty($$ SELECT * FROM ledger.wallets WHERE owner_id = 'tap-bonus-2' $$,
    'the user of the rejected bonuses still has no wallet');

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every bonus of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
