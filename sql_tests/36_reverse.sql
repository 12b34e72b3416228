-- api.reverse: takes back all or part of a top-up, bonus, spend or transfer by mirroring its legs
-- (issue 15). What it writes for each reversible type, partial then full reversals, the reads
-- that show them (api.get_transaction), every error it raises, replay and key reuse, mode
-- allow_negative and the debt it leaves (api.negative_balances, reconciliation), the guard that
-- lets nothing else take a user below zero (trigger wallets_negative_only_by_reversal), and who
-- may call it. Called as wallet_service with a client api:tap, like the HTTP service (refunds).
BEGIN;
\ir lib/helpers.psql
SELECT plan(210);

SELECT t.id AS opening FROM ledger.transactions AS t
WHERE t.type = 'opening_balance' AND t.idempotency_key = 'opening-balance:user-rich-001:asset-gold-coin-001' \gset
SELECT max(t.id) + 1000 AS no_such_tx FROM ledger.transactions AS t \gset
SELECT coalesce(sum(w.balance) FILTER (WHERE w.kind = 'treasury'), 0) AS treasury_before,
       coalesce(sum(w.balance) FILTER (WHERE w.kind = 'revenue'), 0) AS revenue_before
FROM ledger.wallets AS w WHERE w.asset_id = 'asset-gold-coin-001' \gset

SELECT tap.act_as('wallet_service');
SELECT transaction_id AS tx_top, wallet_id AS w_top
FROM api.topup('tap-rv-top', 'asset-gold-coin-001', 50, 'tap-rv-f1', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_bon, wallet_id AS w_bon
FROM api.grant_bonus('tap-rv-bon', 'asset-gold-coin-001', 20, 'welcome', 'tap-rv-f2', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_sp_fund FROM api.topup('tap-rv-sp', 'asset-gold-coin-001', 30, 'tap-rv-f3', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_sp, wallet_id AS w_sp
FROM api.spend('tap-rv-sp', 'asset-gold-coin-001', 12, 'a sword', 'tap-rv-f4', '{}', 'api:tap') \gset
SELECT count(*) FROM api.topup('tap-rv-tra', 'asset-gold-coin-001', 40, 'tap-rv-f5', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_tr, from_wallet_id AS w_tra, to_wallet_id AS w_trb
FROM api.transfer('tap-rv-tra', 'tap-rv-trb', 'asset-gold-coin-001', 15, 'a gift', 'tap-rv-f6', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_part, wallet_id AS w_part
FROM api.topup('tap-rv-part', 'asset-gold-coin-001', 10, 'tap-rv-f7', '{}', 'api:tap') \gset

-- ---------------------------------------------------------------------------------------------
-- Success, one of each reversible type: a top-up (all that remains, NULL), a bonus (its whole
-- amount, named), a spend (NULL), a transfer (in part)
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS r_top, reverses_transaction_id AS r_top_of, created_at AS r_top_at,
       row(user_id, asset_id, wallet_id, balance::text, counterparty_user_id, counterparty_wallet_id,
           counterparty_balance::text, amount::text, remaining::text, replayed)::text AS r_top_answer
FROM api.reverse(:tx_top, NULL, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap') \gset
SELECT is(:r_top_of::bigint, :tx_top::bigint, 'a top-up''s reversal names the top-up it reverses');
SELECT is(:'r_top_answer', format('(tap-rv-top,asset-gold-coin-001,%s,0.00,,,,50.00,0.00,f)', :w_top),
    'reversing a top-up with no amount takes all of it from its user: balance 0.00, amount 50.00, nothing remains, not a replay');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, split_part(account, '#', 1), direction, amount::text,
                     CASE WHEN owner_type = 'user' THEN balance_after::text END
              FROM api.transaction_entries(%s) ORDER BY direction $$, :r_top),
    $$ VALUES ('system', NULL::text, 'treasury', 'credit', '50.00', NULL::text),
              ('user', 'tap-rv-top', NULL, 'debit', '50.00', '0.00') $$,
    'a top-up''s reversal mirrors it: the user''s debit, a Treasury slot''s credit');

SELECT transaction_id AS r_bon,
       row(user_id, wallet_id, balance::text, counterparty_user_id, amount::text, remaining::text, replayed)::text AS r_bon_answer
FROM api.reverse(:tx_bon, 20, 'granted twice', 'tap-rv-k2', 'strict', '{}', 'api:tap') \gset
SELECT is(:'r_bon_answer', format('(tap-rv-bon,%s,0.00,,20.00,0.00,f)', :w_bon),
    'reversing a bonus by its whole amount: balance 0.00, amount 20.00, nothing remains');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, split_part(account, '#', 1), direction, amount::text
              FROM api.transaction_entries(%s) ORDER BY direction $$, :r_bon),
    $$ VALUES ('system', NULL::text, 'treasury', 'credit', '20.00'), ('user', 'tap-rv-bon', NULL, 'debit', '20.00') $$,
    'a bonus''s reversal mirrors it: the user''s debit, a Treasury slot''s credit');

SELECT transaction_id AS r_sp,
       row(user_id, wallet_id, balance::text, counterparty_user_id, amount::text, remaining::text, replayed)::text AS r_sp_answer
FROM api.reverse(:tx_sp, NULL, 'sword never delivered', 'tap-rv-k3', 'strict', '{}', 'api:tap') \gset
SELECT is(:'r_sp_answer', format('(tap-rv-sp,%s,30.00,,12.00,0.00,f)', :w_sp),
    'reversing a spend gives the coins back to its user: 18.00 + 12 = 30.00, nothing remains');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, split_part(account, '#', 1), direction, amount::text,
                     CASE WHEN owner_type = 'user' THEN balance_after::text END
              FROM api.transaction_entries(%s) ORDER BY direction $$, :r_sp),
    $$ VALUES ('user', 'tap-rv-sp', NULL::text, 'credit', '12.00', '30.00'),
              ('system', NULL::text, 'revenue', 'debit', '12.00', NULL::text) $$,
    'a spend''s reversal mirrors it: a Revenue slot''s debit, the user''s credit');

