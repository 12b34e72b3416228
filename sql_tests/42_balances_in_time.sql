-- Balances in time and statements (issue 18, work in progress; db/functions/28_balances_in_time.sql):
-- a moment splits a wallet's history at its entries' posted_at; a statement's opening + credits -
-- debits = closing; moments in the future and periods that end before they start are refused.
BEGIN;
\ir lib/helpers.psql
SELECT plan(10);

SELECT tap.act_as('wallet_service');
CREATE TEMP TABLE tap_moments (name text PRIMARY KEY, at timestamptz) ON COMMIT DROP;
GRANT ALL ON tap_moments TO PUBLIC;
INSERT INTO tap_moments VALUES ('before', clock_timestamp());
SELECT lives_ok($$ SELECT api.topup('tap-bit-1', 'asset-gold-coin-001', 10, 'tap-bit-1') $$, 'a top-up of 10');
INSERT INTO tap_moments VALUES ('after the top-up', clock_timestamp());
SELECT lives_ok($$ SELECT api.spend('tap-bit-1', 'asset-gold-coin-001', 3, 'a hat', 'tap-bit-2') $$, 'then a spend of 3');
SELECT lives_ok($$ SELECT api.grant_bonus('tap-bit-1', 'asset-gold-coin-001', 0.5, 'streak', 'tap-bit-3') $$, 'then a bonus of 0.50');
INSERT INTO tap_moments VALUES ('after', clock_timestamp());

SELECT results_eq(
    $$ SELECT m.name, b.balance::text, b.version
       FROM tap_moments AS m, api.balances_at('tap-bit-1', m.at, 'asset-gold-coin-001') AS b
       ORDER BY m.at $$,
    $$ VALUES ('before', '0.00', 0::bigint), ('after the top-up', '10.00', 1), ('after', '7.50', 3) $$,
    'api.balances_at: the balance as it was at each moment (0.00 before the first entry)');
SELECT results_eq(
    $$ SELECT s.opening::text, s.credits::text, s.debits::text, s.closing::text,
              s.opening + s.credits - s.debits = s.closing
       FROM api.balances('tap-bit-1', 'asset-gold-coin-001') AS w,
            api.statement(w.wallet_id, (SELECT at FROM tap_moments WHERE name = 'after the top-up'),
                          (SELECT at FROM tap_moments WHERE name = 'after')) AS s $$,
    $$ VALUES ('10.00', '0.50', '3.00', '7.50', true) $$,
    'api.statement: opening + credits - debits = closing over the period');
SELECT is(
    (SELECT s.by_type FROM api.balances('tap-bit-1', 'asset-gold-coin-001') AS w,
            api.statement(w.wallet_id, (SELECT at FROM tap_moments WHERE name = 'before'),
                          (SELECT at FROM tap_moments WHERE name = 'after')) AS s),
    '{"bonus": {"count": 1, "debits": "0.00", "credits": "0.50"}, "spend": {"count": 1, "debits": "3.00", "credits": "0.00"}, "topup": {"count": 1, "debits": "0.00", "credits": "10.00"}}'::jsonb,
    'and per transaction type');
SELECT throws_ok($$ SELECT * FROM api.balances_at('tap-bit-1', clock_timestamp() + interval '1 hour') $$,
    '22023', NULL, 'a moment in the future is refused');
SELECT throws_ok($$ SELECT * FROM api.statement(1, clock_timestamp() - interval '1 hour', clock_timestamp() - interval '2 hours') $$,
    '22023', NULL, 'a period that ends before it starts is refused');
SELECT throws_ok($$ SELECT * FROM api.statement(-1, clock_timestamp() - interval '1 hour', clock_timestamp()) $$,
    'WWALT', NULL, 'no such wallet is WWALT');
SELECT tap.act_as('wallet_auditor');
SELECT lives_ok($$ SELECT * FROM api.balances_at('tap-bit-1', clock_timestamp()) $$, 'the auditor may read balances in time');

SELECT * FROM finish();
ROLLBACK;
