-- Idempotency keys: a replay returns the original result and moves nothing; a reused key with
-- other arguments is WIDEM; keys are scoped per client; a rejected call does not use up its key.
BEGIN;
\ir lib/helpers.psql
SELECT plan(47);

SELECT tap.act_as('wallet_service');
SELECT transaction_id AS tx_a, wallet_id AS w_a, balance AS b_a, replayed AS r_a, amount AS amount_a
FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') \gset
SELECT balance AS b_after_k2
FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 5, 'tap-idem-k2', '{}', 'api:one') \gset

SELECT is(:'r_a'::boolean, false, 'the first call with a key is not a replay');
SELECT is(:'b_after_k2'::text, '15.00', 'a second key moves money again: 10 + 5 = 15.00');

SELECT tap.snapshot();

-- ---------------------------------------------------------------------------------------------
-- Replays
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    $$ SELECT transaction_id, wallet_id, balance::text, replayed
       FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    format($$ VALUES (%s::bigint, %s::bigint, '10.00', true) $$, :tx_a, :w_a),
    'a replayed top-up returns the same transaction and wallet, the ORIGINAL balance (10.00, not 15.00), replayed = true');
SELECT results_eq(
    $$ SELECT transaction_id, replayed
       FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10.0, 'tap-idem-k1', '{"b": 2, "a": 1}', 'api:one') $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_a),
    'the same amount written differently (10.0) and the same metadata in another key order is the same call');
SELECT tap.act_as_superuser();
SELECT created_at AS created_a FROM ledger.transactions WHERE id = :tx_a \gset
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT amount::text, created_at
       FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10.0, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    format($$ VALUES ('10.00', %L::timestamptz) $$, :'created_a'),
    'a replay returns the original amount at the asset''s places and the original transaction''s created_at');
SELECT is(:'amount_a'::text, '10.00', 'the first call returns its amount at the asset''s places (10 -> 10.00)');

SELECT * FROM tap.nothing_moved('the replays (the Treasury''s slots included)');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT balance, version::bigint FROM ledger.wallets WHERE owner_id = 'tap-idem-1' AND asset_id = 'asset-gold-coin-001' $$,
    $$ VALUES (15::numeric, 2::bigint) $$,
    'replays left the wallet''s balance and version as they were (15 at version 2)');
SELECT tap.act_as('wallet_service');

SELECT transaction_id AS tx_s FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 4, 'a hat', 'tap-idem-k3', '{}', 'api:one') \gset
SELECT results_eq(
    $$ SELECT transaction_id, wallet_id, balance::text, replayed
       FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 4, 'a hat', 'tap-idem-k3', '{}', 'api:one') $$,
    format($$ VALUES (%s::bigint, %s::bigint, '11.00', true) $$, :tx_s, :w_a),
    'a replayed spend returns the same transaction, wallet and balance, replayed = true');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-idem-1', 'asset-gold-coin-001') $$,
    ARRAY['11.00'],
    'the replayed spend did not debit again (15 - 4 = 11.00)');
SELECT transaction_id AS tx_last FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 11, 'the rest', 'tap-idem-k4', '{}', 'api:one') \gset
SELECT results_eq(
    $$ SELECT transaction_id, balance::text, replayed
       FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 11, 'the rest', 'tap-idem-k4', '{}', 'api:one') $$,
    format($$ VALUES (%s::bigint, '0.00', true) $$, :tx_last),
    'replaying a spend that took the last coin is a replay, not insufficient_funds');
SELECT transaction_id AS tx_b FROM api.grant_bonus('tap-idem-1', 'asset-gold-coin-001', 3, 'a gift', 'tap-idem-k5', '{}', 'api:one') \gset
SELECT results_eq(
    $$ SELECT transaction_id, balance::text, replayed
       FROM api.grant_bonus('tap-idem-1', 'asset-gold-coin-001', 3, 'a gift', 'tap-idem-k5', '{}', 'api:one') $$,
    format($$ VALUES (%s::bigint, '3.00', true) $$, :tx_b),
    'a replayed bonus returns the same transaction and balance, replayed = true');

-- ---------------------------------------------------------------------------------------------
-- The same key with other arguments: WIDEM
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();

SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 11, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    'WIDEM', NULL, 'the key with another amount is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-2', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    'WIDEM', NULL, 'the key for another user is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-1', 'asset-diamond-001', 10, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    'WIDEM', NULL, 'the key in another asset is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.grant_bonus('tap-idem-1', 'asset-gold-coin-001', 10, 'r', 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    'WIDEM', NULL, 'a top-up''s key used for a bonus is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 10, 'd', 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    'WIDEM', NULL, 'a top-up''s key used for a spend is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1}', 'api:one') $$,
    'WIDEM', NULL, 'the key with other metadata is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1, "b": "2"}', 'api:one') $$,
    'WIDEM', NULL, 'the key with metadata differing only in a value''s type is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.grant_bonus('tap-idem-1', 'asset-gold-coin-001', 3, 'another gift', 'tap-idem-k5', '{}', 'api:one') $$,
    'WIDEM', NULL, 'a bonus''s key with another reason is idempotency_key_reused (WIDEM)');
SELECT throws_ok(
    $$ SELECT * FROM api.spend('tap-idem-1', 'asset-gold-coin-001', 4, 'a cap', 'tap-idem-k3', '{}', 'api:one') $$,
    'WIDEM', NULL, 'a spend''s key with another description is idempotency_key_reused (WIDEM)');
