-- Holds (issue 16): api.authorize_hold, api.capture_hold, api.void_hold, api.get_hold and
-- api.expire_holds. What each writes (the transaction, its entries, balances, versions, the holds
-- account, the hold's status), every error they raise with nothing moved, replays and key reuse
-- (WIDEM), per-client keys, expiry (a hold of one second, then pg_sleep: refused before the sweep,
-- released by it once), the guard on ledger.holds (WIMUT), a hold's transactions not reversible,
-- and who may call what. Called as wallet_service with a client api:tap, like the HTTP service.
-- (Races between two sessions, capture against void or expiry, are for tests/ledger/
-- test_concurrency.py: one pgTAP file is one session.)
BEGIN;
\ir lib/helpers.psql
SELECT plan(145);

-- A transaction's legs, read as the owner: 'kind amount' (and ' -> balance_after' for a user leg),
-- in wallet kind order (user, revenue, holds), then amount.
CREATE FUNCTION tap.legs(p_tx bigint)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(w.kind::text || ' ' || e.amount::text
                      || CASE WHEN w.kind = 'user' THEN ' -> ' || e.balance_after::text ELSE '' END,
                      ', ' ORDER BY w.kind, e.amount)
    FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
    WHERE e.transaction_id = p_tx
$$;
-- An account of GOLD (its slots summed) and a user's GOLD wallet, balance/version
CREATE FUNCTION tap.gold(p_kind text)
RETURNS numeric
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(w.balance), 0) FROM ledger.wallets AS w
    WHERE w.asset_id = 'asset-gold-coin-001' AND w.kind::text = p_kind
$$;
CREATE FUNCTION tap.wallet(p_user text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.balance::text || ' v' || w.version FROM ledger.wallets AS w
    WHERE w.owner_id = p_user AND w.asset_id = 'asset-gold-coin-001'
$$;

SELECT tap.gold('holds') AS holds_before, tap.gold('revenue') AS revenue_before \gset
SELECT tap.act_as('wallet_service');
SELECT wallet_id AS w1 FROM api.topup('tap-h-1', 'asset-gold-coin-001', 100, 'tap-h-f1', '{}', 'api:tap') \gset

-- ---------------------------------------------------------------------------------------------
-- Authorize: user -> a holds slot
-- ---------------------------------------------------------------------------------------------
SELECT hold_id AS h1, transaction_id AS h1_tx, hold_transaction_id AS h1_htx, expires_at AS h1_exp,
       created_at AS h1_at,
       row(status, user_id, asset_id, wallet_id, amount::text, captured::text, released::text,
           remaining::text, description, resolve_transaction_id, balance::text, replayed, resolved_at)::text AS h1_answer
FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '10 minutes',
                        '{"match": "M-1"}', 'api:tap') \gset
SELECT is(:'h1_answer'::text, format('(open,tap-h-1,asset-gold-coin-001,%s,30.00,0.00,0.00,30.00,"a match",,70.00,f,)', :w1),
    'authorizing 30 of 100: the hold is open, 30.00 held and remaining, nothing captured nor released, the balance 70.00, not a replay');
SELECT is(:h1_tx::bigint, :h1_htx::bigint, 'the authorization''s transaction is the hold''s hold_transaction_id');
SELECT is(:'h1_exp'::timestamptz - :'h1_at'::timestamptz, interval '10 minutes',
    'the hold expires p_expires_in (10 minutes) after it was authorized');
SELECT is(tap.legs(:h1_tx), 'user -30.00 -> 70.00, holds 30.00',
    'a hold transaction: the user''s debit of 30.00 (balance 70.00) and a holds slot''s credit of 30.00');