SELECT transaction_id AS r_tr,
       row(user_id, wallet_id, balance::text, counterparty_user_id, counterparty_wallet_id, counterparty_balance::text,
           amount::text, remaining::text, replayed)::text AS r_tr_answer
FROM api.reverse(:tx_tr, 10, 'gift sent by mistake', 'tap-rv-k4', 'strict', '{}', 'api:tap') \gset
SELECT is(:'r_tr_answer', format('(tap-rv-trb,%s,5.00,tap-rv-tra,%s,35.00,10.00,5.00,f)', :w_trb, :w_tra),
    'reversing 10 of a transfer of 15: the recipient''s side (15.00 - 10 = 5.00), the sender as counterparty (25.00 + 10 = 35.00), 5.00 remains');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, account, direction, amount::text, balance_after::text
              FROM api.transaction_entries(%s) ORDER BY direction $$, :r_tr),
    $$ VALUES ('user', 'tap-rv-tra', NULL::text, 'credit', '10.00', '35.00'),
              ('user', 'tap-rv-trb', NULL::text, 'debit', '10.00', '5.00') $$,
    'a transfer''s reversal mirrors it: the recipient''s debit, the sender''s credit, and no system slot');

SELECT results_eq(
    $$ SELECT u.user_id, b.balance::text, b.version
       FROM unnest(ARRAY['tap-rv-top', 'tap-rv-bon', 'tap-rv-sp', 'tap-rv-tra', 'tap-rv-trb']) AS u (user_id),
            api.balances(u.user_id, 'asset-gold-coin-001') AS b ORDER BY 1 $$,
    $$ VALUES ('tap-rv-bon', '0.00', 2::bigint), ('tap-rv-sp', '30.00', 3::bigint), ('tap-rv-top', '0.00', 2::bigint),
              ('tap-rv-tra', '35.00', 3::bigint), ('tap-rv-trb', '5.00', 2::bigint) $$,
    'balances and versions after: each reversal is one more version of every user wallet it moves');

-- ---------------------------------------------------------------------------------------------
-- Partial, then all that remains: 10 -> 7 -> 0, then nothing more
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS r_part1, created_at AS r_part1_at,
       row(balance::text, amount::text, remaining::text, replayed)::text AS r_part1_answer
FROM api.reverse(:tx_part, 3, 'partial refund', 'tap-rv-k5', 'strict', '{}', 'api:tap') \gset
SELECT is(:'r_part1_answer'::text, '(7.00,3.00,7.00,f)', 'reversing 3 of a top-up of 10: balance 7.00, 7.00 remains');
SELECT is(tap.error_detail(format($$ SELECT * FROM api.reverse(%s, 8, 'too much', 'tap-rv-e0', 'strict', '{}', 'api:tap') $$, :tx_part)),
    'WREVX: remaining: 7.00, requested: 8.00',
    'reversing 8 when 7 remain is reversal_exceeds_original (WREVX), and its DETAIL says what remains');
SELECT transaction_id AS r_part2,
       row(balance::text, amount::text, remaining::text, replayed)::text AS r_part2_answer
FROM api.reverse(:tx_part, NULL, 'the rest', 'tap-rv-k6', 'strict', '{}', 'api:tap') \gset
SELECT is(:'r_part2_answer'::text, '(0.00,7.00,0.00,f)', 'then no amount takes what remains: 7.00, and 0.00 remains');
SELECT is(tap.error_detail(format($$ SELECT * FROM api.reverse(%s, 0.01, 'more', 'tap-rv-e0', 'strict', '{}', 'api:tap') $$, :tx_part)),
    'WREVX: remaining: 0.00, requested: 0.01',
    'once nothing remains, even 0.01 is WREVX (remaining: 0.00)');
SELECT is(tap.error_detail(format($$ SELECT * FROM api.reverse(%s, NULL, 'more', 'tap-rv-e0', 'strict', '{}', 'api:tap') $$, :tx_part)),
    'WREVX: remaining: 0.00, requested: 0.00',
    'and so is all that remains, when nothing does');

-- ---------------------------------------------------------------------------------------------
-- The reads: the original says how much was reversed and by which reversals; a reversal names
-- what it reverses
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT type::text, amount::text, reversed_amount::text, reversals, reverses_transaction_id
              FROM api.get_transaction(%s) $$, :tx_part),
    format($$ VALUES ('topup', '10.00', '10.00', ARRAY[%s, %s]::bigint[], NULL::bigint) $$, :r_part1, :r_part2),
    'api.get_transaction of a top-up reversed in two steps: reversed_amount 10.00, both reversals in the order posted');
