-- Balances in time and statements (db/functions/32_balances_in_time.sql): a moment splits a
-- wallet's history at its entries' posted_at (an entry posted exactly at the moment counts), or,
-- for entries from before migration 0008 (posted_at NULL), at their transaction's created_at as
-- a prefix of the history; a statement's opening + credits - debits = closing; its entries come
-- a page at a time, newest first; moments in the future and periods that end before they start
-- are refused.
BEGIN;
\ir lib/helpers.psql
SELECT plan(33);

-- ---------------------------------------------------------------------------------------------
-- A wallet of three postings: the moments around each posted_at
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
CREATE TEMP TABLE tap_moments (name text PRIMARY KEY, at timestamptz) ON COMMIT DROP;
GRANT ALL ON tap_moments TO PUBLIC;
INSERT INTO tap_moments VALUES ('before', clock_timestamp());
SELECT lives_ok($$ SELECT api.topup('tap-bit-1', 'asset-gold-coin-001', 10, 'tap-bit-1') $$, 'a top-up of 10');
INSERT INTO tap_moments VALUES ('after the top-up', clock_timestamp());
SELECT lives_ok($$ SELECT api.spend('tap-bit-1', 'asset-gold-coin-001', 3, 'a hat', 'tap-bit-2') $$, 'then a spend of 3');
SELECT lives_ok($$ SELECT api.grant_bonus('tap-bit-1', 'asset-gold-coin-001', 0.5, 'streak', 'tap-bit-3') $$, 'then a bonus of 0.50');
INSERT INTO tap_moments VALUES ('after', clock_timestamp());
SELECT tap.act_as_superuser();
SELECT w.id AS w1, max(e.posted_at) FILTER (WHERE e.wallet_version = 1) AS p1,
       max(e.posted_at) FILTER (WHERE e.wallet_version = 2) AS p2,
       max(e.posted_at) FILTER (WHERE e.wallet_version = 3) AS p3
FROM ledger.wallets AS w JOIN ledger.entries AS e ON e.wallet_id = w.id
WHERE w.owner_id = 'tap-bit-1' AND w.asset_id = 'asset-gold-coin-001'
GROUP BY w.id \gset
SELECT tap.act_as('wallet_service');

SELECT results_eq(
    $$ SELECT m.name, b.balance::text, b.version
       FROM tap_moments AS m, api.balances_at('tap-bit-1', m.at, 'asset-gold-coin-001') AS b
       ORDER BY m.at $$,
    $$ VALUES ('before', '0.00', 0::bigint), ('after the top-up', '10.00', 1), ('after', '7.50', 3) $$,
    'api.balances_at: the balance as it was at each moment (0.00 before the first entry)');
SELECT results_eq(
    format($$ SELECT b.balance::text, b.version, b.updated_at
              FROM unnest(ARRAY[%1$L::timestamptz - interval '1 microsecond', %1$L, %2$L::timestamptz - interval '1 microsecond',
                                %2$L, %3$L, clock_timestamp()]) WITH ORDINALITY AS m (at, n),
                   api.balances_at('tap-bit-1', m.at, 'asset-gold-coin-001') AS b
              ORDER BY m.n $$, :'p1', :'p2', :'p3'),
    format($$ VALUES ('0.00', 0::bigint, NULL::timestamptz), ('10.00', 1, %1$L), ('10.00', 1, %1$L), ('7.00', 2, %2$L),
                     ('7.50', 3, %3$L), ('7.50', 3, %3$L) $$, :'p1', :'p2', :'p3'),
    'a moment equal to an entry''s posted_at includes it, a microsecond before does not; before the first entry 0.00 at version 0, after the last the balance now; updatedAt is when that version was posted');
SELECT results_eq(
    $$ SELECT b.asset_id, b.asset_code, b.wallet_id IS NULL, b.balance::text, b.version
       FROM api.balances_at('tap-bit-1', clock_timestamp()) AS b $$,
    $$ VALUES ('asset-diamond-001', 'DIAMOND', true, '0.00', 0::bigint),
              ('asset-gold-coin-001', 'GOLD_COIN', false, '7.50', 3::bigint),
              ('asset-loyalty-001', 'LOYALTY_POINT', true, '0.00', 0::bigint) $$,
    'without an asset: every asset, as api.balances lists them, 0.00 where there is no wallet');
SELECT throws_ok($$ SELECT * FROM api.balances_at('tap-bit-1', clock_timestamp(), 'asset-nope') $$,
    'WASST', NULL, 'an unknown asset is WASST');