SELECT is(tap.wallet('tap-h-1'), '70.00 v2', 'the user''s wallet: 70.00 at version 2 (the top-up, the hold)');
SELECT is(tap.gold('holds') - :holds_before, 30.00, 'the GOLD holds account grew by 30.00');
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.type::text, t.client_id::text COLLATE "default", t.idempotency_key::text COLLATE "default",
                     t.description::text, t.metadata::text, h.client_id::text COLLATE "default",
                     h.idempotency_key::text COLLATE "default", h.created_at = e.posted_at
              FROM ledger.transactions AS t JOIN ledger.holds AS h ON h.hold_transaction_id = t.id
              JOIN ledger.entries AS e ON e.transaction_id = t.id AND e.wallet_id = h.wallet_id
              WHERE t.id = %s $$, :h1_tx),
    $$ VALUES ('hold', 'api:tap', 'tap-h-k1', 'a match', '{"match": "M-1"}', 'api:tap', 'tap-h-k1', true) $$,
    'the hold transaction keeps the description and metadata; the hold row its client and key, created when its entries were posted');
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    format($$ SELECT status::text, amount::text, remaining::text, transaction_id, balance, replayed
              FROM api.get_hold(%s) $$, :h1),
    $$ VALUES ('open', '30.00', '30.00', NULL::bigint, NULL::numeric, NULL::boolean) $$,
    'api.get_hold (here as the auditor) shows the hold open, with no call''s transaction, balance or replay');
SELECT tap.act_as('wallet_service');

SELECT hold_id AS h2, expires_at - created_at AS h2_in
FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 20, 'a pull', 'tap-h-k2', p_client_id => 'api:tap') \gset
SELECT is(:'h2_in'::interval, interval '15 minutes', 'without p_expires_in a hold expires 15 minutes after it was authorized');
SELECT hold_id AS h_short, expires_at - created_at AS h_short_in
FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'shortest', 'tap-h-k3', '1 second', '{}', 'api:tap') \gset
SELECT is(:'h_short_in'::interval, interval '1 second', 'an expiry of exactly 1 second is accepted');
SELECT is(
    (SELECT extract(epoch FROM expires_at - created_at)
     FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'longest', 'tap-h-k4', '1 mon', '{}', 'api:tap')),
    2592000::numeric,
    'an expiry of exactly 30 days is accepted, and ''1 mon'' is 30 days of seconds, never a calendar month');
SELECT hold_id AS h_all FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 48, 'all the rest', 'tap-h-k5', '1 hour', '{}', 'api:tap') \gset
SELECT is(tap.wallet('tap-h-1'), '0.00 v6', 'holds may take the whole balance: 100 - 30 - 20 - 1 - 1 - 48 = 0.00');
SELECT results_eq(
    $$ SELECT balance::text, held::text FROM api.balances('tap-h-1', 'asset-gold-coin-001') $$,
    $$ VALUES ('0.00', '100.00') $$,
    'api.balances: balance 0.00 (what can be spent now), held 100.00 (the five open holds)');
SELECT results_eq(
    $$ SELECT held::text FROM api.balances('tap-h-nobody') ORDER BY asset_id $$,
    $$ VALUES ('0.00'), ('0.00'), ('0.00') $$,
    'api.balances: held is 0.00 for a user without wallets');

-- ---------------------------------------------------------------------------------------------
-- Capture in part, capture whole, void
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS c1_tx, resolve_transaction_id AS c1_rtx, resolved_at AS c1_at,
       row(status, amount::text, captured::text, released::text, remaining::text, balance::text, replayed)::text AS c1_answer
FROM api.capture_hold(:h1, 10, 'tap-h-k6', '{"result": "win"}', 'api:tap') \gset
SELECT is(:'c1_answer'::text, '(captured,30.00,10.00,20.00,0.00,20.00,f)',
    'capturing 10 of a hold of 30: captured, 10.00 captured, 20.00 released to the user (balance 20.00), nothing remains');
SELECT is(:c1_tx::bigint, :c1_rtx::bigint, 'the capture''s transaction is the hold''s resolve_transaction_id');
SELECT is(tap.legs(:c1_tx), 'user 20.00 -> 20.00, revenue 10.00, holds -30.00',
    'a capture in part: the holds slot''s debit of the whole 30.00, Revenue''s credit of 10.00, the user''s credit of the rest, 20.00');
SELECT is(tap.gold('revenue') - :revenue_before, 10.00, 'Revenue grew by the captured 10.00');

SELECT row(status, captured::text, released::text, balance::text, transaction_id IS NOT NULL)::text AS c2_answer,
       transaction_id AS c2_tx
FROM api.capture_hold(:h2, NULL, 'tap-h-k7', '{}', 'api:tap') \gset
SELECT is(:'c2_answer'::text, '(captured,20.00,0.00,,t)',
    'capturing a hold with no amount captures all of it: nothing released, no user leg, so no balance');