SELECT results_eq(
    $$ SELECT transaction_id, balance::text, replayed
       FROM api.topup('tap-idem-1', 'asset-gold-coin-001', 10, 'tap-idem-k1', '{"a": 1, "b": 2}', 'api:one') $$,
    format($$ VALUES (%s::bigint, '10.00', true) $$, :tx_a),
    'after the refused reuses the key still replays its original transaction');

SELECT * FROM tap.nothing_moved('the refused reuses');

-- ---------------------------------------------------------------------------------------------
-- Keys are scoped per client
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT transaction_id AS tx_one, replayed AS r_one
FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared', '{}', 'api:one') \gset
SELECT transaction_id AS tx_two, replayed AS r_two, balance AS b_two
FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared', '{}', 'api:two') \gset
SELECT isnt(:tx_two::bigint, :tx_one::bigint,
    'the same key under two client ids makes two transactions');
SELECT ok(NOT :'r_one'::boolean AND NOT :'r_two'::boolean, 'neither of the two is a replay');
SELECT is(:'b_two'::text, '2.00', 'both credited the wallet: 1 + 1 = 2.00');

-- a direct SQL caller (here the superuser running the tests) names no client
SELECT tap.act_as_superuser();
SELECT transaction_id AS tx_sql, replayed AS r_sql
FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared') \gset
SELECT ok(:tx_sql::bigint NOT IN (:tx_one, :tx_two) AND NOT :'r_sql'::boolean,
    'the same key from a direct SQL caller without a client id is a third, new transaction');
SELECT results_eq(
    $$ SELECT client_id::text COLLATE "default" FROM ledger.transactions
       WHERE idempotency_key = 'tap-idem-shared' ORDER BY client_id $$,
    $$ VALUES ('api:one'), ('api:two'), ('sql:' || session_user::text COLLATE "default") $$,
    'the key is stored once per client: api:one, api:two and sql:<session_user> for the direct caller');
SELECT results_eq(
    $$ SELECT transaction_id, replayed
       FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared', '{}', 'sql:' || session_user) $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_sql),
    'naming client sql:<session_user> explicitly replays the direct caller''s transaction');
-- the client comes from the login role, not from SET ROLE
SET LOCAL ROLE wallet_service;
SELECT results_eq(
    $$ SELECT transaction_id, replayed FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared') $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_sql),
    'after SET ROLE the client is still sql:<session_user>, so the call replays');
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT transaction_id, replayed
       FROM api.topup('tap-idem-3', 'asset-gold-coin-001', 1, 'tap-idem-shared', '{}', 'api:two') $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_two),
    'each client replays its own transaction (api:two)');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-idem-3', 'asset-gold-coin-001') $$,
    ARRAY['3.00'],
    'three clients, three credits: 3.00; the replays added nothing');

-- ---------------------------------------------------------------------------------------------
-- A rejected call does not use up its key
-- ---------------------------------------------------------------------------------------------
SELECT throws_ok(
    $$ SELECT * FROM api.spend('tap-idem-4', 'asset-gold-coin-001', 5, 'a coat', 'tap-idem-k9', '{}', 'api:one') $$,
    'WFUND', NULL, 'a spend without funds is refused (WFUND)');
SELECT tap.act_as_superuser();
SELECT is_empty($$ SELECT * FROM ledger.transactions WHERE idempotency_key = 'tap-idem-k9' $$,
    'the refused spend did not claim its key');
SELECT tap.act_as('wallet_service');
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-idem-4', 'asset-gold-coin-001', 10, 'tap-idem-k8', '{}', 'api:one') $$,
    'the user is then topped up with 10');
SELECT results_eq(
    $$ SELECT balance::text, replayed
       FROM api.spend('tap-idem-4', 'asset-gold-coin-001', 5, 'a coat', 'tap-idem-k9', '{}', 'api:one') $$,
    $$ VALUES ('5.00', false) $$,
    'the same spend with the same key now succeeds as a new transaction (not a replay of the refusal)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-idem-4', 'asset-gold-coin-001', 0, 'tap-idem-k10', '{}', 'api:one') $$,
    'WAMNT', NULL, 'a top-up of zero is refused (WAMNT)');
SELECT results_eq(
    $$ SELECT balance::text, replayed
       FROM api.topup('tap-idem-4', 'asset-gold-coin-001', 2, 'tap-idem-k10', '{}', 'api:one') $$,
    $$ VALUES ('7.00', false) $$,
    'the key of the invalid top-up is then free for a valid one');
SELECT throws_ok(
    $$ SELECT * FROM api.spend('tap-idem-4', 'asset-gold-coin-001', 1, ' ', 'tap-idem-k11', '{}', 'api:one') $$,
    'WDESC', NULL, 'a spend with a blank description is refused (WDESC)');
SELECT results_eq(
    $$ SELECT balance::text, replayed
       FROM api.spend('tap-idem-4', 'asset-gold-coin-001', 1, 'a button', 'tap-idem-k11', '{}', 'api:one') $$,
    $$ VALUES ('6.00', false) $$,
    'the key of the invalid spend is then free for a valid one');
SELECT tap.act_as_superuser();

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote (replays and refusals wrote none).
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every transaction of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