SELECT throws_ok($$ SELECT * FROM api.balances_at('bad user', clock_timestamp()) $$,
    'WUSER', NULL, 'an invalid user id is WUSER');

-- ---------------------------------------------------------------------------------------------
-- Statements
-- ---------------------------------------------------------------------------------------------
SELECT results_eq(
    format($$ SELECT s.opening::text, s.credits::text, s.debits::text, s.closing::text,
                     s.opening + s.credits - s.debits = s.closing, s.opening_version, s.closing_version
              FROM api.statement(%s, (SELECT at FROM tap_moments WHERE name = 'after the top-up'),
                                 (SELECT at FROM tap_moments WHERE name = 'after')) AS s $$, :w1),
    $$ VALUES ('10.00', '0.50', '3.00', '7.50', true, 1::bigint, 3::bigint) $$,
    'api.statement: opening + credits - debits = closing over the period, with the versions at both ends');
SELECT is(
    (SELECT s.by_type FROM api.statement(:w1, (SELECT at FROM tap_moments WHERE name = 'before'),
                                         (SELECT at FROM tap_moments WHERE name = 'after')) AS s),
    '{"bonus": {"count": 1, "debits": "0.00", "credits": "0.50"}, "spend": {"count": 1, "debits": "3.00", "credits": "0.00"}, "topup": {"count": 1, "debits": "0.00", "credits": "10.00"}}'::jsonb,
    'and per transaction type');
SELECT results_eq(
    format($$ SELECT s.wallet_id, s.owner_type, s.user_id, s.asset_id,
                     (SELECT array_agg(e.wallet_version ORDER BY e.ordinality) FROM unnest(s.entries) WITH ORDINALITY AS e),
                     s.next_cursor
              FROM api.statement(%1$s, %2$L, %3$L) AS s $$, :w1, :'p1', :'p3'),
    format($$ VALUES (%s::bigint, 'user', 'tap-bit-1', 'asset-gold-coin-001', ARRAY[3, 2]::bigint[], NULL::bigint) $$, :w1),
    'the period is after p_from up to p_to: from the first posting''s moment to the last''s, the entries of versions 3 and 2, newest first');
SELECT results_eq(
    format($$ SELECT s.opening::text, s.credits::text, s.debits::text, s.closing::text, s.by_type, cardinality(s.entries), s.next_cursor
              FROM api.statement(%1$s, %2$L, %2$L) AS s $$, :w1, :'p2'),
    $$ VALUES ('7.00', '0.00', '0.00', '7.00', '{}'::jsonb, 0, NULL::bigint) $$,
    'an empty period (from = to): opening = closing, nothing in it');
SELECT throws_ok($$ SELECT * FROM api.balances_at('tap-bit-1', clock_timestamp() + interval '1 hour') $$,
    '22023', NULL, 'a moment in the future is refused');
SELECT throws_ok($$ SELECT * FROM api.balances_at('tap-bit-1', 'infinity') $$,
    '22023', NULL, 'and so is infinity');
SELECT throws_ok($$ SELECT * FROM api.statement(1, clock_timestamp() - interval '1 hour', clock_timestamp() - interval '2 hours') $$,
    '22023', NULL, 'a period that ends before it starts is refused');
SELECT throws_ok($$ SELECT * FROM api.statement(1, clock_timestamp() - interval '1 hour', clock_timestamp() + interval '1 hour') $$,
    '22023', NULL, 'a period that ends in the future is refused');
SELECT throws_ok($$ SELECT * FROM api.statement(1, NULL, clock_timestamp()) $$,
    '22023', NULL, 'a period without a start is refused');
SELECT throws_ok($$ SELECT * FROM api.statement(-1, clock_timestamp() - interval '1 hour', clock_timestamp()) $$,
    'WWALT', NULL, 'no such wallet is WWALT');
SELECT throws_ok(format($$ SELECT * FROM api.statement(%s, clock_timestamp() - interval '1 hour', clock_timestamp(), 0) $$, :w1),
    'WPAGE', NULL, 'a page of 0 entries is WPAGE');
SELECT throws_ok(format($$ SELECT * FROM api.statement(%s, clock_timestamp() - interval '1 hour', clock_timestamp(), 10, 0) $$, :w1),
    'WPAGE', NULL, 'a cursor of 0 is WPAGE');

-- ---------------------------------------------------------------------------------------------
-- A period paged by cursor: every entry once, the sums on the first page only
-- ---------------------------------------------------------------------------------------------
DO $$
BEGIN
    FOR i IN 1 .. 7 LOOP
        PERFORM api.topup('tap-bit-2', 'asset-gold-coin-001', i, 'tap-bit-2-' || i);
    END LOOP;
