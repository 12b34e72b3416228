-- The database's own guards, proved by going around the API: transactions and entries cannot be
-- changed or removed by anyone (WIMUT), not even the owner or a superuser; entries must balance
-- (WUNBL); a user balance cannot go below zero (CHECK, 23514).
BEGIN;
SELECT plan(37);
-- TRUNCATE ... CASCADE announces the cascade with a NOTICE; it is expected
SET LOCAL client_min_messages = warning;

SELECT transaction_id AS tx, wallet_id AS w
FROM api.topup('tap-immut-1', 'asset-gold-coin-001', 40, 'tap-immut-k1', '{"why": "setup"}') \gset
SELECT count(*) AS tx_count FROM ledger.transactions \gset
SELECT count(*) AS entry_count FROM ledger.entries \gset

-- ---------------------------------------------------------------------------------------------
-- WIMUT as the owner of the tables
-- ---------------------------------------------------------------------------------------------
SET LOCAL ROLE wallet_owner;
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{"why": "changed"}' WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot UPDATE a transaction (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.transactions SET description = 'x' WHERE false $$,
    'WIMUT', NULL, 'the owner cannot even run an UPDATE on transactions that matches no row (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot DELETE a transaction (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    'WIMUT', NULL, 'the owner cannot TRUNCATE transactions (WIMUT)');
-- without CASCADE the foreign key from entries stops it before the trigger is reached
SELECT throws_ok($$ TRUNCATE ledger.transactions $$,
    '0A000', NULL, 'a plain TRUNCATE of transactions is refused too (entries reference them)');
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = amount * 2 WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot UPDATE an entry (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot DELETE an entry (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    'WIMUT', NULL, 'the owner cannot TRUNCATE entries (WIMUT)');

-- ---------------------------------------------------------------------------------------------
-- WIMUT as the superuser
-- ---------------------------------------------------------------------------------------------
RESET ROLE;
SELECT ok((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
    'the next tests run as a superuser');
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{}' WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot UPDATE a transaction (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot DELETE a transaction (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    'WIMUT', NULL, 'a superuser cannot TRUNCATE transactions (WIMUT)');
SELECT throws_ok(format($$ UPDATE ledger.entries SET balance_after = 0 WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot UPDATE an entry (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot DELETE an entry (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    'WIMUT', NULL, 'a superuser cannot TRUNCATE entries (WIMUT)');

-- ---------------------------------------------------------------------------------------------
-- The service and the auditor are stopped earlier, by privileges
-- ---------------------------------------------------------------------------------------------
SET LOCAL ROLE wallet_service;
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{}' WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on UPDATE of transactions');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on DELETE of transactions');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    '42501', NULL, 'wallet_service gets permission denied on TRUNCATE of transactions');
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = 1 WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on UPDATE of entries');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on DELETE of entries');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    '42501', NULL, 'wallet_service gets permission denied on TRUNCATE of entries');
SET LOCAL ROLE wallet_auditor;
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = 1 WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_auditor gets permission denied on UPDATE of entries');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_auditor gets permission denied on DELETE of transactions');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    '42501', NULL, 'wallet_auditor gets permission denied on TRUNCATE of entries');
RESET ROLE;

SELECT results_eq(
    format($$ SELECT t.metadata, t.description, sum(e.amount), count(e.id)
              FROM ledger.transactions AS t JOIN ledger.entries AS e ON e.transaction_id = t.id
              WHERE t.id = %s GROUP BY t.id $$, :tx),
    $$ VALUES ('{"why": "setup"}'::jsonb, NULL::text, 0::numeric, 2::bigint) $$,
    'after every attempt the transaction and its two entries are exactly as written');
SELECT is((SELECT count(*) FROM ledger.transactions), :tx_count::bigint, 'no transaction was removed');
SELECT is((SELECT count(*) FROM ledger.entries), :entry_count::bigint, 'no entry was removed');

