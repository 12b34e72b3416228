-- The argument rules of every money function, written once: each case of tap_args_cases is run
-- against api.topup, api.grant_bonus, api.spend, api.open_balance, api.transfer, api.reverse and
-- api.authorize_hold (with an expiry of 1 hour: its expiry's cases, WHEXI, are 37_holds.sql's)
-- (the description cases against the four that take one; a user case is the transfer's sender, its
-- recipient is tap-args-to, and 35_transfer.sql has the recipient's and same_user's cases), as a throws_ok naming the SQLSTATE, or a lives_ok for the edges
-- that must be accepted. The rules themselves live in db/functions/05_rules.sql; the behaviour
-- of each function beyond its arguments is in 10_topup.sql, 20_bonus.sql, 30_spend.sql,
-- 35_transfer.sql, 36_reverse.sql and 70_seed.sql. api.open_balance runs as the owner
-- (wallet_service may not call it), the others as wallet_job, a trusted job, which may name
-- clients of its own (the HTTP service's login may use only api:<key name>: 55_client_ids.sql).
--
-- api.reverse takes a transaction, not a user and an asset: the user and asset cases do not apply
-- to it (its transaction's cases, WTXNF and WNREV, are 36_reverse.sql's). The amount cases apply
-- (the asset is the reversed transaction's) but one: a NULL amount is all that remains, not
-- WAMNT. The key, client, metadata and reason (description) cases apply as they are. Its rejected
-- calls reverse a top-up of 100 to tap-args-x-reversal; its accepted calls reverse a top-up of 100
-- to tap-args-ok-reversal, but for the one of the asset's max_amount, which reverses a top-up of
-- exactly that amount to the same user.
BEGIN;
\ir lib/helpers.psql
SELECT plan(377);

-- ---------------------------------------------------------------------------------------------
-- The functions, and the valid arguments each case starts from. Each function has its own
-- client, so that one key may be accepted by all six; rejected calls go to a user who must end
-- up without a wallet, accepted ones to a user whose balance is checked at the end.
-- ---------------------------------------------------------------------------------------------
CREATE TEMP TABLE tap_args_functions (fn_no, fn, role, type, has_user_and_asset, has_description,
                                      null_amount_is_all, call) AS
VALUES
    (1, 'api.topup', 'wallet_job', 'topup', true, false, false,
     'SELECT * FROM api.topup(%1$L, %2$L, %3$L::numeric, %5$L, %6$L::jsonb, %7$L)'),
    (2, 'api.grant_bonus', 'wallet_job', 'bonus', true, true, false,
     'SELECT * FROM api.grant_bonus(%1$L, %2$L, %3$L::numeric, %4$L, %5$L, %6$L::jsonb, %7$L)'),
    (3, 'api.spend', 'wallet_job', 'spend', true, true, false,
     'SELECT * FROM api.spend(%1$L, %2$L, %3$L::numeric, %4$L, %5$L, %6$L::jsonb, %7$L)'),
    (4, 'api.open_balance', 'wallet_owner', 'opening_balance', true, false, false,
     'SELECT * FROM api.open_balance(%1$L, %2$L, %3$L::numeric, %5$L, %6$L::jsonb, %7$L)'),
    (5, 'api.transfer', 'wallet_job', 'transfer', true, true, false,
     'SELECT * FROM api.transfer(%1$L, ''tap-args-to'', %2$L, %3$L::numeric, %4$L, %5$L, %6$L::jsonb, %7$L)'),
    -- %8$s: the transaction it reverses (below)
    (6, 'api.reverse', 'wallet_job', 'reversal', false, true, true,
     'SELECT * FROM api.reverse(%8$s, %3$L::numeric, %4$L, %5$L, ''strict'', %6$L::jsonb, %7$L)'),
    (7, 'api.authorize_hold', 'wallet_job', 'hold', true, true, false,
     'SELECT * FROM api.authorize_hold(%1$L, %2$L, %3$L::numeric, %4$L, %5$L, ''1 hour'', %6$L::jsonb, %7$L)');

-- (case, what, the argument it changes, its value, the SQLSTATE expected; NULL: accepted)
CREATE TEMP TABLE tap_args_cases (case_no, label, field, value, sqlstate) AS
VALUES
    -- amount (WAMNT)
    ( 1, 'a zero amount', 'amount', '0', 'WAMNT'),
    ( 2, 'a negative amount (never a move the other way)', 'amount', '-5', 'WAMNT'),
    ( 3, 'a NULL amount', 'amount', NULL, 'WAMNT'),
    ( 4, 'NaN', 'amount', 'NaN', 'WAMNT'),
    ( 5, 'Infinity', 'amount', 'Infinity', 'WAMNT'),
    ( 6, '-Infinity', 'amount', '-Infinity', 'WAMNT'),
    ( 7, '1.001: one decimal place more than the asset allows', 'amount', '1.001', 'WAMNT'),
    ( 8, '0.001: rounds to zero at two places, rejected rather than rounded', 'amount', '0.001', 'WAMNT'),
    ( 9, 'one cent above the asset''s max_amount', 'amount', '1000000000.01', 'WAMNT'),
    -- asset (WASST)
    (10, 'an unknown asset', 'asset', 'asset-unknown-001', 'WASST'),
    (11, 'an asset code, not an asset id', 'asset', 'GOLD_COIN', 'WASST'),
    (12, 'a NULL asset', 'asset', NULL, 'WASST'),
    -- user id (WUSER)
    (13, 'an empty user id', 'user', '', 'WUSER'),
    (14, 'a user id of 129 characters', 'user', repeat('u', 129), 'WUSER'),
    (15, 'a user id with spaces', 'user', 'tap args x', 'WUSER'),
    (16, 'a NULL user id', 'user', NULL, 'WUSER'),
    (17, 'a user id with a trailing newline', 'user', E'tap-args-x\n', 'WUSER'),
    (18, 'a user id with a non-ASCII letter', 'user', 'tap-árgs-x', 'WUSER'),
    (19, 'a user id with a slash', 'user', 'tap/args/x', 'WUSER'),
    -- idempotency key (WIKEY)
    (20, 'an empty idempotency key', 'key', '', 'WIKEY'),
    (21, 'an idempotency key of 256 characters', 'key', repeat('k', 256), 'WIKEY'),
    (22, 'a non-ASCII idempotency key (Latin)', 'key', 'tap-args-clé', 'WIKEY'),
    (23, 'a non-ASCII idempotency key (Cyrillic)', 'key', 'tap-args-ключ', 'WIKEY'),
    (24, 'an idempotency key with a control character', 'key', E'tap-args\tx', 'WIKEY'),
    (25, 'a NULL idempotency key', 'key', NULL, 'WIKEY'),
    -- client id (WCLNT): it scopes the key, and is not the key
    (26, 'an empty client id', 'client', '', 'WCLNT'),
    (27, 'a client id of 201 characters', 'client', repeat('c', 201), 'WCLNT'),
    -- metadata (WMETA)
    (28, 'empty array metadata', 'metadata', '[]', 'WMETA'),
    (29, 'array metadata', 'metadata', '["a"]', 'WMETA'),
    (30, 'string metadata', 'metadata', '"text"', 'WMETA'),
    (31, 'number metadata', 'metadata', '42', 'WMETA'),
    (32, 'boolean metadata', 'metadata', 'true', 'WMETA'),
    (33, 'JSON null metadata', 'metadata', 'null', 'WMETA'),
    (34, 'SQL NULL metadata', 'metadata', NULL, 'WMETA'),
    -- '{"note": ""}' is 12 bytes as jsonb text, so 4085 more make 4097
    (35, 'metadata of 4097 bytes', 'metadata', jsonb_build_object('note', repeat('x', 4085))::text, 'WMETA'),
    -- description or reason (WDESC), of the functions that take one
    (36, 'a NULL description or reason', 'description', NULL, 'WDESC'),
    (37, 'an empty description or reason', 'description', '', 'WDESC'),
    (38, 'a blank description or reason (spaces)', 'description', '    ', 'WDESC'),
    (39, 'a blank description or reason (a tab and a newline)', 'description', E'\t\n', 'WDESC'),
    (40, 'a description or reason of 501 characters', 'description', repeat('d', 501), 'WDESC'),
    -- accepted at the edges
    (41, '1.000: trailing zeros only, a valid 2-place amount', 'amount', '1.000', NULL),
    (42, 'the smallest 2-place amount, 0.01', 'amount', '0.01', NULL),
    (43, 'exactly the asset''s max_amount (1e9)', 'amount', '1000000000', NULL),
    (44, 'a user id of 128 characters', 'user', repeat('u', 128), NULL),
    (45, 'a user id of letters, digits and ._:@-', 'user', 'tap.Args_4:x@y-Z9', NULL),
    (46, 'an idempotency key of 255 characters', 'key', 'tap-args-' || repeat('k', 246), NULL),
    (47, 'an idempotency key of any printable ASCII, spaces included', 'key',
         ' tap-args e7 !"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', NULL),
    (48, 'a client id of 200 characters', 'client', repeat('c', 200), NULL),
    (49, 'metadata of exactly 4096 bytes', 'metadata', jsonb_build_object('note', repeat('x', 4084))::text, NULL),
    (50, 'nested metadata', 'metadata', '{"nested": {"list": [1, 2, {"deep": null}]}}', NULL),
    (51, 'a description or reason of 500 characters', 'description', repeat('d', 500), NULL);

-- The top-ups api.reverse's calls reverse (a top-up's key, not api.reverse's: tap:args-orig)
SELECT tap.act_as('wallet_job');
SELECT transaction_id AS orig_x FROM api.topup('tap-args-x-reversal', 'asset-gold-coin-001', 100, 'tap-args-orig-x', '{}',
                                               'tap:args-orig') \gset
SELECT transaction_id AS orig_ok FROM api.topup('tap-args-ok-reversal', 'asset-gold-coin-001', 100, 'tap-args-orig-ok', '{}',
                                                'tap:args-orig') \gset
SELECT transaction_id AS orig_max FROM api.topup('tap-args-ok-reversal', 'asset-gold-coin-001', 1000000000, 'tap-args-orig-max',
                                                 '{}', 'tap:args-orig') \gset
SELECT tap.act_as_superuser();

-- Every applicable (function, case) pair with the call it makes. The key is the function's and
-- the case's own unless the case is about the key; the client is the function's own unless the
-- case is about the client (then the key keeps the pair apart).
CREATE TEMP TABLE tap_args_calls AS
SELECT f.fn_no, f.fn, f.role, c.case_no, c.sqlstate,
       f.fn || ': ' || c.label || CASE WHEN c.sqlstate IS NULL THEN ' is accepted'
                                       ELSE ' is rejected with ' || c.sqlstate END AS description,
       format(f.call,
              CASE WHEN c.field = 'user' THEN c.value
                   WHEN c.sqlstate IS NULL THEN 'tap-args-ok-' || f.type
                   ELSE 'tap-args-x-' || f.type END,
              CASE WHEN c.field = 'asset' THEN c.value ELSE 'asset-gold-coin-001' END,
              CASE WHEN c.field = 'amount' THEN c.value ELSE '1' END,
              CASE WHEN c.field = 'description' THEN c.value ELSE 'tap' END,
              CASE WHEN c.field = 'key' THEN c.value ELSE 'tap-args-' || f.type || '-' || c.case_no END,
              CASE WHEN c.field = 'metadata' THEN c.value ELSE '{}' END,
              CASE WHEN c.field = 'client' THEN c.value ELSE 'tap:args-' || f.type END,
              CASE WHEN c.sqlstate IS NOT NULL THEN :orig_x
                   WHEN c.field = 'amount' AND c.value = '1000000000' THEN :orig_max
                   ELSE :orig_ok END) AS call
FROM tap_args_functions AS f
JOIN tap_args_cases AS c
  ON (c.field <> 'description' OR f.has_description)
 AND (c.field NOT IN ('user', 'asset') OR f.has_user_and_asset)
 AND NOT (c.field = 'amount' AND c.value IS NULL AND f.null_amount_is_all);
GRANT SELECT ON tap_args_calls TO PUBLIC;

SELECT is((SELECT count(*) FROM tap_args_calls), 332::bigint,
    'the 51 cases make 332 calls: 45 for each of the six functions of a user and an asset, 6 more for each of the four taking a description, 38 for api.reverse (no user or asset case, no NULL amount)');

-- ---------------------------------------------------------------------------------------------
-- Rejected: each with its SQLSTATE, and nothing moves
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.topup' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.topup calls');

SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.grant_bonus' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.grant_bonus calls');

