-- The reads: api.balances, api.wallet, api.ledger_page (offset and keyset paging),
-- api.wallet_entries, api.get_transaction and api.transaction_entries, with their errors
-- (WUSER, WASST, WWALT, WPAGE, WTXNF). Called as wallet_service unless said otherwise.
BEGIN;
\ir lib/helpers.psql
SELECT plan(55);

SELECT id AS treasury0 FROM ledger.wallets
WHERE asset_id = 'asset-gold-coin-001' AND kind = 'treasury' AND slot = 0 \gset

SELECT tap.act_as('wallet_service');
-- one GOLD wallet with five entries, versions 1 to 5; its balance is 10 + 20 - 5 + 7 - 1 = 31
SELECT transaction_id AS tx1, wallet_id AS w FROM api.topup('tap-reads-1', 'asset-gold-coin-001', 10, 'tap-reads-k1', '{"n": 1}') \gset
SELECT transaction_id AS tx2 FROM api.topup('tap-reads-1', 'asset-gold-coin-001', 20, 'tap-reads-k2') \gset
SELECT transaction_id AS tx3 FROM api.spend('tap-reads-1', 'asset-gold-coin-001', 5, 'an apple', 'tap-reads-k3') \gset
SELECT transaction_id AS tx4 FROM api.grant_bonus('tap-reads-1', 'asset-gold-coin-001', 7, 'a streak', 'tap-reads-k4') \gset
SELECT transaction_id AS tx5 FROM api.spend('tap-reads-1', 'asset-gold-coin-001', 1, 'a pear', 'tap-reads-k5') \gset

-- ---------------------------------------------------------------------------------------------
-- api.balances
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    $$ SELECT asset_id, asset_code, wallet_id, balance::text, version, updated_at IS NULL
       FROM api.balances('tap-reads-1') $$,
    format($$ VALUES ('asset-diamond-001', 'DIAMOND', NULL::bigint, '0.00', 0::bigint, true),
                     ('asset-gold-coin-001', 'GOLD_COIN', %s::bigint, '31.00', 5::bigint, false),
                     ('asset-loyalty-001', 'LOYALTY_POINT', NULL::bigint, '0.00', 0::bigint, true) $$, :w),
    'api.balances lists every asset: the wallet held (31.00 at version 5) and 0.00 with no wallet for the others');
SELECT results_eq(
    $$ SELECT asset_id, wallet_id, balance::text FROM api.balances('tap-reads-1', 'asset-gold-coin-001') $$,
    format($$ VALUES ('asset-gold-coin-001', %s::bigint, '31.00') $$, :w),
    'api.balances with one asset lists only that asset');
SELECT results_eq(
    $$ SELECT asset_id, wallet_id, balance::text, version FROM api.balances('tap-reads-nobody') $$,
    $$ VALUES ('asset-diamond-001', NULL::bigint, '0.00', 0::bigint),
              ('asset-gold-coin-001', NULL::bigint, '0.00', 0::bigint),
              ('asset-loyalty-001', NULL::bigint, '0.00', 0::bigint) $$,
    'a user without wallets has 0.00 (shown with 2 decimals) and no wallet in every asset; not an error');
SELECT results_eq(
    $$ SELECT wallet_id, balance::text FROM api.balances('tap-reads-nobody', 'asset-diamond-001') $$,
    $$ VALUES (NULL::bigint, '0.00') $$,
    'a missing wallet in one asset is a balance of 0.00 with a NULL wallet');
SELECT throws_ok($$ SELECT * FROM api.balances('tap-reads-1', 'asset-nope') $$,
    'WASST', NULL, 'api.balances with an unknown asset is unknown_asset (WASST)');
SELECT throws_ok($$ SELECT * FROM api.balances('') $$,
    'WUSER', NULL, 'api.balances for an empty user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.balances(repeat('u', 129)) $$,
    'WUSER', NULL, 'api.balances for a 129-character user id is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.balances('tap reads 1') $$,
    'WUSER', NULL, 'api.balances for a user id with spaces is invalid_user_id (WUSER)');
SELECT throws_ok($$ SELECT * FROM api.balances(NULL) $$,
    'WUSER', NULL, 'api.balances for a NULL user id is invalid_user_id (WUSER)');

-- ---------------------------------------------------------------------------------------------
-- api.wallet
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT wallet_id, owner_type, user_id, account, asset_id, balance::text, version
              FROM api.wallet(%s) $$, :w),
    format($$ VALUES (%s::bigint, 'user', 'tap-reads-1', NULL::text, 'asset-gold-coin-001', '31.00', 5::bigint) $$, :w),
    'api.wallet shows a user wallet: owner, asset, balance with 2 decimals, version');