-- ---------------------------------------------------------------------------------------------
-- WUNBL: the entries one statement writes for a transaction must balance within one asset
-- ---------------------------------------------------------------------------------------------
SET LOCAL ROLE wallet_owner;
INSERT INTO ledger.wallets (asset_id, kind, owner_id) VALUES
    ('asset-gold-coin-001', 'user', 'tap-immut-a'),
    ('asset-gold-coin-001', 'user', 'tap-immut-b'),
    ('asset-diamond-001', 'user', 'tap-immut-c');
SELECT id AS wa FROM ledger.wallets WHERE owner_id = 'tap-immut-a' \gset
SELECT id AS wb FROM ledger.wallets WHERE owner_id = 'tap-immut-b' \gset
SELECT id AS wc FROM ledger.wallets WHERE owner_id = 'tap-immut-c' \gset
INSERT INTO ledger.transactions (type, client_id, idempotency_key)
VALUES ('topup', 'tap:immut', 'tap-immut-raw-1'), ('topup', 'tap:immut', 'tap-immut-raw-2');
SELECT id AS raw1 FROM ledger.transactions WHERE idempotency_key = 'tap-immut-raw-1' \gset
SELECT id AS raw2 FROM ledger.transactions WHERE idempotency_key = 'tap-immut-raw-2' \gset

SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%s, %s, 5, 5, 1) $$, :raw1, :wa),
    'WUNBL', NULL, 'a single entry is ledger_unbalanced (WUNBL)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1), (%1$s, %3$s, -4, -4, 1) $$, :raw1, :wa, :wb),
    'WUNBL', NULL, 'two entries that do not sum to zero are ledger_unbalanced (WUNBL)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1), (%1$s, %3$s, -5, -5, 1) $$, :raw1, :wa, :wc),
    'WUNBL', NULL, 'entries that sum to zero across two assets are ledger_unbalanced (WUNBL)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %3$s, 5, 5, 1), (%1$s, %4$s, -5, -5, 1), (%2$s, %3$s, 1, 6, 2) $$,
           :raw1, :raw2, :wa, :wb),
    'WUNBL', NULL, 'one balanced and one unbalanced transaction in the same statement is ledger_unbalanced (WUNBL)');
RESET ROLE;
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1), (%1$s, %3$s, -4, -4, 1) $$, :raw1, :wa, :wb),
    'WUNBL', NULL, 'a superuser''s unbalanced entries are ledger_unbalanced too (WUNBL)');
SET LOCAL ROLE wallet_owner;
-- the guard is about balance, not about direct inserts: balanced entries pass it
SELECT lives_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1), (%1$s, %3$s, -5, -5, 1) $$, :raw1, :wa, :wb),
    'two entries summing to zero in one asset pass the double-entry trigger');

-- ---------------------------------------------------------------------------------------------
-- A user's balance cannot be negative (CHECK wallets_user_balance_not_negative)
-- ---------------------------------------------------------------------------------------------
SELECT throws_ok(
    $$ UPDATE ledger.wallets SET balance = -0.01 WHERE owner_id = 'tap-immut-1' AND asset_id = 'asset-gold-coin-001' $$,
    '23514', NULL, 'the owner cannot set a user balance below zero (check_violation 23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, balance) VALUES ('asset-loyalty-001', 'user', 'tap-immut-d', -1) $$,
    '23514', NULL, 'the owner cannot create a user wallet with a negative balance (23514)');
RESET ROLE;
SELECT throws_ok(
    $$ UPDATE ledger.wallets SET balance = balance - 1000 WHERE owner_id = 'tap-immut-1' AND asset_id = 'asset-gold-coin-001' $$,
    '23514', NULL, 'a superuser cannot set a user balance below zero either (23514)');
SELECT lives_ok(
    $$ UPDATE ledger.wallets SET balance = balance - 1000000
       WHERE asset_id = 'asset-gold-coin-001' AND kind = 'treasury' AND slot = 0 $$,
    'system accounts may go below zero (the Treasury does): the CHECK is about user wallets only');

SELECT * FROM finish();
ROLLBACK;