-- the spends' user holds enough for every one of them: a rejected argument, not the balance, is
-- what stops each, and its wallet stays exactly as it was
SELECT tap.act_as('wallet_owner');
SELECT count(*) FROM api.open_balance('tap-args-x-spend', 'asset-gold-coin-001', 100, 'tap-args-fund-x', '{}',
                                      'tap:args-fund') \gset
SELECT count(*) FROM api.open_balance('tap-args-x-transfer', 'asset-gold-coin-001', 100, 'tap-args-fund-xt', '{}',
                                      'tap:args-fund') \gset
SELECT count(*) FROM api.open_balance('tap-args-x-hold', 'asset-gold-coin-001', 100, 'tap-args-fund-xh', '{}',
                                      'tap:args-fund') \gset
SELECT tap.act_as('wallet_job');
SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.spend' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.spend calls');

SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.transfer' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.transfer calls');

-- the top-up they reverse has 100 left: a rejected argument, not what remains, stops each
SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.reverse' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.reverse calls');

-- the holds' user holds enough for every one of them, as the spends' does
SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.authorize_hold' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.authorize_hold calls');

SELECT tap.act_as('wallet_owner');
SELECT tap.snapshot();
SELECT throws_ok(c.call, c.sqlstate, NULL, c.description)
FROM (SELECT * FROM tap_args_calls WHERE fn = 'api.open_balance' AND sqlstate IS NOT NULL ORDER BY case_no) AS c;
SELECT * FROM tap.nothing_moved('the rejected api.open_balance calls');
SELECT tap.act_as_superuser();