SELECT is(tap.legs(:c2_tx), 'revenue 20.00, holds -20.00', 'a whole capture: holds slot -> Revenue only');
SELECT is(tap.wallet('tap-h-1'), '20.00 v7', 'a whole capture leaves the user''s wallet as it was (version 7: the partial capture''s credit)');

SELECT row(status, captured::text, released::text, remaining::text, balance::text)::text AS v1_answer,
       transaction_id AS v1_tx
FROM api.void_hold(:h_all, 'tap-h-k8', '{"why": "cancelled"}', 'api:tap') \gset
SELECT is(:'v1_answer'::text, '(voided,0.00,48.00,0.00,68.00)', 'voiding a hold of 48 gives it all back: balance 68.00');
SELECT is(tap.legs(:v1_tx), 'user 48.00 -> 68.00, holds -48.00', 'a void is a release: holds slot -> user');
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.type::text, t.metadata::text FROM ledger.transactions AS t WHERE t.id IN (%s, %s, %s) ORDER BY t.id $$,
           :c1_tx, :c2_tx, :v1_tx),
    $$ VALUES ('capture', '{"result": "win"}'), ('capture', '{}'), ('release', '{"why": "cancelled"}') $$,
    'a capture is a transaction of type capture, a void one of type release, each with its metadata');
SELECT tap.act_as('wallet_service');
SELECT is(tap.gold('holds') - :holds_before, 2.00, 'the holds account keeps only the two open holds of 1.00');
SELECT results_eq(
    format($$ SELECT transaction_id, type::text, user_id, amount::text, balance::text, cardinality(entries),
                     reversed_amount, reversals
              FROM api.get_transaction(%s) UNION ALL
              SELECT transaction_id, type::text, user_id, amount::text, balance::text, cardinality(entries),
                     reversed_amount, reversals
              FROM api.get_transaction(%s) UNION ALL
              SELECT transaction_id, type::text, user_id, amount::text, balance::text, cardinality(entries),
                     reversed_amount, reversals
              FROM api.get_transaction(%s) $$, :h1_tx, :c1_tx, :c2_tx),
    format($$ VALUES (%s::bigint, 'hold', 'tap-h-1', '30.00', '70.00', 2, NULL::numeric, NULL::bigint[]),
                     (%s, 'capture', 'tap-h-1', '10.00', '20.00', 3, NULL, NULL),
                     (%s, 'capture', 'tap-h-1', '20.00', NULL, 2, NULL, NULL) $$, :h1_tx, :c1_tx, :c2_tx),
    'api.get_transaction: a hold by its user''s debit; a capture by what it captured, with the user''s balance after the rest came back, and a whole capture (no user leg) by its hold''s user, without a balance; none reversible');

-- ---------------------------------------------------------------------------------------------
-- Replays: the same answer, replayed, nothing moved
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT is(
    (SELECT row(hold_id, status, amount::text, captured::text, remaining::text, transaction_id, balance::text, replayed)::text
     FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '10 minutes',
                             '{"match": "M-1"}', 'api:tap')),
    format('(%s,open,30.00,0.00,30.00,%s,70.00,t)', :h1, :h1_tx),
    'the authorization replayed answers what it first answered (open, balance 70.00), replayed, even after the capture');
SELECT is(
    (SELECT row(status, captured::text, released::text, transaction_id, balance::text, replayed)::text
     FROM api.capture_hold(:h1, 10, 'tap-h-k6', '{"result": "win"}', 'api:tap')),
    format('(captured,10.00,20.00,%s,20.00,t)', :c1_tx), 'the capture replayed: the same answer, replayed');
SELECT is(
    (SELECT row(status, captured::text, transaction_id, replayed)::text FROM api.capture_hold(:h2, 20, 'tap-h-k7', '{}', 'api:tap')),
    format('(captured,20.00,%s,t)', :c2_tx),
    'a whole capture replayed with its amount named (20) is the same request');
SELECT is(
    (SELECT row(status, released::text, transaction_id, balance::text, replayed)::text
     FROM api.void_hold(:h_all, 'tap-h-k8', '{"why": "cancelled"}', 'api:tap')),
    format('(voided,48.00,%s,68.00,t)', :v1_tx), 'the void replayed: the same answer, replayed');
SELECT * FROM tap.nothing_moved('the replays');

