-- The database's own guards, proved by going around the API: transactions and entries cannot be
-- changed or removed by anyone (WIMUT), not even the owner or a superuser, nor entries added to a
-- committed transaction (WIMUT, trigger entries_of_new_transactions); every transaction must
-- balance when its database transaction commits (WUNBL, deferred constraint trigger
-- transactions_balance); a user balance cannot go below zero but by a reversal (trigger
-- wallets_negative_only_by_reversal, 23514); every column with a
-- rule rejects a value outside its domain (23514); a wallet's asset, kind, owner and slot fit
-- together (23514) and never change (WIMUT) (trigger wallets_identity).
--
-- The double-entry check is deferred to COMMIT, which a test file never reaches (it ends in
-- ROLLBACK). SET CONSTRAINTS ledger.transactions_balance IMMEDIATE runs it at once on every
-- transaction written so far and not yet checked. A failed check does not mark anything checked,
-- so each unbalanced case below is written and checked inside its own throws_ok, whose
-- subtransaction takes it away again; and the constraint is set back to DEFERRED after each
-- forced check, since api.topup writes a transaction's row before its entries and could not post
-- with the check IMMEDIATE.
BEGIN;
\ir lib/helpers.psql
SELECT plan(82);
-- TRUNCATE ... CASCADE announces the cascade with a NOTICE; it is expected
SET LOCAL client_min_messages = warning;
-- TRUNCATE needs ledger.transactions and ledger.entries to itself, and the setup posting below
-- needs ledger.wallets, which 80_invariants.sql holds for its whole run. Taking the three locks
-- together, first, and never waiting while holding one of them (NOWAIT, retried) keeps this file
-- and a concurrently running one (pg_prove -j) from deadlocking: the others wait for this one.
DO $$
BEGIN
    FOR i IN 1..1200 LOOP
        BEGIN
            LOCK TABLE ledger.wallets, ledger.transactions, ledger.entries IN ACCESS EXCLUSIVE MODE NOWAIT;
            RETURN;
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_sleep(0.05);
        END;
    END LOOP;
    RAISE EXCEPTION 'could not lock the ledger tables within a minute';
END
$$;

SELECT tap.snapshot();

-- ---------------------------------------------------------------------------------------------
-- TRUNCATE: WIMUT for the owner and a superuser, permission denied for the others. These come
-- first: once this transaction has inserted into ledger.transactions, the deferred check has an
-- event pending on it and PostgreSQL refuses any TRUNCATE of it (55006) before the immutability
-- trigger is reached.
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    'WIMUT', NULL, 'the owner cannot TRUNCATE transactions (WIMUT)');
-- without CASCADE the foreign key from entries stops it before the trigger is reached
SELECT throws_ok($$ TRUNCATE ledger.transactions $$,
    '0A000', NULL, 'a plain TRUNCATE of transactions is refused too (entries reference them)');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    'WIMUT', NULL, 'the owner cannot TRUNCATE entries (WIMUT)');
SELECT tap.act_as_superuser();
SELECT ok((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
    'the tests run without SET ROLE run as a superuser');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    'WIMUT', NULL, 'a superuser cannot TRUNCATE transactions (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    'WIMUT', NULL, 'a superuser cannot TRUNCATE entries (WIMUT)');
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ TRUNCATE ledger.transactions CASCADE $$,
    '42501', NULL, 'wallet_service gets permission denied on TRUNCATE of transactions');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    '42501', NULL, 'wallet_service gets permission denied on TRUNCATE of entries');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok($$ TRUNCATE ledger.entries $$,
    '42501', NULL, 'wallet_auditor gets permission denied on TRUNCATE of entries');
SELECT tap.act_as_superuser();
SELECT * FROM tap.nothing_moved('the TRUNCATE attempts');

-- ---------------------------------------------------------------------------------------------
-- A posting through the API, the subject of what follows
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx, wallet_id AS w
FROM api.topup('tap-immut-1', 'asset-gold-coin-001', 40, 'tap-immut-k1', '{"why": "setup"}') \gset
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'a normal api.topup passes the deferred double-entry check when it is forced after the call');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.snapshot();

-- ---------------------------------------------------------------------------------------------
-- WIMUT as the owner of the tables
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{"why": "changed"}' WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot UPDATE a transaction (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.transactions SET description = 'x' WHERE false $$,
    'WIMUT', NULL, 'the owner cannot even run an UPDATE on transactions that matches no row (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot DELETE a transaction (WIMUT)');
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = amount * 2 WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot UPDATE an entry (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'the owner cannot DELETE an entry (WIMUT)');