SELECT results_eq(
    format($$ SELECT type::text, user_id, amount::text, reversed_amount::text, reversals FROM api.get_transaction(%s) $$, :tx_tr),
    format($$ VALUES ('transfer', 'tap-rv-tra', '15.00', '10.00', ARRAY[%s]::bigint[]) $$, :r_tr),
    'api.get_transaction of a transfer reversed in part: its sender''s side, reversed_amount 10.00, the reversal');
SELECT results_eq(
    format($$ SELECT reversed_amount::text, reversals FROM api.get_transaction(%s) $$, :tx_sp_fund),
    $$ VALUES ('0.00', '{}'::bigint[]) $$,
    'api.get_transaction of a top-up never reversed: reversed_amount 0.00, no reversals');
SELECT results_eq(
    format($$ SELECT type::text, user_id, amount::text, balance::text, description, metadata, reverses_transaction_id,
                     reversed_amount, reversals, cardinality(entries)
              FROM api.get_transaction(%s) $$, :r_top),
    format($$ VALUES ('reversal', 'tap-rv-top', '50.00', '0.00', 'chargeback', '{"ticket": "T-1"}'::jsonb, %s::bigint,
                      NULL::numeric, NULL::bigint[], 2) $$, :tx_top),
    'api.get_transaction of a reversal: its user side, the reason as description, its metadata, what it reverses; not itself reversible (reversed_amount NULL)');
SELECT results_eq(
    format($$ SELECT type::text, user_id, amount::text, balance::text, reverses_transaction_id, cardinality(entries)
              FROM api.get_transaction(%s) $$, :r_tr),
    format($$ VALUES ('reversal', 'tap-rv-trb', '10.00', '5.00', %s::bigint, 2) $$, :tx_tr),
    'api.get_transaction of a transfer''s reversal shows the debited recipient''s side');

-- ---------------------------------------------------------------------------------------------
-- What was written, read from the tables
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.type::text, t.reverses_transaction_id, t.reversal_mode::text, t.description::text,
                     t.metadata::jsonb, t.client_id::text COLLATE "default"
              FROM ledger.transactions AS t WHERE t.id IN (%s, %s, %s, %s, %s, %s) ORDER BY t.id $$,
           :r_top, :r_bon, :r_sp, :r_tr, :r_part1, :r_part2),
    format($$ VALUES ('reversal', %s::bigint, 'strict', 'chargeback', '{"ticket": "T-1"}'::jsonb, 'api:tap'),
                     ('reversal', %s, 'strict', 'granted twice', '{}', 'api:tap'),
                     ('reversal', %s, 'strict', 'sword never delivered', '{}', 'api:tap'),
                     ('reversal', %s, 'strict', 'gift sent by mistake', '{}', 'api:tap'),
                     ('reversal', %s, 'strict', 'partial refund', '{}', 'api:tap'),
                     ('reversal', %s, 'strict', 'the rest', '{}', 'api:tap') $$,
           :tx_top, :tx_bon, :tx_sp, :tx_tr, :tx_part, :tx_part),
    'each reversal row: type reversal, the transaction it reverses, mode strict (the default), the reason as description, its metadata and client');
SELECT results_eq(
    format($$ SELECT t.reverses_transaction_id, t.reversal_mode FROM ledger.transactions AS t
              WHERE t.id IN (%s, %s, %s, %s) $$, :tx_top, :tx_bon, :tx_sp, :tx_tr),
    $$ VALUES (NULL::bigint, NULL::ledger.reversal_mode), (NULL, NULL), (NULL, NULL), (NULL, NULL) $$,
    'the originals reverse nothing and have no mode');
SELECT results_eq(
    format($$ SELECT w.owner_id::text COLLATE "default", e.amount::numeric, e.balance_after, e.wallet_version::bigint
              FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
              WHERE e.transaction_id IN (%s, %s, %s, %s, %s, %s) AND w.kind = 'user'
              ORDER BY e.transaction_id, w.owner_id $$,
           :r_top, :r_bon, :r_sp, :r_tr, :r_part1, :r_part2),
    $$ VALUES ('tap-rv-top', -50::numeric, 0::numeric, 2::bigint),
              ('tap-rv-bon', -20, 0, 2),
              ('tap-rv-sp', 12, 30, 3),
              ('tap-rv-tra', 10, 35, 3), ('tap-rv-trb', -10, 5, 2),
              ('tap-rv-part', -3, 7, 2),
              ('tap-rv-part', -7, 0, 3) $$,
    'each user entry: the signed amount (a debit is negative), balance_after and wallet_version');
SELECT is_empty(
    format($$ SELECT e.id FROM ledger.entries AS e
              JOIN ledger.wallets AS w ON w.id = e.wallet_id
              LEFT JOIN ledger.entries AS prev ON prev.wallet_id = e.wallet_id AND prev.wallet_version = e.wallet_version - 1
              WHERE e.transaction_id IN (%s, %s, %s, %s, %s, %s)
                AND (e.balance_after <> coalesce(prev.balance_after, 0) + e.amount
                     OR (e.wallet_version > 1 AND prev.id IS NULL)) $$,
           :r_top, :r_bon, :r_sp, :r_tr, :r_part1, :r_part2),
    'every entry of the reversals, system slots included, follows its wallet''s previous version: balance_after = the one before + amount');
