-- api.transfer: user -> user, two user legs and no system slot (issue 15). What it writes, the
-- lock order's visible half (both legs, versions), posted_at, every error it raises, replay, key
-- reuse, and who may call it. Called as wallet_service, like the HTTP service.
BEGIN;
\ir lib/helpers.psql
SELECT plan(54);

SELECT coalesce(sum(balance), 0) AS system_gold_before FROM ledger.wallets
WHERE asset_id = 'asset-gold-coin-001' AND kind <> 'user' \gset

SELECT tap.act_as('wallet_service');
SELECT wallet_id AS wa FROM api.topup('tap-tr-a', 'asset-gold-coin-001', 100, 'tap-tr-fund-a') \gset
SELECT wallet_id AS wb FROM api.topup('tap-tr-b', 'asset-gold-coin-001', 10, 'tap-tr-fund-b') \gset

-- ---------------------------------------------------------------------------------------------
-- Success: A -> B (A sorts first), then B -> A (the recipient sorts first), then to a new user
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx1, from_wallet_id AS fw1, from_balance AS fb1, to_wallet_id AS tw1,
       to_balance AS tb1, replayed AS r1, amount AS am1, created_at AS ca1
FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 30, 'rent', 'tap-tr-k1',
                  '{"note": "march"}', 'api:tap') \gset

SELECT is(:'fb1'::text, '70.00', 'a transfer debits the sender: 100.00 - 30 = 70.00');
SELECT is(:'tb1'::text, '40.00', 'and credits the recipient: 10.00 + 30 = 40.00');
SELECT is(:fw1::bigint, :wa::bigint, 'from_wallet_id is the sender''s wallet');
SELECT is(:tw1::bigint, :wb::bigint, 'to_wallet_id is the recipient''s wallet');
SELECT is(:'r1'::boolean, false, 'a first transfer is not a replay');
SELECT is(:'am1'::text, '30.00', 'amount is shown at the asset''s places');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, account, direction, amount::text, balance_after::text
              FROM api.transaction_entries(%s) ORDER BY direction $$, :tx1),
    $$ VALUES ('user', 'tap-tr-b', NULL::text, 'credit', '30.00', '40.00'),
              ('user', 'tap-tr-a', NULL::text, 'debit', '30.00', '70.00') $$,
    'a transfer is two user legs, the sender''s debit and the recipient''s credit, and no system slot');
SELECT results_eq(
    format($$ SELECT type::text, user_id, asset_id, amount::text, balance::text, wallet_id, description,
                     metadata, cardinality(entries)
              FROM api.get_transaction(%s) $$, :tx1),
    format($$ VALUES ('transfer', 'tap-tr-a', 'asset-gold-coin-001', '30.00', '70.00', %s::bigint,
                      'rent', '{"note": "march"}'::jsonb, 2) $$, :wa),
    'api.get_transaction shows a transfer by its sender''s side, with both entries');

SELECT results_eq(
    $$ SELECT from_balance::text, to_balance::text FROM
       api.transfer('tap-tr-b', 'tap-tr-a', 'asset-gold-coin-001', 40, 'back', 'tap-tr-k2') $$,
    $$ VALUES ('0.00', '110.00') $$,
    'B -> A (the recipient sorts first) moves the whole balance: B 0.00, A 110.00');

SELECT transaction_id AS tx3, to_wallet_id AS tw3, to_balance AS tb3
FROM api.transfer('tap-tr-a', 'tap-tr-new', 'asset-gold-coin-001', 0.5, 'welcome', 'tap-tr-k3') \gset
SELECT is(:'tb3'::text, '0.50', 'a transfer to a user without a wallet creates it with the amount');
SELECT results_eq(
    $$ SELECT wallet_id, balance::text, version FROM api.balances('tap-tr-new', 'asset-gold-coin-001') $$,
    format($$ VALUES (%s::bigint, '0.50', 1::bigint) $$, :tw3),
    'the new wallet is at version 1 with 0.50');
SELECT results_eq(
    $$ SELECT user_id, balance::text, version FROM (
         SELECT 'tap-tr-a' AS user_id, * FROM api.balances('tap-tr-a', 'asset-gold-coin-001')
         UNION ALL SELECT 'tap-tr-b', * FROM api.balances('tap-tr-b', 'asset-gold-coin-001')) AS b
       ORDER BY 1 $$,
    $$ VALUES ('tap-tr-a', '109.50', 4::bigint), ('tap-tr-b', '0.00', 3::bigint) $$,
    'A: top-up, out, in, out (version 4, 109.50); B: top-up, in, out (version 3, 0.00)');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT type::text, client_id::text COLLATE "default", description::text,
                     reverses_transaction_id FROM ledger.transactions WHERE id = %s $$, :tx1),
    $$ VALUES ('transfer', 'api:tap', 'rent', NULL::bigint) $$,
    'the transaction records type transfer, the client, the description, and reverses nothing');
SELECT is(
    (SELECT sum(balance) FROM ledger.wallets WHERE asset_id = 'asset-gold-coin-001' AND kind <> 'user'),
    :'system_gold_before'::numeric - 110,
    'no system slot moved but for the two top-ups: transfers only move money between users');
SELECT is(
    (SELECT count(DISTINCT posted_at) FROM ledger.entries WHERE transaction_id = :tx1),
    1::bigint, 'both entries of a transfer carry one posted_at');
SELECT is_empty(
    $$ SELECT e.id FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
       WHERE w.owner_id IN ('tap-tr-a', 'tap-tr-b', 'tap-tr-new') AND e.posted_at IS NULL $$,
    'every entry of this file, top-ups (ledger._post) and transfers, has a posted_at');