SELECT results_eq(
    format($$ SELECT owner_type, user_id, account, asset_id FROM api.wallet(%s) $$, :treasury0),
    $$ VALUES ('system', NULL::text, 'treasury#0', 'asset-gold-coin-001') $$,
    'api.wallet shows a system slot as owner_type system, named account#slot');
SELECT throws_ok($$ SELECT * FROM api.wallet(-1) $$, 'WWALT', NULL,
    'api.wallet of an unknown id is wallet_not_found (WWALT)');
SELECT throws_ok($$ SELECT * FROM api.wallet(NULL) $$, 'WWALT', NULL,
    'api.wallet of NULL is wallet_not_found (WWALT)');

-- ---------------------------------------------------------------------------------------------
-- api.ledger_page: newest first, by offset or by keyset
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT wallet_id, owner_type, user_id, asset_id, balance::text
              FROM api.ledger_page(%s, 2) $$, :w),
    format($$ VALUES (%s::bigint, 'user', 'tap-reads-1', 'asset-gold-coin-001', '31.00') $$, :w),
    'api.ledger_page carries the wallet itself');
SELECT results_eq(
    format($$ SELECT e.transaction_id, e.type::text, e.direction, e.amount::text, e.balance_after::text,
                     e.wallet_version, e.description
              FROM api.ledger_page(%s, 2) AS p, unnest(p.entries) WITH ORDINALITY AS e
              ORDER BY e.ordinality $$, :w),
    format($$ VALUES (%s::bigint, 'spend', 'debit', '1.00', '31.00', 5::bigint, 'a pear'),
                     (%s::bigint, 'bonus', 'credit', '7.00', '32.00', 4::bigint, 'a streak') $$, :tx5, :tx4),
    'the first page is newest first: the spend (debit 1.00, 31.00 after), then the bonus (credit 7.00)');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2) AS p $$, :w),
    $$ VALUES (ARRAY[5, 4]::bigint[], 4::bigint) $$,
    'page 1 of 2 entries: versions 5, 4 and next_cursor 4');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2, 0, 4) AS p $$, :w),
    $$ VALUES (ARRAY[3, 2]::bigint[], 2::bigint) $$,
    'keyset page 2 (cursor 4): versions 3, 2 and next_cursor 2');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2, 0, 2) AS p $$, :w),
    $$ VALUES (ARRAY[1]::bigint[], NULL::bigint) $$,
    'keyset page 3 (cursor 2): version 1, and next_cursor NULL on the last page');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2, 2) AS p $$, :w),
    $$ VALUES (ARRAY[3, 2]::bigint[], 2::bigint) $$,
    'offset page 2 (offset 2): versions 3, 2 and next_cursor 2');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2, 4) AS p $$, :w),
    $$ VALUES (ARRAY[1]::bigint[], NULL::bigint) $$,
    'offset page 3 (offset 4): version 1, next_cursor NULL');
SELECT results_eq(
    format($$ SELECT cardinality(p.entries), p.next_cursor FROM api.ledger_page(%s, 5) AS p $$, :w),
    $$ VALUES (5, NULL::bigint) $$,
    'a page exactly as long as the ledger has no next page');
SELECT results_eq(
    format($$ SELECT cardinality(p.entries), p.next_cursor FROM api.ledger_page(%s, 4) AS p $$, :w),
    $$ VALUES (4, 2::bigint) $$,
    'a page one entry short of the ledger points at the last entry');
SELECT results_eq(
    format($$ SELECT cardinality(p.entries), p.next_cursor FROM api.ledger_page(%s) AS p $$, :w),
    $$ VALUES (5, NULL::bigint) $$,
    'the default page (50) holds the whole short ledger');
SELECT results_eq(
    format($$ SELECT cardinality(p.entries), p.next_cursor FROM api.ledger_page(%s, 10, 10) AS p $$, :w),
    $$ VALUES (0, NULL::bigint) $$,
    'an offset past the end gives an empty page, not an error');

-- Pages are found by wallet version, not by stepping over rows: every offset and every cursor
-- of a 30-entry wallet gives exactly what OFFSET and a version filter over its entries give.
SELECT count(*) FROM generate_series(1, 30) AS i,
    api.topup('tap-reads-30', 'asset-gold-coin-001', i, 'tap-reads-30-' || i) \gset