SELECT is_empty(
    format($$ SELECT e.transaction_id FROM ledger.entries AS e
              WHERE e.transaction_id IN (%s, %s, %s, %s, %s, %s)
              GROUP BY e.transaction_id HAVING count(DISTINCT e.posted_at) <> 1 OR bool_or(e.posted_at IS NULL) $$,
           :r_top, :r_bon, :r_sp, :r_tr, :r_part1, :r_part2),
    'every entry of a reversal carries its transaction''s one posted_at');
SELECT is_empty(
    $$ SELECT e.id FROM (
         SELECT e.id, e.posted_at, lag(e.posted_at) OVER (PARTITION BY e.wallet_id ORDER BY e.wallet_version) AS prev
         FROM ledger.entries AS e
         WHERE e.wallet_id IN (SELECT f.wallet_id FROM ledger.entries AS f
                               JOIN ledger.transactions AS t ON t.id = f.transaction_id
                               WHERE t.client_id = 'api:tap' AND t.idempotency_key LIKE 'tap-rv-%')) AS e
       WHERE e.posted_at < e.prev $$,
    'posted_at never decreases along the versions of any wallet this file moved, system slots included');
SELECT results_eq(
    $$ SELECT sum(w.balance) FILTER (WHERE w.kind = 'treasury'), sum(w.balance) FILTER (WHERE w.kind = 'revenue')
       FROM ledger.wallets AS w WHERE w.asset_id = 'asset-gold-coin-001' $$,
    format($$ VALUES (%s::numeric - 150 + 50 + 20 + 3 + 7, %s::numeric + 12 - 12) $$, :'treasury_before', :'revenue_before'),
    'the Treasury got back what the top-ups'' and the bonus''s reversals took (150 issued, 80 back); Revenue gave back the spend');
SELECT is_empty($$ SELECT * FROM api.unbalanced_transactions $$,
    'api.unbalanced_transactions knows a reversal''s shape (the legs of what it reverses): it lists none');

-- ---------------------------------------------------------------------------------------------
-- Replay and key reuse
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT is(
    (SELECT row(transaction_id, reverses_transaction_id, user_id, asset_id, wallet_id, balance::text, counterparty_user_id,
                counterparty_wallet_id, counterparty_balance::text, amount::text, remaining::text, replayed, created_at)::text
     FROM api.reverse(:tx_top, NULL, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap')),
    (SELECT row(:r_top::bigint, :tx_top::bigint, 'tap-rv-top', 'asset-gold-coin-001', :w_top::bigint, '0.00', NULL::text,
                NULL::bigint, NULL::text, '50.00', '0.00', true, :'r_top_at'::timestamptz)::text),
    'the same key and arguments replay the reversal: the same answer, replayed = true');
SELECT is(
    (SELECT row(transaction_id, amount::text, remaining::text, replayed)::text
     FROM api.reverse(:tx_top, 50, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap')),
    format('(%s,50.00,0.00,t)', :r_top),
    'the amount that "all that remains" came to is the same request: a replay');
SELECT is(
    (SELECT row(transaction_id, balance::text, amount::text, remaining::text, replayed, created_at)::text
     FROM api.reverse(:tx_part, 3.00, 'partial refund', 'tap-rv-k5', 'strict', '{}', 'api:tap')),
    (SELECT row(:r_part1::bigint, '7.00', '3.00', '7.00', true, :'r_part1_at'::timestamptz)::text),
    'a partial reversal replays what it answered then (7.00 remained), not what remains now');
SELECT is(
    (SELECT row(transaction_id, amount::text, remaining::text, replayed)::text
     FROM api.reverse(:tx_part, NULL, 'the rest', 'tap-rv-k6', 'strict', '{}', 'api:tap')),
    format('(%s,7.00,0.00,t)', :r_part2),
    'a reversal of all that remained replays with no amount');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'partial refund', 'tap-rv-k5', 'strict', '{}', 'api:tap') $$, :tx_part),
    'WIDEM', NULL, 'no amount ("all that remains") on the key of a reversal that left 7.00 is idempotency_key_reused (WIDEM)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap') $$, :tx_bon),
    'WIDEM', NULL, 'the key with another transaction is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 49, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap') $$, :tx_top),
    'WIDEM', NULL, 'the key with another amount is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 2, 'partial refund', 'tap-rv-k5', 'strict', '{}', 'api:tap') $$, :tx_part),
    'WIDEM', NULL, 'a partial reversal''s key with another amount is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'chargeback!', 'tap-rv-k1', 'strict', '{"ticket": "T-1"}', 'api:tap') $$, :tx_top),
    'WIDEM', NULL, 'the key with another reason is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'chargeback', 'tap-rv-k1', 'allow_negative', '{"ticket": "T-1"}', 'api:tap') $$, :tx_top),
    'WIDEM', NULL, 'the key with another mode is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'chargeback', 'tap-rv-k1', 'strict', '{}', 'api:tap') $$, :tx_top),
    'WIDEM', NULL, 'the key with other metadata is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'chargeback', 'tap-rv-k1', 'strict', '{"ticket": "T-2"}', 'api:tap') $$, :tx_top),
    'WIDEM', NULL, 'the key with metadata of another value is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'chargeback', 'tap-rv-f7', 'strict', '{}', 'api:tap') $$, :tx_part),
    'WIDEM', NULL, 'a top-up''s key used for a reversal (of that very top-up) is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-rv-top', 'asset-gold-coin-001', 50, 'tap-rv-k1', '{"ticket": "T-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'a reversal''s key used for a top-up (same user, amount and metadata) is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.spend('tap-rv-sp', 'asset-gold-coin-001', 12, 'sword never delivered', 'tap-rv-k3', '{}', 'api:tap') $$,
    'WIDEM', NULL, 'a reversal''s key used for a spend is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-rv-trb', 'tap-rv-tra', 'asset-gold-coin-001', 10, 'gift sent by mistake', 'tap-rv-k4', '{}', 'api:tap') $$,
    'WIDEM', NULL, 'a transfer''s reversal''s key used for the same move as a transfer is WIDEM');