SELECT is_empty($$ SELECT * FROM ledger.wallets WHERE (owner_id LIKE 'tap-args-x-%' AND owner_id NOT IN ('tap-args-x-spend', 'tap-args-x-transfer', 'tap-args-x-reversal', 'tap-args-x-hold'))
                                               OR owner_id = 'tap-args-to' $$,
    'the users of the rejected top-ups, bonuses and opening balances, and the rejected transfers'' recipient, still have no wallet');

-- ---------------------------------------------------------------------------------------------
-- Accepted at the edges: each call writes one transaction, and moves exactly its amount
-- ---------------------------------------------------------------------------------------------
-- the spends need funds: the user of the accepted spends, and the users that are the cases
SELECT count(*) FROM (VALUES ('tap-args-ok-spend'), ('tap-args-ok-transfer'), ('tap-args-ok-hold'), (repeat('u', 128)), ('tap.Args_4:x@y-Z9')) AS u (user_id),
    generate_series(1, 2) AS i,
    api.open_balance(u.user_id, 'asset-gold-coin-001', 1000000000, 'tap-args-fund-' || md5(u.user_id) || '-' || i,
                     '{}', 'tap:args-fund') \gset
CREATE TEMP TABLE tap_args_before AS
SELECT t.type::text AS type, count(*) AS transactions FROM ledger.transactions AS t GROUP BY t.type;