-- ---------------------------------------------------------------------------------------------
-- Key reuse with other arguments (WIDEM), and per-client keys
-- ---------------------------------------------------------------------------------------------
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 31, 'a match', 'tap-h-k1', '10 minutes', '{"match": "M-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with another amount is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-2', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '10 minutes', '{"match": "M-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with another user is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-diamond-001', 30, 'a match', 'tap-h-k1', '10 minutes', '{"match": "M-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with another asset is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a game', 'tap-h-k1', '10 minutes', '{"match": "M-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with another description is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '11 minutes', '{"match": "M-1"}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with another expiry is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '10 minutes', '{}', 'api:tap') $$,
    'WIDEM', NULL, 'an authorization''s key with other metadata is WIDEM');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-f1', '10 minutes', '{}', 'api:tap') $$,
    'WIDEM', NULL, 'a top-up''s key used for an authorization is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 11, 'tap-h-k6', '{"result": "win"}', 'api:tap') $$, :h1),
    'WIDEM', NULL, 'a capture''s key with another amount is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-k6', '{"result": "win"}', 'api:tap') $$, :h1),
    'WIDEM', NULL, 'a partial capture''s key with no amount (all) is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 10, 'tap-h-k6', '{}', 'api:tap') $$, :h1),
    'WIDEM', NULL, 'a capture''s key with other metadata is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 10, 'tap-h-k6', '{"result": "win"}', 'api:tap') $$, :h2),
    'WIDEM', NULL, 'a capture''s key for another hold is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-k6', '{"result": "win"}', 'api:tap') $$, :h1),
    'WIDEM', NULL, 'a capture''s key used for a void is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-k8', '{"why": "cancelled"}', 'api:tap') $$, :h_all),
    'WIDEM', NULL, 'a void''s key used for a capture is WIDEM');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-k8', '{}', 'api:tap') $$, :h_all),
    'WIDEM', NULL, 'a void''s key with other metadata is WIDEM');
SELECT * FROM tap.nothing_moved('WIDEM');
SELECT hold_id AS h_other FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a match', 'tap-h-k1', '10 minutes',
                                                  '{"match": "M-1"}', 'api:other') \gset
SELECT isnt(:h_other::bigint, :h1::bigint, 'the same key for another client is another hold');

-- ---------------------------------------------------------------------------------------------
-- Errors: each moves nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SELECT max(id) + 1000 AS no_such_hold FROM ledger.holds \gset
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-e1', '{}', 'api:tap') $$, :no_such_hold),
    'WHLNF', NULL, 'capturing an unknown hold is hold_not_found (WHLNF)');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e2', '{}', 'api:tap') $$, :no_such_hold),
    'WHLNF', NULL, 'voiding an unknown hold is WHLNF');
SELECT throws_ok($$ SELECT * FROM api.void_hold(NULL, 'tap-h-e3', '{}', 'api:tap') $$,
    'WHLNF', NULL, 'a NULL hold is WHLNF');
SELECT throws_ok(format($$ SELECT * FROM api.get_hold(%s) $$, :no_such_hold),
    'WHLNF', NULL, 'reading an unknown hold is WHLNF');
SELECT * FROM tap.nothing_moved('WHLNF');
SELECT is(tap.error_detail(format($$ SELECT * FROM api.capture_hold(%s, 1, 'tap-h-e4', '{}', 'api:tap') $$, :h1)),
    format('WHOPN: status: captured, resolved by transaction %s', :c1_tx),
    'capturing a captured hold is hold_not_open (WHOPN), the DETAIL says how and by which transaction');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e5', '{}', 'api:tap') $$, :h1),
    'WHOPN', NULL, 'voiding a captured hold is WHOPN');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-e6', '{}', 'api:tap') $$, :h_all),
    'WHOPN', NULL, 'capturing a voided hold is WHOPN');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e7', '{}', 'api:tap') $$, :h_all),
    'WHOPN', NULL, 'voiding a voided hold is WHOPN');
SELECT * FROM tap.nothing_moved('WHOPN');