SELECT * FROM tap.nothing_moved('the replays and the refused key reuses');

-- the key is the client's: another client's same key is another reversal
SELECT tap.act_as('wallet_job');
SELECT is(
    (SELECT row(amount::text, remaining::text, replayed)::text
     FROM api.reverse(:tx_tr, 1, 'gift sent by mistake', 'tap-rv-k4', 'strict', '{}', 'tap:job')),
    '(1.00,4.00,f)',
    'the same key from another client (a job) is a reversal of its own: 1.00 more, 4.00 remains');

-- ---------------------------------------------------------------------------------------------
-- Errors: each moves nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT transaction_id AS tx_fund FROM api.topup('tap-rv-fund', 'asset-gold-coin-001', 20, 'tap-rv-f8', '{}', 'api:tap') \gset
SELECT count(*) FROM api.spend('tap-rv-fund', 'asset-gold-coin-001', 15, 'a bow', 'tap-rv-f9', '{}', 'api:tap') \gset
SELECT tap.snapshot();

SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-rv-e1', 'strict', '{}', 'api:tap') $$, :no_such_tx),
    'WTXNF', NULL, 'an unknown transaction is transaction_not_found (WTXNF)');
SELECT * FROM tap.nothing_moved('WTXNF (unknown transaction)');
SELECT throws_ok($$ SELECT * FROM api.reverse(NULL, NULL, 'x', 'tap-rv-e2', 'strict', '{}', 'api:tap') $$,
    'WTXNF', NULL, 'a NULL transaction is WTXNF');
SELECT * FROM tap.nothing_moved('WTXNF (NULL transaction)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-rv-e3', 'strict', '{}', 'api:tap') $$, :opening),
    'WNREV', NULL, 'an opening balance is not_reversible (WNREV)');
SELECT * FROM tap.nothing_moved('WNREV (opening balance)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-rv-e4', 'allow_negative', '{}', 'api:tap') $$, :r_sp),
    'WNREV', NULL, 'a reversal is WNREV (a reversal of a reversal would re-spend the coins)');
SELECT * FROM tap.nothing_moved('WNREV (reversal)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 4.01, 'x', 'tap-rv-e5', 'strict', '{}', 'api:tap') $$, :tx_tr),
    'WREVX', NULL, 'one cent more than remains of a transfer (4.00) is WREVX');
SELECT * FROM tap.nothing_moved('WREVX (more than remains)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-rv-e6', 'strict', '{}', 'api:tap') $$, :tx_sp),
    'WREVX', NULL, 'all that remains of a spend reversed in full is WREVX');
SELECT * FROM tap.nothing_moved('WREVX (nothing remains)');
SELECT is(tap.error_detail(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-rv-e7', 'strict', '{}', 'api:tap') $$, :tx_fund)),
    'WFUND: balance: 5.00, requested: 20.00',
    'strict: reversing a top-up of 20 whose user has spent 15 is insufficient_funds (WFUND), the DETAIL says what the user holds');
SELECT * FROM tap.nothing_moved('WFUND (strict, the user spent the coins)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 5.01, 'x', 'tap-rv-e8', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WFUND', NULL, 'strict: one cent more than the user holds is WFUND');
SELECT * FROM tap.nothing_moved('WFUND (strict, one cent more)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 0, 'x', 'tap-rv-e9', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WAMNT', NULL, 'an amount of 0 is invalid_amount (WAMNT), not all that remains');
SELECT * FROM tap.nothing_moved('WAMNT (zero)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, -5, 'x', 'tap-rv-e10', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WAMNT', NULL, 'a negative amount is WAMNT');
SELECT * FROM tap.nothing_moved('WAMNT (negative)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 'NaN', 'x', 'tap-rv-e11', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WAMNT', NULL, 'NaN is WAMNT');
SELECT * FROM tap.nothing_moved('WAMNT (NaN)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1.001, 'x', 'tap-rv-e12', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WAMNT', NULL, 'an amount with 3 places in a 2-place asset is WAMNT');
SELECT * FROM tap.nothing_moved('WAMNT (too many decimal places)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1000000000.01, 'x', 'tap-rv-e13', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WAMNT', NULL, 'one cent above the asset''s max_amount is WAMNT');
SELECT * FROM tap.nothing_moved('WAMNT (above max_amount)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', 'tap-rv-e14', 'lenient', '{}', 'api:tap') $$, :tx_fund),
    'WMODE', NULL, 'a mode other than strict or allow_negative is invalid_mode (WMODE)');