END
$$;
SELECT tap.act_as_superuser();
SELECT w.id AS w2, max(e.posted_at) FILTER (WHERE e.wallet_version = 1) AS q1,
       max(e.posted_at) FILTER (WHERE e.wallet_version = 6) AS q6
FROM ledger.wallets AS w JOIN ledger.entries AS e ON e.wallet_id = w.id
WHERE w.owner_id = 'tap-bit-2' AND w.asset_id = 'asset-gold-coin-001'
GROUP BY w.id \gset
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    format($$ WITH RECURSIVE pages (n, amounts, next_cursor, opening, closing, credits, debits, by_type) AS (
                  SELECT 1, (SELECT array_agg(e.amount::text ORDER BY e.ordinality) FROM unnest(s.entries) WITH ORDINALITY AS e),
                         s.next_cursor, s.opening, s.closing, s.credits, s.debits, s.by_type
                  FROM api.statement(%1$s, %2$L, %3$L, 2) AS s
                  UNION ALL
                  SELECT p.n + 1, (SELECT array_agg(e.amount::text ORDER BY e.ordinality) FROM unnest(s.entries) WITH ORDINALITY AS e),
                         s.next_cursor, s.opening, s.closing, s.credits, s.debits, s.by_type
                  FROM pages AS p, api.statement(%1$s, %2$L, %3$L, 2, p.next_cursor) AS s
                  WHERE p.next_cursor IS NOT NULL)
              SELECT n, amounts, next_cursor, opening::text, closing::text, credits::text, debits::text, by_type IS NULL
              FROM pages ORDER BY n $$, :w2, :'q1', :'q6'),
    $$ VALUES (1, ARRAY['6.00', '5.00'], 5::bigint, '1.00', '21.00', '20.00', '0.00', false),
              (2, ARRAY['4.00', '3.00'], 3::bigint, '1.00', '21.00', NULL, NULL, true),
              (3, ARRAY['2.00'], NULL::bigint, '1.00', '21.00', NULL, NULL, true) $$,
    'paged by cursor, a period''s entries come newest first, each once (versions 6 to 2), the sums on the first page only');
SELECT is(
    (SELECT cardinality(s.entries) FROM api.statement(:w2, :'q1', :'q6', 10, 100) AS s), 5,
    'a cursor above the period starts at its newest entry');
SELECT is(
    (SELECT cardinality(s.entries) FROM api.statement(:w2, :'q1', :'q6', 10, 2) AS s), 0,
    'a cursor at the period''s oldest entry gives an empty page');

-- ---------------------------------------------------------------------------------------------
-- A wallet with history from before migration 0008 (posted_at NULL), written as it was then:
-- each transaction's created_at is when it began, so one that waited for the wallet's lock (the
-- third, begun at +3 s) comes after one begun later (the second, at +5 s)
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
CREATE TEMP TABLE tap_legacy ON COMMIT DROP AS
SELECT now() - interval '1 day' AS base,
       (SELECT s.id FROM ledger.wallets AS s
        WHERE s.asset_id = 'asset-gold-coin-001' AND s.kind = 'treasury' AND s.slot = 0) AS slot;
GRANT SELECT ON tap_legacy TO PUBLIC;
DO $$
DECLARE
    v_base   timestamptz := (SELECT base FROM tap_legacy);
    v_slot   bigint := (SELECT slot FROM tap_legacy);
    v_wallet bigint;
    v_tx     bigint;
    v_sv     bigint;
    v_sb     numeric;
    v_bal    numeric := 0;
    v_leg    record;
BEGIN
    INSERT INTO ledger.wallets (asset_id, kind, owner_id) VALUES ('asset-gold-coin-001', 'user', 'tap-bit-old')
    RETURNING id INTO v_wallet;
    FOR v_leg IN SELECT * FROM (VALUES (1, 1, 0), (2, 2, 5), (3, 4, 3), (4, 8, 6)) AS l (version, amount, secs) ORDER BY 1 LOOP
        INSERT INTO ledger.transactions (type, client_id, idempotency_key, created_at)
        VALUES ('topup', 'sql:tap-legacy', 'tap-bit-old-' || v_leg.version, v_base + make_interval(secs => v_leg.secs))
        RETURNING id INTO v_tx;
        UPDATE ledger.wallets AS s SET balance = s.balance - v_leg.amount, version = s.version + 1
        WHERE s.id = v_slot RETURNING s.version, s.balance INTO v_sv, v_sb;
        v_bal := v_bal + v_leg.amount;
        INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version)
        VALUES (v_tx, v_wallet, v_leg.amount, v_bal, v_leg.version), (v_tx, v_slot, -v_leg.amount, v_sb, v_sv);
        UPDATE ledger.wallets AS w SET balance = v_bal, version = v_leg.version WHERE w.id = v_wallet;
    END LOOP;