SELECT is_empty(
    $$ SELECT e.id FROM (
         SELECT e.id, e.posted_at, lag(e.posted_at) OVER (PARTITION BY e.wallet_id ORDER BY e.wallet_version) AS prev
         FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
         WHERE w.owner_id IN ('tap-tr-a', 'tap-tr-b', 'tap-tr-new')) AS e
       WHERE e.posted_at < e.prev $$,
    'posted_at never decreases along a wallet''s versions');
SELECT is(
    (SELECT count(DISTINCT posted_at) FROM ledger.entries AS e JOIN ledger.transactions AS t ON t.id = e.transaction_id
     WHERE t.idempotency_key = 'tap-tr-fund-a'),
    1::bigint, 'a top-up''s two entries (user and Treasury slot) carry one posted_at too');
SELECT is_empty($$ SELECT * FROM api.unbalanced_transactions $$,
    'api.unbalanced_transactions knows a transfer''s shape (two user legs, no slot): it lists none');

-- ---------------------------------------------------------------------------------------------
-- Replay and key reuse
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT results_eq(
    $$ SELECT transaction_id, from_wallet_id, from_balance::text, to_wallet_id, to_balance::text, replayed,
              amount::text, created_at
       FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 30.00, 'rent', 'tap-tr-k1',
                         '{"note": "march"}', 'api:tap') $$,
    format($$ VALUES (%s::bigint, %s::bigint, '70.00', %s::bigint, '40.00', true, '30.00', %L::timestamptz) $$,
           :tx1, :wa, :wb, :'ca1'),
    'the same key and arguments replay the original: its balances after, replayed = true');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 31, 'rent', 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'the key with another amount is idempotency_key_reused (WIDEM)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-new', 'asset-gold-coin-001', 30, 'rent', 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'the key with another recipient is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-b', 'tap-tr-a', 'asset-gold-coin-001', 30, 'rent', 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'the key with sender and recipient swapped is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-diamond-001', 30, 'rent', 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'the key in another asset is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 30, 'rent!', 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'the key with another description is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 30, 'rent', 'tap-tr-k1', '{}', 'api:tap') $$,
    'WIDEM', NULL, 'the key with other metadata is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-tr-a', 'asset-gold-coin-001', 30, 'tap-tr-k1', '{"note": "march"}', 'api:tap') $$,
    'WIDEM', NULL, 'a transfer''s key used for a top-up is WIDEM (ledger._replay knows two user legs)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 100, 'rent', 'tap-tr-fund-a') $$,
    'WIDEM', NULL, 'a top-up''s key used for a transfer is WIDEM');
SELECT * FROM tap.nothing_moved('the replay and the refused key reuses');

-- ---------------------------------------------------------------------------------------------
-- Errors: each moves nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-a', 'asset-gold-coin-001', 1, 'me', 'tap-tr-e1') $$,
    'WSAME', NULL, 'a transfer to oneself is same_user (WSAME)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-b', 'tap-tr-a', 'asset-gold-coin-001', 0.01, 'x', 'tap-tr-e2') $$,
    'WFUND', NULL, 'a transfer from an empty wallet is insufficient_funds (WFUND)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 109.51, 'x', 'tap-tr-e3') $$,
    'WFUND', NULL, 'one cent more than the sender holds is WFUND (A sorts first)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-new', 'tap-tr-a', 'asset-gold-coin-001', 0.51, 'x', 'tap-tr-e4') $$,
    'WFUND', NULL, 'one cent more than the sender holds is WFUND (the recipient sorts first)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-nowallet', 'tap-tr-zz-new', 'asset-gold-coin-001', 1, 'x', 'tap-tr-e5') $$,
    'WFUND', NULL, 'a sender without a wallet is WFUND, and the recipient''s wallet is not created');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 0, 'x', 'tap-tr-e6') $$,
    'WAMNT', NULL, 'an amount of 0 is invalid_amount (WAMNT)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1.001, 'x', 'tap-tr-e7') $$,
    'WAMNT', NULL, 'an amount with 3 places in a 2-place asset is WAMNT');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 'NaN', 'x', 'tap-tr-e8') $$,
    'WAMNT', NULL, 'NaN is WAMNT');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-nope', 1, 'x', 'tap-tr-e9') $$,
    'WASST', NULL, 'an unknown asset is unknown_asset (WASST)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'bad user', 'asset-gold-coin-001', 1, 'x', 'tap-tr-e10') $$,
    'WUSER', NULL, 'an invalid recipient is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.transfer(NULL, 'tap-tr-b', 'asset-gold-coin-001', 1, 'x', 'tap-tr-e11') $$,
    'WUSER', NULL, 'a NULL sender is WUSER');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, '   ', 'tap-tr-e12') $$,
    'WDESC', NULL, 'a blank description is invalid_description (WDESC)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, 'x', '') $$,
    'WIKEY', NULL, 'an empty key is idempotency_key_invalid (WIKEY)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, 'x', 'tap-tr-e13', '[]') $$,
    'WMETA', NULL, 'metadata that is not an object is invalid_metadata (WMETA)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, 'x', 'tap-tr-e14', '{}', 'nightly-job') $$,
    'WCLNS', NULL, 'wallet_service naming a job''s client is client_id_forbidden (WCLNS)');
SELECT * FROM tap.nothing_moved('the refused transfers');

-- ---------------------------------------------------------------------------------------------
-- Privileges: the job may, the auditor may not
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, 'job', 'tap-tr-j1') $$,
    'wallet_job can call api.transfer');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-tr-a', 'tap-tr-b', 'asset-gold-coin-001', 1, 'x', 'tap-tr-p1') $$,
    '42501', NULL, 'wallet_auditor cannot call api.transfer');

SELECT tap.act_as_superuser();
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every transfer of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
