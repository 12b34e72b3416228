-- Batches (issue 17, migration 0014): api.post_batch in both modes, every error it raises, replay
-- and reuse of the batch's key, and who may call it. Concurrency (opposite orders beside single
-- calls): tests/ledger/test_concurrency.py (-k batch), still to write.
BEGIN;
\ir lib/helpers.psql
SELECT plan(49);

SELECT tap.act_as('wallet_service');

-- ---------------------------------------------------------------------------------------------
-- Atomic (the default): every item posted, each a transaction of its own
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    $$ SELECT item_index, user_id, status, balance::text, code, replayed
       FROM api.post_batch('bonus', 'asset-gold-coin-001',
                           ARRAY['tap-b-2', 'tap-b-1', 'tap-b-2'], ARRAY[10, 5.5, 1]::numeric[],
                           'Season 12', 'tap-batch-1') $$,
    $$ VALUES (0, 'tap-b-2', 'completed', '10.00', NULL::text, false),
              (1, 'tap-b-1', 'completed', '5.50', NULL, false),
              (2, 'tap-b-2', 'completed', '11.00', NULL, false) $$,
    'an atomic batch of three bonuses posts each item, in the items'' order per user');
SELECT tap.act_as_superuser();
SELECT id AS batch1 FROM ledger.batches WHERE idempotency_key = 'tap-batch-1' \gset
SELECT results_eq(
    format($$ SELECT t.type::text, t.client_id::text COLLATE "default", t.idempotency_key::text COLLATE "default",
                     t.description::text COLLATE "default"
              FROM ledger.transactions AS t WHERE t.batch_id = %s ORDER BY t.id $$, :batch1),
    format($$ VALUES ('bonus', 'ledger:batch', '%1$s:0', 'Season 12'), ('bonus', 'ledger:batch', '%1$s:1', 'Season 12'),
                     ('bonus', 'ledger:batch', '%1$s:2', 'Season 12') $$, :batch1),
    'each item is a bonus transaction of the batch, its key the ledger''s own (client ledger:batch)');
SELECT is((SELECT count(*) FROM ledger.entries AS e JOIN ledger.transactions AS t ON t.id = e.transaction_id
           WHERE t.batch_id = :batch1), 6::bigint, 'two entries per item, as a single call writes');
SELECT is((SELECT count(*) FROM api.reconcile() WHERE NOT ok), 0::bigint, 'the books reconcile');
SELECT is((SELECT g.batch_id FROM ledger.transactions AS t, api.get_transaction(t.id) AS g
           WHERE t.batch_id = :batch1 ORDER BY t.id LIMIT 1), :batch1::bigint,
    'api.get_transaction shows an item''s batch');
SELECT tap.act_as('wallet_service');

-- ---------------------------------------------------------------------------------------------
-- Replay and reuse of the batch's key
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT results_eq(
    $$ SELECT item_index, status, balance::text, replayed
       FROM api.post_batch('bonus', 'asset-gold-coin-001',
                           ARRAY['tap-b-2', 'tap-b-1', 'tap-b-2'], ARRAY[10.00, 5.50, 1]::numeric[],
                           'Season 12', 'tap-batch-1') $$,
    $$ VALUES (0, 'completed', '10.00', true), (1, 'completed', '5.50', true), (2, 'completed', '11.00', true) $$,
    'the same batch again answers the same results, replayed (10.00 and 10 are the same amount)');
SELECT * FROM tap.nothing_moved('a replayed batch');
SELECT throws_ok(
    $$ SELECT * FROM api.post_batch('bonus', 'asset-gold-coin-001', ARRAY['tap-b-2'], ARRAY[10]::numeric[],
                                    'Season 12', 'tap-batch-1') $$,
    'WIDEM', NULL, 'another batch under the same key is WIDEM');

-- ---------------------------------------------------------------------------------------------
-- Atomic rejection names every failing item and moves nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT is(tap.error_detail(
    $$ SELECT * FROM api.post_batch('spend', 'asset-gold-coin-001',
                                    ARRAY['tap-b-1', 'tap-nobody', 'bad user', 'tap-b-2'],
                                    ARRAY[1, 5, 7, 0.001]::numeric[], 'Shop', 'tap-batch-2') $$),
    'WBREJ: [{"code": "insufficient_funds", "index": 1, "detail": "balance: 0.00, requested: 5.00"}, '
    '{"code": "invalid_user_id", "index": 2, "detail": "a user id is 1 to 128 characters of letters, digits and ._:@-"}, '
    '{"code": "invalid_amount", "index": 3, "detail": "amount 0.001: above zero, at most 1000000000, with at most 2 decimal places"}]',
    'an atomic batch with failing items is WBREJ, its DETAIL every failing item''s index, code and detail');