SELECT hold_id AS h3 FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 30, 'a bet', 'tap-h-f2', '1 hour', '{}', 'api:tap') \gset
SELECT tap.snapshot();
SELECT is(tap.error_detail(format($$ SELECT * FROM api.capture_hold(%s, 30.01, 'tap-h-e8', '{}', 'api:tap') $$, :h3)),
    'WHCEX: held: 30.00, requested: 30.01',
    'capturing one cent more than the hold is capture_exceeds_hold (WHCEX), the DETAIL says what is held');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 0, 'tap-h-e9', '{}', 'api:tap') $$, :h3),
    'WAMNT', NULL, 'capturing 0 is WAMNT (no amount means all)');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, -1, 'tap-h-e10', '{}', 'api:tap') $$, :h3),
    'WAMNT', NULL, 'capturing a negative amount is WAMNT');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 1.001, 'tap-h-e11', '{}', 'api:tap') $$, :h3),
    'WAMNT', NULL, 'capturing more decimal places than the asset has is WAMNT');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 'NaN', 'tap-h-e12', '{}', 'api:tap') $$, :h3),
    'WAMNT', NULL, 'capturing NaN is WAMNT');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, 1, '', '{}', 'api:tap') $$, :h3),
    'WIKEY', NULL, 'a capture with an empty key is WIKEY');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e13', '[]', 'api:tap') $$, :h3),
    'WMETA', NULL, 'a void with metadata that is not an object is WMETA');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e14', '{}', 'sql:someone') $$, :h3),
    'WCLNS', NULL, 'the service naming another login''s client is WCLNS');
SELECT * FROM tap.nothing_moved('WHCEX, WAMNT, WIKEY, WMETA, WCLNS on an open hold');
SELECT is((SELECT status::text FROM api.get_hold(:h3)), 'open', 'the hold is still open after every refusal');

SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 8.01, 'x', 'tap-h-e15', '1 hour', '{}', 'api:tap') $$),
    'WFUND: balance: 8.00, requested: 8.01',
    'a hold above the balance is insufficient_funds (WFUND): 68 - 30 - 30 (the other client''s) = 8.00');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-nobody', 'asset-gold-coin-001', 1, 'x', 'tap-h-e16', '1 hour', '{}', 'api:tap') $$,
    'WFUND', NULL, 'a hold for a user without a wallet is WFUND (a missing wallet holds zero)');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e17', '0 seconds', '{}', 'api:tap') $$,
    'WHEXI', NULL, 'an expiry of 0 seconds is invalid_hold_expiry (WHEXI)');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e18', '0.999 seconds', '{}', 'api:tap') $$,
    'WHEXI', NULL, 'an expiry under a second is WHEXI');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e19', '30 days 1 second', '{}', 'api:tap') $$,
    'WHEXI', NULL, 'an expiry over 30 days is WHEXI');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e20', '-1 hour', '{}', 'api:tap') $$,
    'WHEXI', NULL, 'a negative expiry is WHEXI');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e21', NULL, '{}', 'api:tap') $$,
    'WHEXI', NULL, 'a NULL expiry is WHEXI (leave it out for the default)');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, ' ', 'tap-h-e22', '1 hour', '{}', 'api:tap') $$,
    'WDESC', NULL, 'a blank description is WDESC');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-unknown-001', 1, 'x', 'tap-h-e23', '1 hour', '{}', 'api:tap') $$,
    'WASST', NULL, 'an unknown asset is WASST');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap h 1', 'asset-gold-coin-001', 1, 'x', 'tap-h-e24', '1 hour', '{}', 'api:tap') $$,
    'WUSER', NULL, 'an invalid user id is WUSER');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 0, 'x', 'tap-h-e25', '1 hour', '{}', 'api:tap') $$,
    'WAMNT', NULL, 'a hold of 0 is WAMNT');
SELECT * FROM tap.nothing_moved('WFUND, WHEXI, WDESC, WASST, WUSER, WAMNT on authorization');

-- a wallet in debt holds nothing: tap-h-debt is taken to -10 by an allow_negative reversal
SELECT transaction_id AS d_top FROM api.topup('tap-h-debt', 'asset-gold-coin-001', 10, 'tap-h-f3', '{}', 'api:tap') \gset
SELECT count(*) FROM api.spend('tap-h-debt', 'asset-gold-coin-001', 10, 'a sword', 'tap-h-f4', '{}', 'api:tap') \gset
SELECT count(*) FROM api.reverse(:d_top, NULL, 'chargeback', 'tap-h-f5', 'allow_negative', '{}', 'api:tap') \gset
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT * FROM api.authorize_hold('tap-h-debt', 'asset-gold-coin-001', 0.01, 'x', 'tap-h-e26', '1 hour', '{}', 'api:tap') $$),
    'WFUND: balance: -10.00, requested: 0.01', 'a wallet in debt (-10.00) cannot hold even 0.01 (WFUND)');