SELECT * FROM tap.nothing_moved('WMODE (unknown mode)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', 'tap-rv-e15', NULL, '{}', 'api:tap') $$, :tx_fund),
    'WMODE', NULL, 'a NULL mode is WMODE (the default is strict, NULL is not)');
SELECT * FROM tap.nothing_moved('WMODE (NULL)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, '  ', 'tap-rv-e16', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WDESC', NULL, 'a blank reason is invalid_description (WDESC)');
SELECT * FROM tap.nothing_moved('WDESC (blank reason)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, NULL, 'tap-rv-e17', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WDESC', NULL, 'a NULL reason is WDESC: a reversal needs one');
SELECT * FROM tap.nothing_moved('WDESC (NULL reason)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', 'tap-rv-e18', 'strict', '[]', 'api:tap') $$, :tx_fund),
    'WMETA', NULL, 'metadata that is not an object is invalid_metadata (WMETA)');
SELECT * FROM tap.nothing_moved('WMETA');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', '', 'strict', '{}', 'api:tap') $$, :tx_fund),
    'WIKEY', NULL, 'an empty key is idempotency_key_invalid (WIKEY)');
SELECT * FROM tap.nothing_moved('WIKEY');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', 'tap-rv-e19', 'strict', '{}', '') $$, :tx_fund),
    'WCLNT', NULL, 'an empty client id is client_id_invalid (WCLNT)');
SELECT * FROM tap.nothing_moved('WCLNT');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'x', 'tap-rv-e20', 'strict', '{}', 'nightly-job') $$, :tx_fund),
    'WCLNS', NULL, 'wallet_service naming a job''s client is client_id_forbidden (WCLNS)');
SELECT * FROM tap.nothing_moved('WCLNS');

-- strict takes what the user holds, and no more
SELECT is(
    (SELECT row(balance::text, amount::text, remaining::text)::text
     FROM api.reverse(:tx_fund, 5, 'what is left', 'tap-rv-k8', 'strict', '{}', 'api:tap')),
    '(0.00,5.00,15.00)',
    'strict: reversing exactly what the user still holds (5 of 20) is accepted, to 0.00; 15.00 remains');

-- ---------------------------------------------------------------------------------------------
-- allow_negative: the whole amount back, the user below zero; the debt, and what may follow it
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx_neg1, wallet_id AS w_neg
FROM api.topup('tap-rv-neg', 'asset-gold-coin-001', 20, 'tap-rv-f10', '{}', 'api:tap') \gset
SELECT transaction_id AS tx_neg_sp FROM api.spend('tap-rv-neg', 'asset-gold-coin-001', 15, 'a shield', 'tap-rv-f11', '{}', 'api:tap') \gset
SELECT transaction_id AS r_neg1, row(balance::text, amount::text, remaining::text, replayed)::text AS r_neg1_answer
FROM api.reverse(:tx_neg1, NULL, 'card chargeback', 'tap-rv-k9', 'allow_negative', '{}', 'api:tap') \gset
SELECT is(:'r_neg1_answer'::text, '(-15.00,20.00,0.00,f)',
    'allow_negative takes the whole top-up of 20 back from a user holding 5: balance -15.00');
SELECT results_eq(
    $$ SELECT user_id, asset_id, asset_code, wallet_id, balance::text, reversals FROM api.negative_balances() $$,
    format($$ VALUES ('tap-rv-neg', 'asset-gold-coin-001', 'GOLD_COIN', %s::bigint, '-15.00', ARRAY[%s]::bigint[]) $$,
           :w_neg, :r_neg1),
    'api.negative_balances lists the user in debt, with the reversal that took it there');
SELECT is_empty($$ SELECT * FROM api.negative_balances('asset-diamond-001') $$,
    'api.negative_balances of another asset does not list it');

SELECT tap.snapshot();
SELECT throws_ok($$ SELECT * FROM api.spend('tap-rv-neg', 'asset-gold-coin-001', 0.01, 'x', 'tap-rv-e21', '{}', 'api:tap') $$,
    'WFUND', NULL, 'a spend from a wallet below zero is WFUND');
SELECT * FROM tap.nothing_moved('WFUND (a spend in debt)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-rv-neg', 'tap-rv-bon', 'asset-gold-coin-001', 0.01, 'x', 'tap-rv-e22', '{}', 'api:tap') $$,
    'WFUND', NULL, 'a transfer from a wallet below zero is WFUND (the recipient sorts first)');
SELECT * FROM tap.nothing_moved('WFUND (a transfer in debt)');
SELECT throws_ok($$ SELECT * FROM api.transfer('tap-rv-neg', 'tap-rv-zz', 'asset-gold-coin-001', 0.01, 'x', 'tap-rv-e23', '{}', 'api:tap') $$,
    'WFUND', NULL, 'a transfer from a wallet below zero to a new user is WFUND (the sender sorts first), and creates no wallet');
SELECT * FROM tap.nothing_moved('WFUND (a transfer in debt to a new user)');

SELECT transaction_id AS tx_neg2, balance::text AS neg_after_topup
FROM api.topup('tap-rv-neg', 'asset-gold-coin-001', 5, 'tap-rv-f12', '{}', 'api:tap') \gset
SELECT is(:'neg_after_topup'::text, '-10.00', 'a top-up pays the debt first: -15.00 + 5 = -10.00, still below zero');
SELECT results_eq(
    $$ SELECT balance::text, reversals FROM api.negative_balances('asset-gold-coin-001') $$,
    format($$ VALUES ('-10.00', ARRAY[%s]::bigint[]) $$, :r_neg1),
    'the smaller debt is still the first reversal''s');