SELECT tap.act_as('wallet_job');
SELECT lives_ok(c.call, c.description)
FROM (SELECT * FROM tap_args_calls WHERE role = 'wallet_job' AND sqlstate IS NULL ORDER BY fn_no, case_no) AS c;
SELECT tap.act_as('wallet_owner');
SELECT lives_ok(c.call, c.description)
FROM (SELECT * FROM tap_args_calls WHERE role = 'wallet_owner' AND sqlstate IS NULL ORDER BY fn_no, case_no) AS c;
SELECT tap.act_as_superuser();

SELECT is(
    (SELECT count(*) FROM ledger.transactions AS t WHERE t.type = f.type::ledger.transaction_type)
        - coalesce((SELECT b.transactions FROM tap_args_before AS b WHERE b.type = f.type), 0),
    (SELECT count(*) FROM tap_args_calls AS c WHERE c.fn = f.fn AND c.sqlstate IS NULL),
    f.fn || ': each accepted call wrote exactly one transaction')
FROM (SELECT * FROM tap_args_functions ORDER BY fn_no) AS f;
-- the calls of the cases that are not about the user went to the function's own user
SELECT is(
    (SELECT w.balance FROM ledger.wallets AS w
     WHERE w.owner_id = 'tap-args-ok-' || f.type AND w.asset_id = 'asset-gold-coin-001'),
    CASE WHEN f.type IN ('spend', 'transfer', 'hold') THEN 2000000000 WHEN f.type = 'reversal' THEN 1000000100 ELSE 0 END
        + CASE WHEN f.type IN ('spend', 'transfer', 'reversal', 'hold') THEN -1 ELSE 1 END
          * (SELECT sum(CASE WHEN a.field = 'amount' THEN a.value::numeric ELSE 1 END)
             FROM tap_args_calls AS c JOIN tap_args_cases AS a USING (case_no)
             WHERE c.fn = f.fn AND c.sqlstate IS NULL AND a.field <> 'user'),
    f.fn || ': the accepted calls moved the user''s balance by exactly their amounts, each once')
FROM (SELECT * FROM tap_args_functions ORDER BY fn_no) AS f;

-- The double-entry check runs at commit, which a test file never reaches (it ends in ROLLBACK):
-- forcing it now checks every transaction this file wrote.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every accepted call of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