END
$$;
SELECT id AS w3 FROM ledger.wallets WHERE owner_id = 'tap-bit-old' \gset
SELECT tap.act_as('wallet_service');
SELECT lives_ok($$ SELECT api.topup('tap-bit-old', 'asset-gold-coin-001', 16, 'tap-bit-old-5') $$,
    'after the upgrade, a top-up of 16 (posted_at set)');
SELECT tap.act_as_superuser();
SELECT posted_at AS r5 FROM ledger.entries WHERE wallet_id = :w3 AND wallet_version = 5 \gset
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    format($$ SELECT b.balance::text, b.version
              FROM unnest(ARRAY[-1, 0, 3, 4, 5, 6, 3600]) WITH ORDINALITY AS m (secs, n),
                   api.balances_at('tap-bit-old', (SELECT base FROM tap_legacy) + make_interval(secs => m.secs), 'asset-gold-coin-001') AS b
              ORDER BY m.n $$),
    $$ VALUES ('0.00', 0::bigint), ('1.00', 1), ('1.00', 1), ('1.00', 1), ('7.00', 3), ('15.00', 4), ('15.00', 4) $$,
    'before 0008, the moments split the history as a prefix: the third entry (begun at +3 s) counts from the second''s +5 s, not before it');
SELECT results_eq(
    format($$ SELECT b.balance::text, b.version, b.updated_at
              FROM unnest(ARRAY[%1$L::timestamptz - interval '1 microsecond', %1$L]) WITH ORDINALITY AS m (at, n),
                   api.balances_at('tap-bit-old', m.at, 'asset-gold-coin-001') AS b
              ORDER BY m.n $$, :'r5'),
    format($$ VALUES ('15.00', 4::bigint, (SELECT base FROM tap_legacy) + interval '6 seconds'), ('31.00', 5, %L) $$, :'r5'),
    'the first entry posted after 0008 counts from its posted_at; the last from before it from its transaction''s created_at');
SELECT results_eq(
    format($$ SELECT s.opening::text, s.credits::text, s.debits::text, s.closing::text,
                     s.opening + s.credits - s.debits = s.closing, s.by_type -> 'topup' ->> 'count', cardinality(s.entries)
              FROM api.statement(%s, (SELECT base FROM tap_legacy) + interval '4 seconds', clock_timestamp()) AS s $$, :w3),
    $$ VALUES ('1.00', '30.00', '0.00', '31.00', true, '4', 4) $$,
    'a statement across the upgrade adds up: opening 1.00 + credits 30.00 = closing 31.00, four entries');
SELECT results_eq(
    format($$ SELECT s.closing::text, s.closing_version
              FROM api.statement(%s, (SELECT base FROM tap_legacy) - interval '1 hour', (SELECT base FROM tap_legacy) + interval '4 seconds') AS s $$, :w3),
    $$ VALUES ('1.00', 1::bigint) $$,
    'and a statement that ends inside the history from before 0008 closes where the balance at that moment stands');

-- ---------------------------------------------------------------------------------------------
-- Who may call them
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_auditor');
SELECT lives_ok($$ SELECT * FROM api.balances_at('tap-bit-1', clock_timestamp()) $$, 'the auditor may read balances in time');
SELECT lives_ok(format($$ SELECT * FROM api.statement(%s, clock_timestamp() - interval '1 hour', clock_timestamp()) $$, :w1),
    'and statements');
SELECT tap.act_as('wallet_job');
SELECT lives_ok(format($$ SELECT * FROM api.statement(%s, clock_timestamp() - interval '1 hour', clock_timestamp()) $$, :w1),
    'so may a job');
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ SELECT ledger._version_at(1, 1, clock_timestamp()) $$, '42501', NULL,
    'but no caller may run the search itself (ledger._version_at)');

SELECT tap.act_as_superuser();
-- the deferred double-entry checks run now, on everything this file wrote (an unbalanced one raises)
SELECT lives_ok($$ SET CONSTRAINTS ALL IMMEDIATE $$,
    'every transaction written here is one balanced double entry');

SELECT * FROM finish();
ROLLBACK;