SELECT transaction_id AS r_neg2, row(balance::text, amount::text, remaining::text)::text AS r_neg2_answer
FROM api.reverse(:tx_neg2, 2, 'second chargeback', 'tap-rv-k10', 'allow_negative', '{}', 'api:tap') \gset
SELECT is(:'r_neg2_answer'::text, '(-12.00,2.00,3.00)',
    'a second allow_negative reversal deepens the debt by its own amount only: -10.00 - 2 = -12.00');
SELECT results_eq(
    $$ SELECT balance::text, reversals FROM api.negative_balances('asset-gold-coin-001') $$,
    format($$ VALUES ('-12.00', ARRAY[%s, %s]::bigint[]) $$, :r_neg1, :r_neg2),
    'api.negative_balances lists both reversals of the debt, in the order posted');

-- a transfer's recipient who spent the gift: strict refuses, allow_negative takes it back
SELECT count(*) FROM api.spend('tap-rv-trb', 'asset-gold-coin-001', 4, 'a hat', 'tap-rv-f13', '{}', 'api:tap') \gset
SELECT tap.snapshot();
SELECT is(tap.error_detail(format($$ SELECT * FROM api.reverse(%s, NULL, 'gift', 'tap-rv-e24', 'strict', '{}', 'api:tap') $$, :tx_tr)),
    'WFUND: balance: 0.00, requested: 4.00',
    'strict: reversing what remains of a transfer whose recipient spent it is WFUND');
SELECT * FROM tap.nothing_moved('WFUND (strict, the recipient spent the gift)');
SELECT transaction_id AS r_tr2,
       row(user_id, balance::text, counterparty_user_id, counterparty_balance::text, amount::text, remaining::text)::text AS r_tr2_answer
FROM api.reverse(:tx_tr, NULL, 'gift', 'tap-rv-k11', 'allow_negative', '{}', 'api:tap') \gset
SELECT is(:'r_tr2_answer'::text, '(tap-rv-trb,-4.00,tap-rv-tra,40.00,4.00,0.00)',
    'allow_negative takes the rest of the transfer back: the recipient at -4.00, the sender back at 40.00');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.id, t.reversal_mode::text, w.owner_id::text COLLATE "default", e.amount::numeric, e.balance_after,
                     e.wallet_version::bigint
              FROM ledger.transactions AS t JOIN ledger.entries AS e ON e.transaction_id = t.id
              JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
              WHERE t.id IN (%s, %s, %s) ORDER BY t.id, w.owner_id $$, :r_neg1, :r_neg2, :r_tr2),
    format($$ VALUES (%s::bigint, 'allow_negative', 'tap-rv-neg', -20::numeric, -15::numeric, 3::bigint),
                     (%s, 'allow_negative', 'tap-rv-neg', -2, -12, 5),
                     (%s, 'allow_negative', 'tap-rv-tra', 4, 40, 5),
                     (%s, 'allow_negative', 'tap-rv-trb', -4, -4, 5) $$, :r_neg1, :r_neg2, :r_tr2, :r_tr2),
    'the allow_negative reversals are stored with their mode, and their entries take the balances below zero by their amount');
SELECT is(
    (SELECT n.since FROM api.negative_balances('asset-gold-coin-001') AS n WHERE n.user_id = 'tap-rv-neg'),
    (SELECT e.posted_at FROM ledger.entries AS e WHERE e.transaction_id = :r_neg1 AND e.wallet_id = :w_neg),
    'the debt is dated from the first reversal''s posting');

SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT check_name, ok, problems FROM api.reconcile() $$,
    $$ VALUES ('entries and balances sum to zero per asset', true, 0::bigint),
              ('wallet balances and versions match their entries', true, 0::bigint),
              ('no user balance is negative but by a reversal', true, 0::bigint),
              ('every transaction is one balanced double entry', true, 0::bigint),
              ('each holds account equals its open holds', true, 0::bigint) $$,
    'api.reconcile() is clean with two users in debt: each debt is explained by its reversals');
SELECT results_eq(
    $$ SELECT user_id, balance::text, cardinality(reversals) FROM api.negative_balances() $$,
    $$ VALUES ('tap-rv-neg', '-12.00', 2), ('tap-rv-trb', '-4.00', 1) $$,
    'api.negative_balances lists both, deepest debt first');
SELECT tap.act_as('wallet_auditor');
SELECT is_empty($$ SELECT * FROM api.negative_user_balances $$,
    'api.negative_user_balances (debts no reversal explains) is empty');

-- ---------------------------------------------------------------------------------------------
-- The guard: nothing but an allow_negative reversal takes a user below zero, whoever writes
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = -1 WHERE id = %s $$, :w_sp),
    '23514', NULL, 'the owner cannot UPDATE a user''s balance below zero (check_violation)');
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = -1, version = version + 1 WHERE id = %s $$, :w_sp),
    '23514', NULL, 'nor with the next version, which no reversal entry explains');