-- ---------------------------------------------------------------------------------------------
-- WIMUT as the superuser
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{}' WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot UPDATE a transaction (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot DELETE a transaction (WIMUT)');
SELECT throws_ok(format($$ UPDATE ledger.entries SET balance_after = 0 WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot UPDATE an entry (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    'WIMUT', NULL, 'a superuser cannot DELETE an entry (WIMUT)');

-- ---------------------------------------------------------------------------------------------
-- The service and the auditor are stopped earlier, by privileges
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT throws_ok(format($$ UPDATE ledger.transactions SET metadata = '{}' WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on UPDATE of transactions');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on DELETE of transactions');
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = 1 WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on UPDATE of entries');
SELECT throws_ok(format($$ DELETE FROM ledger.entries WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_service gets permission denied on DELETE of entries');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok(format($$ UPDATE ledger.entries SET amount = 1 WHERE transaction_id = %s $$, :tx),
    '42501', NULL, 'wallet_auditor gets permission denied on UPDATE of entries');
SELECT throws_ok(format($$ DELETE FROM ledger.transactions WHERE id = %s $$, :tx),
    '42501', NULL, 'wallet_auditor gets permission denied on DELETE of transactions');
SELECT tap.act_as_superuser();

SELECT results_eq(
    format($$ SELECT t.metadata::jsonb, t.description::text, sum(e.amount), count(e.id)
              FROM ledger.transactions AS t JOIN ledger.entries AS e ON e.transaction_id = t.id
              WHERE t.id = %s GROUP BY t.id $$, :tx),
    $$ VALUES ('{"why": "setup"}'::jsonb, NULL::text, 0::numeric, 2::bigint) $$,
    'after every attempt the transaction and its two entries are exactly as written');
SELECT * FROM tap.nothing_moved('the UPDATE and DELETE attempts');

-- ---------------------------------------------------------------------------------------------
-- WUNBL: at commit, every new transaction must have at least two entries summing to zero.
-- Each case writes its transaction and forces the check in one throws_ok: the only unchecked
-- transaction then is the case's own, and the failure takes it away again (and with it the
-- IMMEDIATE setting; the DEFERRED after each case matters only if a case failed to fail).
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
INSERT INTO ledger.wallets (asset_id, kind, owner_id) VALUES
    ('asset-gold-coin-001', 'user', 'tap-immut-a'),
    ('asset-gold-coin-001', 'user', 'tap-immut-b');
SELECT id AS wa FROM ledger.wallets WHERE owner_id = 'tap-immut-a' \gset
SELECT id AS wb FROM ledger.wallets WHERE owner_id = 'tap-immut-b' \gset

SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-1');
       SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'WUNBL', NULL, 'a transaction with no entries at all is ledger_unbalanced at commit (WUNBL)');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT throws_ok(
    format($$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-2');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, 5, 5, 1);
              SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$, :wa),
    'WUNBL', NULL, 'a transaction with a single entry is ledger_unbalanced at commit (WUNBL)');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT throws_ok(
    format($$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-3');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, 5, 5, 1),
                     (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, -4, -4, 1);
              SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$, :wa, :wb),
    'WUNBL', NULL, 'two entries that do not sum to zero are ledger_unbalanced at commit (WUNBL)');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT throws_ok(
    format($$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-4');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %1$s, 5, 5, 1),
                     (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %2$s, -5, -5, 1);
              INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-5');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %1$s, 1, 6, 2);
              SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$, :wa, :wb),
    'WUNBL', NULL, 'one balanced and one unbalanced transaction written together are ledger_unbalanced at commit (WUNBL)');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.act_as_superuser();
SELECT throws_ok(
    format($$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-6');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, 5, 5, 1),
                     (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, -4, -4, 1);
              SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$, :wa, :wb),
    'WUNBL', NULL, 'a superuser''s unbalanced transaction is ledger_unbalanced at commit too (WUNBL)');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.act_as('wallet_owner');
-- the guard is about balance, not about direct inserts: balanced entries pass it, even when
-- written by separate statements (the check sees the whole transaction)
SELECT lives_ok(
    format($$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-raw-7');
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, 5, 5, 1);
              INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (currval(pg_get_serial_sequence('ledger.transactions', 'id')), %s, -5, -5, 1);
              SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$, :wa, :wb),
    'two entries summing to zero in one asset, written by two statements, pass the double-entry check');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;

-- Entries that sum to zero across two assets are not the trigger's business (it checks only the
-- count and the sum, the cheap part); reconciliation finds them. One user entry and one system
-- entry, so that the mixed assets are the only thing wrong with it.
SELECT lives_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, slot) VALUES ('asset-diamond-001', 'treasury', 255) $$,
    'a system slot without an owner is accepted');