SELECT * FROM tap.nothing_moved('WFUND (a wallet in debt)');

-- a hold's transactions are not reversible: a reversal would move money in or out of the holds
-- account behind its hold's back
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-h-e27', 'strict', '{}', 'api:tap') $$, :h1_tx),
    'WNREV', NULL, 'a hold transaction is not_reversible (WNREV)');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-h-e28', 'strict', '{}', 'api:tap') $$, :c1_tx),
    'WNREV', NULL, 'a capture is WNREV');
SELECT throws_ok(format($$ SELECT * FROM api.reverse(%s, NULL, 'x', 'tap-h-e29', 'strict', '{}', 'api:tap') $$, :v1_tx),
    'WNREV', NULL, 'a release (a void) is WNREV');
SELECT * FROM tap.nothing_moved('WNREV (a hold''s transactions)');

-- ---------------------------------------------------------------------------------------------
-- Expiry: refused from its expiry on, before any sweep; released by the sweep, once
-- ---------------------------------------------------------------------------------------------
SELECT hold_id AS h_exp, transaction_id AS h_exp_tx
FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 5, 'a bid', 'tap-h-k9', '1 second', '{}', 'api:tap') \gset
SELECT hold_id AS h_exp2
FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 2, 'a second bid', 'tap-h-k10', '1 second', '{}', 'api:tap') \gset
SELECT is(tap.wallet('tap-h-1'), '1.00 v12', 'two holds of 5 and 2 leave 1.00 (version 12)');
SELECT pg_sleep(1.1);
SELECT tap.snapshot();
SELECT is((SELECT status::text FROM api.get_hold(:h_exp)), 'open', 'a hold past its expiry reads open until the sweep');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-e30', '{}', 'api:tap') $$, :h_exp),
    'WHEXP', NULL, 'capturing a hold past its expiry, not yet swept, is hold_expired (WHEXP)');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-e31', '{}', 'api:tap') $$, :h_exp),
    'WHEXP', NULL, 'voiding it is WHEXP too: its fate is the expiry');
SELECT * FROM tap.nothing_moved('WHEXP');
SELECT tap.act_as('wallet_job');
SELECT is(api.expire_holds(1), 1, 'the sweep with a limit of 1 releases one hold of the three due');
SELECT results_eq(
    format($$ SELECT status::text FROM api.get_hold(%s) UNION ALL SELECT status::text FROM api.get_hold(%s)
              UNION ALL SELECT status::text FROM api.get_hold(%s) $$, :h_short, :h_exp, :h_exp2),
    ARRAY['expired', 'open', 'open'],
    'it released the one that expired first (the 1-second hold of 1.00 authorized long before); the others wait');
SELECT is(api.expire_holds(), 2, 'the next sweep releases the other two');
SELECT is(api.expire_holds(), 0, 'a sweep with nothing due releases nothing');
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    format($$ SELECT status::text, captured::text, released::text, remaining::text, resolve_transaction_id IS NOT NULL,
                     resolved_at > expires_at
              FROM api.get_hold(%s) $$, :h_exp),
    $$ VALUES ('expired', '0.00', '5.00', '0.00', true, true) $$,
    'the expired hold: status expired, all 5.00 released, after its expiry');
SELECT is(tap.wallet('tap-h-1'), '9.00 v15', 'the user got the three expired holds back: 1 + 1 + 5 + 2 = 9.00, three more versions');
SELECT tap.act_as_superuser();
SELECT results_eq(
    format($$ SELECT t.type::text, t.client_id::text COLLATE "default", t.idempotency_key::text COLLATE "default"
              FROM ledger.transactions AS t JOIN ledger.holds AS h ON h.resolve_transaction_id = t.id
              WHERE h.id = %s $$, :h_exp),
    format($$ VALUES ('release', 'ledger:expiry', 'expire:%s') $$, :h_exp),
    'an expiry is a release of client ledger:expiry with key expire:<hold id>');