SELECT throws_ok($$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, balance, version)
                    VALUES ('asset-gold-coin-001', 'user', 'tap-rv-ins', -1, 0) $$,
    '23514', NULL, 'the owner cannot INSERT a user wallet with a balance below zero');
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = balance - 1 WHERE id = %s $$, :w_neg),
    '23514', NULL, 'the owner cannot lower a balance already below zero: the reversal entry of its version explains -12.00, not -13.00');
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = balance - 2, version = version + 1 WHERE id = %s $$, :w_neg),
    '23514', NULL, 'nor lower it with a version that has no reversal entry');
-- An earlier reversal's entry explains its own version only while that version is the wallet's
-- latest: rewinding the wallet to the version before it (a credit: -12.00 to 5.00 at version 2),
-- then lowering it as the reversal did (5.00 to -15.00 at version 3) is not a reversal. (The
-- block raises if both writes pass, so that a failure here leaves the wallet as it was.)
SELECT throws_ok(format($$ DO $do$ BEGIN
                                UPDATE ledger.wallets SET balance = 5, version = 2 WHERE id = %1$s;
                                UPDATE ledger.wallets SET balance = -15, version = 3 WHERE id = %1$s;
                                RAISE EXCEPTION 'the rewound wallet went below zero';
                            END $do$ $$, :w_neg),
    '23514', NULL, 'nor replay an earlier reversal''s entry on a wallet rewound to the version before it');
SELECT tap.act_as_superuser();
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = -1 WHERE id = %s $$, :w_sp),
    '23514', NULL, 'a superuser cannot UPDATE a user''s balance below zero either');
SELECT throws_ok($$ INSERT INTO ledger.wallets (asset_id, kind, owner_id, balance, version)
                    VALUES ('asset-gold-coin-001', 'user', 'tap-rv-ins', -0.01, 0) $$,
    '23514', NULL, 'nor INSERT a user wallet below zero');
SELECT throws_ok(format($$ UPDATE ledger.wallets SET balance = balance - 0.01 WHERE id = %s $$, :w_neg),
    '23514', NULL, 'nor lower a debt by a cent');
SELECT * FROM tap.nothing_moved('the refused writes below zero');

-- ---------------------------------------------------------------------------------------------
-- The debt paid: credits raise the balance back above zero
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
-- strict refuses to take a user below zero; a reversal that credits the user (a spend's) takes
-- no one below zero, and pays the debt like any credit
SELECT is(
    (SELECT row(balance::text, amount::text, remaining::text)::text
     FROM api.reverse(:tx_neg_sp, 5, 'shield refund', 'tap-rv-k12', 'strict', '{}', 'api:tap')),
    '(-7.00,5.00,10.00)',
    'strict: reversing 5 of a spend credits the user in debt: -12.00 + 5 = -7.00 (a credit, not WFUND)');
SELECT is(
    (SELECT balance::text FROM api.topup('tap-rv-neg', 'asset-gold-coin-001', 20, 'tap-rv-f14', '{}', 'api:tap')),
    '13.00', 'a top-up larger than the debt pays it and leaves the rest: -7.00 + 20 = 13.00');
SELECT results_eq(
    $$ SELECT user_id FROM api.negative_balances() $$, ARRAY['tap-rv-trb'],
    'api.negative_balances no longer lists the user who paid');

-- ---------------------------------------------------------------------------------------------
-- An amount written with trailing zeros is stored at the asset's places, as every posting's
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx_round FROM api.topup('tap-rv-round', 'asset-gold-coin-001', 10, 'tap-rv-f16', '{}', 'api:tap') \gset
SELECT transaction_id AS r_round FROM api.reverse(:tx_round, 2.500, 'trailing zeros', 'tap-rv-k13', 'strict', '{}', 'api:tap') \gset
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT w.kind::text, e.amount::text, CASE WHEN w.kind = 'user' THEN e.balance_after::text END
              FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
              WHERE e.transaction_id = %s ORDER BY e.amount $$, :r_round),
    $$ VALUES ('user', '-2.50', '7.50'), ('treasury', '2.50', NULL) $$,
    'a reversal of 2.500 writes entries of 2.50 and a balance of 7.50, at the asset''s two places (as a top-up of 1.000 writes 1.00)');
SELECT tap.act_as('wallet_service');

-- ---------------------------------------------------------------------------------------------
-- Privileges: the service and the job may, the auditor may not
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS tx_priv FROM api.topup('tap-rv-priv', 'asset-gold-coin-001', 10, 'tap-rv-f15', '{}', 'api:tap') \gset
SELECT lives_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'service', 'tap-rv-p1', 'strict', '{}', 'api:tap') $$, :tx_priv),
    'wallet_service can call api.reverse');
SELECT tap.act_as('wallet_job');
SELECT lives_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'job', 'tap-rv-p2') $$, :tx_priv),
    'wallet_job can call api.reverse (mode strict, metadata and client by default)');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, 1, 'auditor', 'tap-rv-p3') $$, :tx_priv),
    '42501', NULL, 'wallet_auditor cannot call api.reverse');

SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.client_id::text COLLATE "default", t.reversal_mode::text FROM ledger.transactions AS t
              WHERE t.reverses_transaction_id = %s ORDER BY t.id $$, :tx_priv),
    $$ VALUES ('api:tap', 'strict'), ('sql:wallet_job', 'strict') $$,
    'the job''s reversal has the defaults: mode strict, its login''s client sql:wallet_job');
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every reversal of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