SELECT * FROM tap.nothing_moved('a rejected batch');

-- ---------------------------------------------------------------------------------------------
-- Per item: each on its own
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    $$ SELECT item_index, status, balance::text, code
       FROM api.post_batch('spend', 'asset-gold-coin-001',
                           ARRAY['tap-b-1', 'tap-nobody', 'tap-b-1', 'tap-b-1'], ARRAY[5, 5, 1, 0.5]::numeric[],
                           'Shop', 'tap-batch-3', false) $$,
    $$ VALUES (0, 'completed', '0.50', NULL::text), (1, 'failed', NULL, 'insufficient_funds'),
              (2, 'failed', NULL, 'insufficient_funds'), (3, 'completed', '0.00', NULL) $$,
    'a per-item batch posts what it can, in order per user: a failing item leaves the balance to the next');
SELECT results_eq(
    $$ SELECT item_index, status, balance::text, code, replayed
       FROM api.post_batch('spend', 'asset-gold-coin-001',
                           ARRAY['tap-b-1', 'tap-nobody', 'tap-b-1', 'tap-b-1'], ARRAY[5, 5, 1, 0.5]::numeric[],
                           'Shop', 'tap-batch-3', false) $$,
    $$ VALUES (0, 'completed', '0.50', NULL::text, true), (1, 'failed', NULL, 'insufficient_funds', true),
              (2, 'failed', NULL, 'insufficient_funds', true), (3, 'completed', '0.00', NULL, true) $$,
    'its replay answers the same outcomes, failures included');

-- ---------------------------------------------------------------------------------------------
-- Limits: a single call's rules, item by item, in the items' order per user
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SELECT lives_ok($$ SELECT api.set_user_limits('tap-b-lim', 'asset-gold-coin-001', 20, 15, 4) $$,
    'limits for tap-b-lim: a balance of 20 at most, 15 earned and 4 spent a day');
SELECT lives_ok($$ SELECT api.set_user_limits('tap-b-new', 'asset-gold-coin-001', 5, NULL, NULL) $$,
    'a balance of 5 at most for tap-b-new, who has no wallet');
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT item_index, status, balance::text, code
       FROM api.post_batch('bonus', 'asset-gold-coin-001',
                           ARRAY['tap-b-lim', 'tap-b-lim', 'tap-b-lim', 'tap-b-new', 'tap-b-new2'],
                           ARRAY[10, 6, 5, 6, 1]::numeric[], 'Limits', 'tap-batch-lim-1', false) $$,
    $$ VALUES (0, 'completed', '10.00', NULL::text), (1, 'failed', NULL, 'velocity_limit_exceeded'),
              (2, 'completed', '15.00', NULL), (3, 'failed', NULL, 'balance_limit_exceeded'),
              (4, 'completed', '1.00', NULL) $$,
    'a per-item bonus batch is refused item by item at the daily earn limit and the maximum balance');