SELECT wallet_id AS w30 FROM api.balances('tap-reads-30', 'asset-gold-coin-001') \gset
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT o, array(SELECT e.entry_id FROM api.wallet_entries(%s, 7, o) AS e)
              FROM generate_series(0, 32) AS o $$, :w30),
    format($$ SELECT o, array(SELECT e.id FROM ledger.entries AS e WHERE e.wallet_id = %s
                              ORDER BY e.wallet_version DESC LIMIT 7 OFFSET o)
              FROM generate_series(0, 32) AS o $$, :w30),
    'every offset from 0 to past the end pages exactly as OFFSET over the wallet''s entries');
SELECT results_eq(
    format($$ SELECT c, array(SELECT e.entry_id FROM api.wallet_entries(%s, 7, 0, c) AS e)
              FROM generate_series(1, 32) AS c $$, :w30),
    format($$ SELECT c, array(SELECT e.id FROM ledger.entries AS e
                              WHERE e.wallet_id = %s AND e.wallet_version < c
                              ORDER BY e.wallet_version DESC LIMIT 7)
              FROM generate_series(1, 32) AS c $$, :w30),
    'every cursor pages exactly as a filter on the wallet version');
SELECT tap.act_as('wallet_service');

-- new entries arrive (versions 6 and 7) while a reader holds cursor 4
SELECT lives_ok($$ SELECT * FROM api.topup('tap-reads-1', 'asset-gold-coin-001', 3, 'tap-reads-k6') $$,
    'a new top-up arrives (version 6)');
SELECT lives_ok($$ SELECT * FROM api.spend('tap-reads-1', 'asset-gold-coin-001', 2, 'a plum', 'tap-reads-k7') $$,
    'a new spend arrives (version 7)');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.next_cursor
              FROM api.ledger_page(%s, 2, 0, 4) AS p $$, :w),
    $$ VALUES (ARRAY[3, 2]::bigint[], 2::bigint) $$,
    'cursor 4 still gives versions 3, 2 after new entries arrived: nothing skipped, nothing repeated');
SELECT results_eq(
    format($$ SELECT array(SELECT e.wallet_version FROM unnest(p.entries) WITH ORDINALITY AS e ORDER BY e.ordinality),
                     p.balance::text
              FROM api.ledger_page(%s, 2) AS p $$, :w),
    $$ VALUES (ARRAY[7, 6]::bigint[], '32.00') $$,
    'the first page now starts with the new entries, and the balance is 31 + 3 - 2 = 32.00');
SELECT results_eq(
    format($$ WITH RECURSIVE pages (n, entries, next_cursor) AS (
                  SELECT 1, p.entries, p.next_cursor FROM api.ledger_page(%1$s, 3) AS p
                  UNION ALL
                  SELECT pages.n + 1, p.entries, p.next_cursor
                  FROM pages, api.ledger_page(%1$s, 3, 0, pages.next_cursor) AS p
                  WHERE pages.next_cursor IS NOT NULL)
              SELECT array_agg(e.wallet_version ORDER BY pages.n, e.ordinality), count(DISTINCT pages.n)
              FROM pages, unnest(pages.entries) WITH ORDINALITY AS e $$, :w),
    $$ VALUES (ARRAY[7, 6, 5, 4, 3, 2, 1]::bigint[], 3::bigint) $$,
    'following next_cursor from the first page visits every entry once, newest first, in 3 pages');

SELECT lives_ok(format($$ SELECT * FROM api.ledger_page(%s, 200) $$, :w), 'a limit of 200 is accepted');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 0) $$, :w), 'WPAGE', NULL,
    'a limit of 0 is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 201) $$, :w), 'WPAGE', NULL,
    'a limit of 201 is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, NULL) $$, :w), 'WPAGE', NULL,
    'a NULL limit is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 10, -1) $$, :w), 'WPAGE', NULL,
    'a negative offset is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 10, NULL) $$, :w), 'WPAGE', NULL,
    'a NULL offset is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 10, 1, 4) $$, :w), 'WPAGE', NULL,
    'a cursor combined with an offset is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.ledger_page(%s, 10, 0, 0) $$, :w), 'WPAGE', NULL,
    'a cursor of 0 is invalid_page (WPAGE)');
SELECT throws_ok($$ SELECT * FROM api.ledger_page(-1) $$, 'WWALT', NULL,
    'api.ledger_page of an unknown wallet is wallet_not_found (WWALT)');

