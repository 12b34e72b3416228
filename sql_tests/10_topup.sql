-- api.topup: Treasury -> user. What it writes, what it accepts at the edges, and every error it
-- raises (WAMNT, WASST, WUSER, WIKEY, WMETA). Called as wallet_service, like the HTTP service.
BEGIN;
\ir lib/helpers.psql
SELECT plan(57);

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
-- Accepted at the edges
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
SELECT lives_ok(
    $$ SELECT * FROM api.topup(repeat('u', 128), 'asset-gold-coin-001', 1, 'tap-topup-e4') $$,
    'a user id of 128 characters is accepted');
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap.Topup_4:x@y-Z9', 'asset-gold-coin-001', 1, 'tap-topup-e5') $$,
    'a user id may use letters, digits and ._:@-');
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 1, 'tap-topup-e6-' || repeat('k', 242)) $$,
    'an idempotency key of 255 characters is accepted');
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 1, ' tap-topup e7 !"#$%&''()*+,-./:;<=>?@[\]^_`{|}~') $$,
    'an idempotency key may use any printable ASCII, spaces included');
-- '{"note": ""}' is 12 bytes as jsonb text, so 4084 more make exactly 4096
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 1, 'tap-topup-e8',
                               jsonb_build_object('note', repeat('x', 4084))) $$,
    'metadata of exactly 4096 bytes is accepted');
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-topup-2', 'asset-gold-coin-001', 1, 'tap-topup-e9',
                               '{"nested": {"list": [1, 2, {"deep": null}]}}') $$,
    'nested metadata is accepted');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-topup-2', 'asset-gold-coin-001') $$,
    ARRAY['5.01'],
    'each accepted top-up was credited once: 1.00 + 0.01 + 4 x 1 = 5.01');

-- ---------------------------------------------------------------------------------------------
-- Rejected: nothing may be written by any of these
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SELECT count(*) AS tx_before FROM ledger.transactions \gset
SELECT count(*) AS wallets_before FROM ledger.wallets \gset
SELECT tap.act_as('wallet_service');

SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 0, 'tap-topup-x1') $$,
    'WAMNT', NULL, 'a zero amount is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', -5, 'tap-topup-x2') $$,
    'WAMNT', NULL, 'a negative amount is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', NULL, 'tap-topup-x3') $$,
    'WAMNT', NULL, 'a NULL amount is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 'NaN', 'tap-topup-x4') $$,
    'WAMNT', NULL, 'NaN is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 'Infinity', 'tap-topup-x5') $$,
    'WAMNT', NULL, 'Infinity is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', '-Infinity', 'tap-topup-x6') $$,
    'WAMNT', NULL, '-Infinity is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1.001, 'tap-topup-x7') $$,
    'WAMNT', NULL, '1.001 has three decimal places, one more than the asset allows (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 0.001, 'tap-topup-x8') $$,
    'WAMNT', NULL, '0.001 rounds to zero at two places and is rejected, not rounded (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1000000000.01, 'tap-topup-x9') $$,
    'WAMNT', NULL, 'one cent above max_amount is invalid_amount (WAMNT)');

SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-unknown-001', 1, 'tap-topup-x10') $$,
    'WASST', NULL, 'an unknown asset is unknown_asset (WASST)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'GOLD_COIN', 1, 'tap-topup-x11') $$,
    'WASST', NULL, 'an asset code is not an asset id (WASST)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', NULL, 1, 'tap-topup-x12') $$,
    'WASST', NULL, 'a NULL asset is unknown_asset (WASST)');

SELECT throws_ok($$ SELECT * FROM api.topup('', 'asset-gold-coin-001', 1, 'tap-topup-x13') $$,
    'WUSER', NULL, 'an empty user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup(repeat('u', 129), 'asset-gold-coin-001', 1, 'tap-topup-x14') $$,
    'WUSER', NULL, 'a user id of 129 characters is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap topup 5', 'asset-gold-coin-001', 1, 'tap-topup-x15') $$,
    'WUSER', NULL, 'a user id with spaces is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup(NULL, 'asset-gold-coin-001', 1, 'tap-topup-x16') $$,
    'WUSER', NULL, 'a NULL user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup(E'tap-topup-5\n', 'asset-gold-coin-001', 1, 'tap-topup-x17') $$,
    'WUSER', NULL, 'a user id with a trailing newline is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-tópup-5', 'asset-gold-coin-001', 1, 'tap-topup-x18') $$,
    'WUSER', NULL, 'a user id with a non-ASCII letter is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap/topup/5', 'asset-gold-coin-001', 1, 'tap-topup-x19') $$,
    'WUSER', NULL, 'a user id with a slash is invalid_user_id (WUSER)');

SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, '') $$,
    'WIKEY', NULL, 'an empty idempotency key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, repeat('k', 256)) $$,
    'WIKEY', NULL, 'an idempotency key of 256 characters is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-clé') $$,
    'WIKEY', NULL, 'a non-ASCII idempotency key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, E'tap-topup\tx20') $$,
    'WIKEY', NULL, 'an idempotency key with a control character is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, NULL) $$,
    'WIKEY', NULL, 'a NULL idempotency key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x21', '{}', '') $$,
    'WCLNT', NULL, 'an empty client id is invalid_client_id (WCLNT)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x22', '{}', repeat('c', 201)) $$,
    'WCLNT', NULL, 'a client id of 201 characters is invalid_client_id (WCLNT)');

SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x23', '[]') $$,
    'WMETA', NULL, 'array metadata is invalid_metadata (WMETA)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x24', '"text"') $$,
    'WMETA', NULL, 'string metadata is invalid_metadata (WMETA)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x25', '42') $$,
    'WMETA', NULL, 'number metadata is invalid_metadata (WMETA)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x26', 'null') $$,
    'WMETA', NULL, 'JSON null metadata is invalid_metadata (WMETA)');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x27', NULL) $$,
    'WMETA', NULL, 'SQL NULL metadata is invalid_metadata (WMETA)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-topup-5', 'asset-gold-coin-001', 1, 'tap-topup-x28',
                               jsonb_build_object('note', repeat('x', 4085))) $$,
    'WMETA', NULL, 'metadata of 4097 bytes is invalid_metadata (WMETA)');

SELECT tap.act_as_superuser();
SELECT is((SELECT count(*) FROM ledger.transactions), :tx_before::bigint,
    'no rejected top-up left a transaction behind');
SELECT is((SELECT count(*) FROM ledger.wallets), :wallets_before::bigint,
    'no rejected top-up created a wallet');
SELECT is_empty($$ SELECT * FROM ledger.wallets WHERE owner_id LIKE 'tap-topup-5%' $$,
    'the user of the rejected top-ups still has no wallet');

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every top-up of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
