-- The seal (issue 18; migration 0015, db/functions/27_seal.sql): api.seal seals
-- what is committed and nothing else, api.verify_seal finds an edit, seals are kept, and who may
-- call what. Sealing what others commit while postings run (two sealers at once, gap-free, each
-- transaction once) needs several sessions: tests/ledger/test_seal.py.
BEGIN;
\ir lib/helpers.psql
SELECT plan(17);

SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.seal(100000) $$, 'a job seals what is committed (the seeded postings)');
SELECT is((SELECT unsealed FROM api.seal_status()), 0::bigint, 'then nothing committed is left unsealed');
SELECT tap.act_as('wallet_auditor');
SELECT is((SELECT last_sequence FROM api.seal_status()),
          (SELECT count(*) FROM ledger.seals), 'the head is the last of a gap-free sequence');

SELECT tap.act_as('wallet_service');
SELECT is((SELECT array_agg(sequence ORDER BY sequence) FROM api.events(0, 1000)),
          (SELECT array_agg(g) FROM generate_series(1, (SELECT last_sequence FROM api.seal_status())) AS g),
          'api.events gives every sealed transaction in seal order, without a gap');
SELECT is((SELECT count(*) FROM api.events((SELECT last_sequence FROM api.seal_status()) - 1, 10)), 1::bigint,
          'after a sequence, only what follows it');
SELECT throws_ok($$ SELECT * FROM api.events(-1, 10) $$, '22023', NULL, 'a negative cursor is refused');
SELECT throws_ok($$ SELECT * FROM api.events(0, 1001) $$, '22023', NULL, 'more than 1,000 events at once are refused');
SELECT lives_ok($$ SELECT api.topup('tap-seal-1', 'asset-gold-coin-001', 5, 'tap-seal-1') $$, 'a posting, not committed yet');
SELECT is((SELECT sealed FROM api.seal()), 0, 'a posting whose transaction has not ended is not sealed');
SELECT is((SELECT unsealed FROM api.seal_status()), 1::bigint, 'it is counted as unsealed');
SELECT is((SELECT count(*) FROM api.events(0, 1000) WHERE user_id = 'tap-seal-1'), 0::bigint,
          'an unsealed posting is no event yet');

SELECT tap.act_as('wallet_auditor');
SELECT is((SELECT problem FROM api.verify_seal()), NULL, 'the chain verifies');
SELECT throws_ok($$ SELECT * FROM api.seal() $$, '42501', NULL, 'the auditor may not seal');

-- an edit behind the ledger's back, as a superuser who can disable the immutability trigger
SELECT tap.act_as_superuser();
SELECT transaction_id AS tampered FROM ledger.seals WHERE sequence = 2 \gset
SET CONSTRAINTS ALL IMMEDIATE;  -- the posting's deferred checks first: ALTER TABLE wants none pending
ALTER TABLE ledger.transactions DISABLE TRIGGER transactions_are_immutable;
UPDATE ledger.transactions SET metadata = '{"edited": true}' WHERE id = :tampered;
ALTER TABLE ledger.transactions ENABLE TRIGGER transactions_are_immutable;
SELECT results_eq(
    $$ SELECT checked, first_bad_sequence FROM api.verify_seal() $$,
    $$ VALUES (1::bigint, 2::bigint) $$,
    'api.verify_seal names the first seal whose transaction was edited (its metadata)');
SELECT throws_ok($$ UPDATE ledger.seals SET hash = hash WHERE sequence = 1 $$, 'WIMUT', NULL, 'seals are immutable');
SELECT throws_ok($$ DELETE FROM ledger.seals $$, 'WIMUT', NULL, 'seals are kept');
SELECT throws_ok($$ SELECT * FROM api.seal(0) $$, '22023', NULL, 'a pass of 0 is refused');

SELECT * FROM finish();
ROLLBACK;