-- ---------------------------------------------------------------------------------------------
-- api.wallet_entries
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT wallet_version, type::text, direction, amount::text, balance_after::text
              FROM api.wallet_entries(%s) $$, :w),
    $$ VALUES (7::bigint, 'spend', 'debit', '2.00', '32.00'), (6::bigint, 'topup', 'credit', '3.00', '34.00'),
              (5::bigint, 'spend', 'debit', '1.00', '31.00'), (4::bigint, 'bonus', 'credit', '7.00', '32.00'),
              (3::bigint, 'spend', 'debit', '5.00', '25.00'), (2::bigint, 'topup', 'credit', '20.00', '30.00'),
              (1::bigint, 'topup', 'credit', '10.00', '10.00') $$,
    'api.wallet_entries lists the whole history newest first, each entry with its balance after');
SELECT results_eq(
    format($$ SELECT wallet_version FROM api.wallet_entries(%s, 2, 1) $$, :w),
    ARRAY[6, 5]::bigint[],
    'api.wallet_entries pages by offset');
SELECT results_eq(
    format($$ SELECT wallet_version FROM api.wallet_entries(%s, 2, 0, 3) $$, :w),
    ARRAY[2, 1]::bigint[],
    'api.wallet_entries pages by keyset (before version 3)');
SELECT is_empty($$ SELECT * FROM api.wallet_entries(-1) $$,
    'api.wallet_entries of an unknown wallet is empty');
SELECT throws_ok(format($$ SELECT * FROM api.wallet_entries(%s, 0) $$, :w), 'WPAGE', NULL,
    'api.wallet_entries with a limit of 0 is invalid_page (WPAGE)');
SELECT throws_ok(format($$ SELECT * FROM api.wallet_entries(%s, 10, 2, 5) $$, :w), 'WPAGE', NULL,
    'api.wallet_entries with a cursor and an offset is invalid_page (WPAGE)');

-- ---------------------------------------------------------------------------------------------
-- api.get_transaction and api.transaction_entries
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT transaction_id, type::text, status, user_id, asset_id, amount::text, balance::text,
                     wallet_id, description, metadata
              FROM api.get_transaction(%s) $$, :tx1),
    format($$ VALUES (%s::bigint, 'topup', 'completed', 'tap-reads-1', 'asset-gold-coin-001', '10.00',
                      '10.00', %s::bigint, NULL::text, '{"n": 1}'::jsonb) $$, :tx1, :w),
    'api.get_transaction shows a top-up''s user side: user, asset, amount, balance after, wallet');
SELECT results_eq(
    format($$ SELECT e.owner_type, e.user_id, e.account LIKE 'treasury#%%', e.direction, e.amount::text,
                     e.wallet_id = %s
              FROM api.get_transaction(%s) AS t, unnest(t.entries) AS e ORDER BY e.owner_type $$, :w, :tx1),
    $$ VALUES ('system', NULL::text, true, 'debit', '10.00', false),
              ('user', 'tap-reads-1', NULL::boolean, 'credit', '10.00', true) $$,
    'a top-up has two entries: a Treasury slot debited and the user''s wallet credited');
SELECT results_eq(
    format($$ SELECT e.owner_type, e.user_id, e.account LIKE 'revenue#%%', e.direction, e.amount::text
              FROM api.get_transaction(%s) AS t, unnest(t.entries) AS e ORDER BY e.owner_type $$, :tx3),
    $$ VALUES ('system', NULL::text, true, 'credit', '5.00'),
              ('user', 'tap-reads-1', NULL::boolean, 'debit', '5.00') $$,
    'a spend has two entries: the user''s wallet debited and a Revenue slot credited');
SELECT results_eq(
    format($$ SELECT (SELECT array_agg(e ORDER BY e.entry_id) FROM unnest(t.entries) AS e)::text
              FROM api.get_transaction(%s) AS t $$, :tx3),
    format($$ SELECT array_agg(l ORDER BY l.entry_id)::text FROM api.transaction_entries(%s) AS l $$, :tx3),
    'api.get_transaction''s entries are exactly api.transaction_entries');
SELECT throws_ok($$ SELECT * FROM api.get_transaction(-1) $$, 'WTXNF', NULL,
    'api.get_transaction of an unknown id is transaction_not_found (WTXNF)');
SELECT throws_ok($$ SELECT * FROM api.get_transaction(NULL) $$, 'WTXNF', NULL,
    'api.get_transaction of NULL is transaction_not_found (WTXNF)');
SELECT is_empty($$ SELECT * FROM api.transaction_entries(-1) $$,
    'api.transaction_entries of an unknown transaction is empty');

-- the auditor reads the same thing
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    format($$ SELECT balance::text, cardinality(entries), next_cursor FROM api.ledger_page(%s, 3) $$, :w),
    $$ VALUES ('32.00', 3, 5::bigint) $$,
    'wallet_auditor reads the same ledger page');
SELECT tap.act_as_superuser();

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every posting of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