SELECT id AS wd FROM ledger.wallets WHERE asset_id = 'asset-diamond-001' AND kind = 'treasury' AND slot = 255 \gset
INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-mixed');
SELECT id AS mixed FROM ledger.transactions WHERE client_id = 'tap:immut' AND idempotency_key = 'tap-immut-mixed' \gset
INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
VALUES (:mixed, :wa, 5, 10, 2), (:mixed, :wd, -5, -5, 1);
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    format($$ SELECT entries_total, entries, assets, user_entries FROM api.unbalanced_transactions
              WHERE transaction_id = %s $$, :mixed),
    $$ VALUES (0::numeric, 2::bigint, 2::bigint, 1::bigint) $$,
    'api.unbalanced_transactions lists a transaction whose two entries sum to zero across two assets');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- Entries are written with their transaction, never after (trigger entries_of_new_transactions):
-- an entry of a transaction that an earlier database transaction committed is WIMUT for every
-- role, whether or not it would balance, since the double-entry check runs only for the
-- transactions a database transaction creates and would never see it. The seed's transactions
-- were committed long before this file runs.
-- ---------------------------------------------------------------------------------------------
SELECT t.id AS old_tx FROM ledger.transactions AS t WHERE t.client_id = 'seed' ORDER BY t.id LIMIT 1 \gset
SELECT e.wallet_id AS old_user FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
WHERE e.transaction_id = :old_tx AND w.kind = 'user' \gset
SELECT e.wallet_id AS old_slot FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
WHERE e.transaction_id = :old_tx AND w.kind <> 'user' \gset
SELECT tap.snapshot();
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1000), (%1$s, %3$s, -5, -5, 1000) $$, :old_tx, :old_user, :old_slot),
    'WIMUT', NULL, 'the owner cannot add a balanced pair of entries to a committed transaction (WIMUT)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%s, %s, 5, 5, 1001) $$, :old_tx, :old_user),
    'WIMUT', NULL, 'the owner cannot add a single entry to a committed transaction (WIMUT)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 1, 1, 1002), (%3$s, %4$s, 5, 5, 1002) $$, :mixed, :wa, :old_tx, :old_user),
    'WIMUT', NULL, 'nor in one statement with an entry of its own new transaction (WIMUT)');
SELECT tap.act_as_superuser();
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%1$s, %2$s, 5, 5, 1003), (%1$s, %3$s, -5, -5, 1003) $$, :old_tx, :old_user, :old_slot),
    'WIMUT', NULL, 'a superuser cannot add entries to a committed transaction either (WIMUT)');
SELECT * FROM tap.nothing_moved('the entries added to a committed transaction');
SELECT results_eq(
    format($$ SELECT count(*), sum(amount) FROM ledger.entries WHERE transaction_id = %s $$, :old_tx),
    $$ VALUES (2::bigint, 0::numeric) $$,
    'the committed transaction still has its two entries, summing to zero');

-- What the check allows: a new transaction's entries, in any subtransaction of the database
-- transaction that created it (each lives_ok is a subtransaction of its own)
SELECT tap.act_as('wallet_owner');
SELECT lives_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-sub') $$,
    'a transaction written in one subtransaction');
SELECT lives_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              SELECT t.id, v.wallet_id, v.amount, v.amount, 3
              FROM ledger.transactions AS t, (VALUES (%s, 7), (%s, -7)) AS v (wallet_id, amount)
              WHERE t.client_id = 'tap:immut' AND t.idempotency_key = 'tap-immut-sub' $$, :wa, :wb),
    'gets its entries in another subtransaction of the same database transaction');
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'and balances: the double-entry check passes when it is forced');
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- A user's balance cannot go below zero but by a reversal (trigger wallets_negative_only_by_reversal)
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    $$ UPDATE ledger.wallets SET balance = -0.01 WHERE owner_id = 'tap-immut-1' AND asset_id = 'asset-gold-coin-001' $$,
    '23514', NULL, 'the owner cannot set a user balance below zero (check_violation 23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, balance) VALUES ('asset-loyalty-001', 'user', 'tap-immut-d', -1) $$,
    '23514', NULL, 'the owner cannot create a user wallet with a negative balance (23514)');
SELECT throws_ok(
    $$ UPDATE ledger.wallets SET version = -1 WHERE owner_id = 'tap-immut-1' AND asset_id = 'asset-gold-coin-001' $$,
    '23514', NULL, 'a wallet version below zero is refused by its domain (23514)');
SELECT tap.act_as_superuser();
SELECT throws_ok(
    $$ UPDATE ledger.wallets SET balance = balance - 1000 WHERE owner_id = 'tap-immut-1' AND asset_id = 'asset-gold-coin-001' $$,
    '23514', NULL, 'a superuser cannot set a user balance below zero either (23514)');
SELECT lives_ok(
    $$ UPDATE ledger.wallets SET balance = balance - 1000000
       WHERE asset_id = 'asset-gold-coin-001' AND kind = 'treasury' AND slot = 0 $$,
    'system accounts may go below zero (the Treasury does): the CHECK is about user wallets only');