SELECT is((SELECT detail FROM api.post_batch('bonus', 'asset-gold-coin-001',
                                             ARRAY['tap-b-lim', 'tap-b-lim', 'tap-b-lim', 'tap-b-new', 'tap-b-new2'],
                                             ARRAY[10, 6, 5, 6, 1]::numeric[], 'Limits', 'tap-batch-lim-1', false)
           WHERE item_index = 1),
    format('limit: 15.00, used: 10.00, requested: 6.00, resets_at: %s',
           to_char(((now() AT TIME ZONE 'UTC')::date + 1)::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    'a limit''s failure names the limit, what was used, what was asked and when the day resets (UTC)');
SELECT tap.act_as_superuser();
SELECT is((SELECT count(*) FROM ledger.wallets WHERE owner_id = 'tap-b-new'), 0::bigint,
    'no empty wallet is left for a user whose every item failed (a refused single call leaves none)');
SELECT is((SELECT count(*) FROM ledger.wallets WHERE owner_id = 'tap-b-new2'), 1::bigint,
    'a new user whose item completed has its wallet');
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT is(tap.error_detail(
    $$ SELECT * FROM api.post_batch('spend', 'asset-gold-coin-001', ARRAY['tap-b-lim', 'tap-b-lim'],
                                    ARRAY[3, 2]::numeric[], 'Shop', 'tap-batch-lim-2') $$),
    format('WBREJ: [{"code": "velocity_limit_exceeded", "index": 1, "detail": "limit: 4.00, used: 3.00, requested: 2.00, resets_at: %s"}]',
           to_char(((now() AT TIME ZONE 'UTC')::date + 1)::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    'an atomic spend batch past the daily spend limit is rejected whole, naming the item');
SELECT * FROM tap.nothing_moved('a batch rejected at a limit');

-- ---------------------------------------------------------------------------------------------
-- A batch's key and single calls' keys are one client's keys
-- ---------------------------------------------------------------------------------------------
SELECT lives_ok($$ SELECT api.topup('tap-b-9', 'asset-gold-coin-001', 1, 'tap-single-key') $$,
    'a single top-up under a key');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['tap-b-9'], ARRAY[1]::numeric[],
                                                 NULL, 'tap-single-key') $$,
    'WIDEM', NULL, 'a batch under a key a single call of the same client holds is WIDEM');

-- ---------------------------------------------------------------------------------------------
-- The batch's own errors
-- ---------------------------------------------------------------------------------------------
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY[]::text[], ARRAY[]::numeric[], NULL, 'k') $$,
    'WBATC', NULL, 'no item is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001',
                        array_fill('u'::text, ARRAY[1001]), array_fill(1::numeric, ARRAY[1001]), NULL, 'k') $$,
    'WBATC', NULL, '1,001 items is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a', 'b'], ARRAY[1]::numeric[], NULL, 'k') $$,
    'WBATC', NULL, 'fewer amounts than users is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], NULL, 'k', true,
                                                 ARRAY['{}', '{}']::jsonb[]) $$,
    'WBATC', NULL, 'more metadata than users is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('transfer', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], NULL, 'k') $$,
    'WBATC', NULL, 'a batch of transfers is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], NULL, 'k', NULL) $$,
    'WBATC', NULL, 'a NULL mode is WBATC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], 'a text', 'k') $$,
    'WBATC', NULL, 'a top-up batch with a text is WBATC: a single top-up has none');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-nope', ARRAY['a'], ARRAY[1]::numeric[], NULL, 'k') $$,
    'WASST', NULL, 'an unknown asset is WASST');
SELECT throws_ok($$ SELECT * FROM api.post_batch('spend', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], ' ', 'k') $$,
    'WDESC', NULL, 'a spend batch without a description is WDESC');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], NULL, '') $$,
    'WIKEY', NULL, 'an invalid key is WIKEY');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-gold-coin-001', ARRAY['a'], ARRAY[1]::numeric[], NULL, 'k', true,
                                                 NULL, 'ledger:batch') $$,
    'WCLNS', NULL, 'the items'' client ledger:batch is no caller''s (WCLNS)');

-- ---------------------------------------------------------------------------------------------
-- Who may call it
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.post_batch('topup', 'asset-loyalty-001', ARRAY['tap-b-9'], ARRAY[1]::numeric[], NULL, 'tap-batch-job') $$,
    'wallet_job may post a batch');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok($$ SELECT * FROM api.post_batch('topup', 'asset-loyalty-001', ARRAY['tap-b-9'], ARRAY[1]::numeric[], NULL, 'tap-batch-aud') $$,
    '42501', NULL, 'wallet_auditor may NOT post a batch');

SELECT tap.act_as_superuser();
-- a batch is written once and kept
SELECT throws_ok(format($$ UPDATE ledger.batches SET items = 2 WHERE id = %s $$, :batch1), 'WIMUT', NULL,
    'a batch cannot be changed, even by the superuser (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.batches WHERE id = %s $$, :batch1), 'WIMUT', NULL,
    'nor deleted');
SELECT throws_ok($$ UPDATE ledger.batches SET results = '{}' WHERE idempotency_key = 'tap-batch-3' $$, 'WIMUT', NULL,
    'nor its results written again');
-- a batch's items are checked by their batch (batches_balance), all at once, at commit
SAVEPOINT unbalanced;
INSERT INTO ledger.batches (client_id, idempotency_key, type, asset_id, atomic, items, fingerprint)
VALUES ('tap', 'tap-unbalanced', 'topup', 'asset-gold-coin-001', true, 1, 'x');
INSERT INTO ledger.transactions (type, client_id, idempotency_key, batch_id)
SELECT 'topup', 'ledger:batch', b.id || ':0', b.id FROM ledger.batches AS b WHERE b.idempotency_key = 'tap-unbalanced';
SELECT throws_ok($$ SET CONSTRAINTS ledger.batches_balance IMMEDIATE $$, 'WUNBL', NULL,
    'an item of a batch without its entries is refused at commit (WUNBL), by the batch''s check');
ROLLBACK TO SAVEPOINT unbalanced;
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance, ledger.batches_balance IMMEDIATE $$,
    'every transaction above balances (both deferred double-entry checks, forced)');

SELECT * FROM finish();
ROLLBACK;