SELECT is(tap.legs((SELECT resolve_transaction_id FROM ledger.holds WHERE id = :h_exp)),
    'user 5.00 -> 7.00, holds -5.00', 'an expiry moves the hold from its holds slot back to the user (2.00 + 5.00: the sweep releases by hold id)');
SELECT tap.act_as('wallet_service');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-e32', '{}', 'api:tap') $$, :h_exp),
    'WHOPN', NULL, 'once swept, capturing the expired hold is WHOPN');
SELECT throws_ok($$ SELECT api.expire_holds(0) $$, 'WPAGE', NULL, 'a sweep limit of 0 is WPAGE');
SELECT throws_ok($$ SELECT api.expire_holds(NULL) $$, 'WPAGE', NULL, 'a NULL sweep limit is WPAGE');

-- ---------------------------------------------------------------------------------------------
-- ledger.holds changes only by a hold's one resolution, for every role, the owner included
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(format($$ UPDATE ledger.holds SET amount = 1 WHERE id = %s $$, :h3),
    'WIMUT', NULL, 'the owner cannot change a hold''s amount (WIMUT)');
SELECT throws_ok(format($$ UPDATE ledger.holds SET status = 'open', captured = 0, released = 0,
                          resolve_transaction_id = NULL, resolved_at = NULL WHERE id = %s $$, :h1),
    'WIMUT', NULL, 'the owner cannot reopen a captured hold (WIMUT)');
SELECT throws_ok(format($$ UPDATE ledger.holds SET expires_at = expires_at + interval '1 day' WHERE id = %s $$, :h3),
    'WIMUT', NULL, 'the owner cannot extend a hold''s expiry (WIMUT)');
SELECT throws_ok(format($$ DELETE FROM ledger.holds WHERE id = %s $$, :h3),
    'WIMUT', NULL, 'the owner cannot delete a hold (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.holds CASCADE $$, 'WIMUT', NULL, 'the owner cannot truncate the holds (WIMUT)');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok(format($$ UPDATE ledger.holds SET status = 'voided' WHERE id = %s $$, :h3),
    '42501', NULL, 'the auditor cannot write ledger.holds at all');
SELECT is((SELECT count(*) FROM ledger.holds WHERE id = :h3), 1::bigint, 'the auditor reads ledger.holds');

-- ---------------------------------------------------------------------------------------------
-- Privileges: the service and the job may, the auditor may only read
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'job', 'tap-h-p1') $$,
    'wallet_job can call api.authorize_hold (expiry, metadata and client by default)');
SELECT lives_ok(format($$ SELECT * FROM api.capture_hold(%s, 1, 'tap-h-p2') $$, :h3),
    'wallet_job can call api.capture_hold');
SELECT lives_ok(format($$ SELECT * FROM api.void_hold((SELECT hold_id FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'job', 'tap-h-p3')), 'tap-h-p4') $$),
    'wallet_job can call api.void_hold');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok($$ SELECT * FROM api.authorize_hold('tap-h-1', 'asset-gold-coin-001', 1, 'auditor', 'tap-h-p5') $$,
    '42501', NULL, 'wallet_auditor cannot call api.authorize_hold');
SELECT throws_ok(format($$ SELECT * FROM api.capture_hold(%s, NULL, 'tap-h-p6') $$, :h3),
    '42501', NULL, 'wallet_auditor cannot call api.capture_hold');
SELECT throws_ok(format($$ SELECT * FROM api.void_hold(%s, 'tap-h-p7') $$, :h3),
    '42501', NULL, 'wallet_auditor cannot call api.void_hold');
SELECT throws_ok($$ SELECT api.expire_holds() $$, '42501', NULL, 'wallet_auditor cannot call api.expire_holds');
SELECT results_eq(
    $$ SELECT check_name, ok FROM api.reconcile() WHERE check_name = 'each holds account equals its open holds' $$,
    $$ VALUES ('each holds account equals its open holds', true) $$,
    'api.reconcile(): each holds account equals its open holds after every capture, void and expiry of this file');
SELECT is_empty($$ SELECT * FROM api.unbalanced_transactions $$,
    'api.unbalanced_transactions is empty: every hold, capture and release has its shape');
SELECT tap.act_as_superuser();
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every hold transaction of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