-- ---------------------------------------------------------------------------------------------
-- Column rules (domains): a direct INSERT as the owner is held to them (check_violation 23514).
-- Each statement would otherwise succeed: the references exist and no unique key is taken.
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', repeat('k', 256)) $$,
    '23514', NULL, 'an idempotency key of 256 characters is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', 'tap-immut-clé') $$,
    '23514', NULL, 'a non-ASCII idempotency key is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:immut', '') $$,
    '23514', NULL, 'an empty idempotency key is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', '', 'tap-immut-dom-1') $$,
    '23514', NULL, 'an empty client id is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', repeat('c', 201), 'tap-immut-dom-2') $$,
    '23514', NULL, 'a client id of 201 characters is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key, description)
       VALUES ('spend', 'tap:immut', 'tap-immut-dom-3', '') $$,
    '23514', NULL, 'an empty description is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key, description)
       VALUES ('spend', 'tap:immut', 'tap-immut-dom-4', repeat('d', 501)) $$,
    '23514', NULL, 'a description of 501 characters is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key, metadata)
       VALUES ('topup', 'tap:immut', 'tap-immut-dom-5', '[]') $$,
    '23514', NULL, 'array metadata is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id) VALUES ('asset-gold-coin-001', 'user', 'tap immut e') $$,
    '23514', NULL, 'a user id with spaces is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id) VALUES ('asset-gold-coin-001', 'user', repeat('u', 129)) $$,
    '23514', NULL, 'a user id of 129 characters is refused by its domain (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, slot) VALUES ('asset-gold-coin-001', 'revenue', 256) $$,
    '23514', NULL, 'slot 256 is refused by its domain (23514)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%s, %s, 0, 10, 100) $$, :mixed, :wb),
    '23514', NULL, 'an entry of amount 0 is refused by its domain (23514)');
SELECT throws_ok(
    format($$ INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
              VALUES (%s, %s, 1, 11, 0) $$, :mixed, :wb),
    '23514', NULL, 'an entry at wallet version 0 is refused by its domain (23514)');
SELECT tap.act_as_superuser();
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key, metadata)
       VALUES ('topup', 'tap:immut', 'tap-immut-dom-6', '"text"') $$,
    '23514', NULL, 'a superuser is held to the domains too (string metadata, 23514)');

-- ---------------------------------------------------------------------------------------------
-- Wallet identity (trigger wallets_identity): a user wallet has an owner and slot 0, a system
-- slot has no owner (23514); asset, kind, owner and slot never change (WIMUT)
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind) VALUES ('asset-loyalty-001', 'user') $$,
    '23514', NULL, 'a user wallet without an owner is refused (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, slot) VALUES ('asset-gold-coin-001', 'treasury', 'tap-immut-f', 254) $$,
    '23514', NULL, 'a system slot with an owner is refused (23514)');
SELECT throws_ok(
    $$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, slot) VALUES ('asset-loyalty-001', 'user', 'tap-immut-g', 3) $$,
    '23514', NULL, 'a user wallet on slot 3 is refused: a user wallet is one row, slot 0 (23514)');
SELECT throws_ok(
    format($$ UPDATE ledger.wallets SET owner_id = 'tap-immut-h' WHERE id = %s $$, :wa),
    'WIMUT', NULL, 'the owner cannot change a wallet''s owner_id (WIMUT)');
SELECT throws_ok(
    format($$ UPDATE ledger.wallets SET asset_id = 'asset-loyalty-001' WHERE id = %s $$, :wa),
    'WIMUT', NULL, 'the owner cannot change a wallet''s asset_id (WIMUT)');
SELECT throws_ok(
    format($$ UPDATE ledger.wallets SET kind = 'revenue' WHERE id = %s $$, :wd),
    'WIMUT', NULL, 'the owner cannot change a system slot''s kind (WIMUT)');
SELECT throws_ok(
    format($$ UPDATE ledger.wallets SET slot = 254 WHERE id = %s $$, :wd),
    'WIMUT', NULL, 'the owner cannot change a system slot''s slot (WIMUT)');
SELECT tap.act_as_superuser();
SELECT throws_ok(
    format($$ UPDATE ledger.wallets SET owner_id = 'tap-immut-h' WHERE id = %s $$, :wa),
    'WIMUT', NULL, 'a superuser cannot change a wallet''s owner_id either (WIMUT)');
SELECT results_eq(
    format($$ SELECT asset_id COLLATE "default", kind::text, owner_id::text COLLATE "default", slot::int
              FROM ledger.wallets
              WHERE id IN (%s, %s) ORDER BY id $$, :wa, :wd),
    $$ VALUES ('asset-gold-coin-001', 'user', 'tap-immut-a', 0), ('asset-diamond-001', 'treasury', NULL, 255) $$,
    'after every attempt both wallets keep the asset, kind, owner and slot they were created with');

SELECT * FROM finish();
ROLLBACK;
