-- Limits (issue 16, migration 0013): an asset's maximum balance, daily earn limit and daily spend
-- limit, a user's override, and their enforcement by ledger._post (top-ups, bonuses, spends) and
-- api.transfer (sent: spend, received: earn); opening balances and reversals exempt; the day
-- boundary (usage of an earlier day counts as zero: the stored day is set back by the owner); the
-- day's time zone; every error with its DETAIL and nothing moved; who may set limits. Limits are
-- set as wallet_job (a trusted job), money moved as wallet_service. Concurrency:
-- tests/ledger/test_concurrency.py (-k limit).
BEGIN;
\ir lib/helpers.psql
SELECT plan(156);

-- A wallet's usage counters, read by the superuser's rights for any role
CREATE FUNCTION tap.usage(p_user text, p_asset text DEFAULT 'asset-diamond-001')
RETURNS text
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (SELECT format('earned %s, spent %s', coalesce(round(w.earned_today, 2)::text, 'NULL'),
                      coalesce(round(w.spent_today, 2)::text, 'NULL'))
        FROM ledger.wallets AS w WHERE w.owner_id = p_user AND w.asset_id = p_asset);
GRANT EXECUTE ON FUNCTION tap.usage(text, text) TO PUBLIC;

-- the next midnight of UTC, as the DETAIL's resets_at writes it
SELECT to_char((now() AT TIME ZONE 'UTC')::date + 1, 'YYYY-MM-DD') || 'T00:00:00Z' AS resets \gset

-- ---------------------------------------------------------------------------------------------
-- The seeded assets start without limits; a job sets them
-- ---------------------------------------------------------------------------------------------
SELECT is_empty(
    $$ SELECT a.id FROM ledger.assets AS a
       WHERE a.has_limits OR a.max_balance IS NOT NULL OR a.daily_earn_limit IS NOT NULL
          OR a.daily_spend_limit IS NOT NULL OR a.day_time_zone <> 'UTC' $$,
    'the seeded assets start without limits (has_limits false, no limit, day in UTC)');
SELECT is_empty($$ SELECT 1 FROM ledger.user_limits $$, 'and no user has an override');

SELECT tap.act_as('wallet_job');
SELECT results_eq(
    $$ SELECT has_limits, max_balance::text, daily_earn_limit::text, daily_spend_limit::text, day_time_zone
       FROM api.set_asset_limits('asset-diamond-001', 1000, 500, 300) $$,
    $$ VALUES (true, '1000', '500', '300', 'UTC') $$,
    'wallet_job sets an asset''s limits: api.set_asset_limits returns the asset, has_limits true');

-- ---------------------------------------------------------------------------------------------
-- Daily earn: top-ups and bonuses, up to the limit exactly
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-a', 'asset-diamond-001', 400, 'tap-lim-a1')), '400.00',
    'a top-up under the daily earn limit passes (a first credit: the wallet is created)');
SELECT is(tap.usage('tap-lim-a'), 'earned 400.00, spent 0.00', 'it is counted as earned today');
SELECT is((SELECT balance::text FROM api.grant_bonus('tap-lim-a', 'asset-diamond-001', 100, 'streak', 'tap-lim-a2')),
    '500.00', 'a bonus that reaches the daily earn limit exactly passes');
SELECT is(tap.usage('tap-lim-a'), 'earned 500.00, spent 0.00', 'earned today is 500, the limit');

SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-a', 'asset-diamond-001', 0.01, 'tap-lim-a3') $$),
    'WVLIM: limit: 500.00, used: 500.00, requested: 0.01, resets_at: ' || :'resets',
    'a top-up past the daily earn limit is WVLIM, its DETAIL the limit, what is used, the request and the next midnight (UTC)');
SELECT throws_ok($$ SELECT api.topup('tap-lim-a', 'asset-diamond-001', 0.01, 'tap-lim-a3') $$, 'WVLIM', NULL,
    'a top-up past the daily earn limit is rejected with WVLIM');
SELECT * FROM tap.nothing_moved('a top-up past the daily earn limit');
SELECT throws_ok($$ SELECT api.grant_bonus('tap-lim-a', 'asset-diamond-001', 1, 'late', 'tap-lim-a4') $$,
    'WVLIM', NULL, 'a bonus past the daily earn limit is rejected with WVLIM');
SELECT * FROM tap.nothing_moved('a bonus past the daily earn limit');
SELECT results_eq($$ SELECT balance::text FROM api.balances('tap-lim-a', 'asset-diamond-001') $$,
    $$ VALUES ('500.00') $$, 'the refused credits left the balance at 500.00');

-- ---------------------------------------------------------------------------------------------
-- Opening balances are exempt (imports): above the maximum balance and the earn limit, not counted
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SET LOCAL ROLE wallet_owner;
SELECT is((SELECT balance::text FROM api.open_balance('tap-lim-b', 'asset-diamond-001', 2000, 'tap-lim-b0')),
    '2000.00', 'an opening balance above the maximum balance and the daily earn limit passes: exempt');
RESET ROLE;
SELECT is(tap.usage('tap-lim-b'), 'earned NULL, spent NULL', 'and is not counted');

-- ---------------------------------------------------------------------------------------------
-- Transfers: received is earned, sent is spent
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.transfer('tap-lim-b', 'tap-lim-a', 'asset-diamond-001', 1, 'gift', 'tap-lim-t1') $$),
    'WVLIM: limit: 500.00, used: 500.00, requested: 1.00, resets_at: ' || :'resets',
    'a transfer to a user at the daily earn limit is WVLIM (a transfer received is earned)');
SELECT * FROM tap.nothing_moved('a transfer past the recipient''s daily earn limit');

SELECT is((SELECT to_balance::text FROM api.transfer('tap-lim-b', 'tap-lim-d', 'asset-diamond-001', 250, 'gift', 'tap-lim-t2')),
    '250.00', 'a transfer under both limits passes');
SELECT is(tap.usage('tap-lim-b') || ' / ' || tap.usage('tap-lim-d'), 'earned 0.00, spent 250.00 / earned 250.00, spent 0.00',
    'the sender has spent it today, the recipient earned it');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.transfer('tap-lim-b', 'tap-lim-d', 'asset-diamond-001', 100, 'gift', 'tap-lim-t3') $$),
    'WVLIM: limit: 300.00, used: 250.00, requested: 100.00, resets_at: ' || :'resets',
    'a transfer past the sender''s daily spend limit is WVLIM (a transfer sent is spent)');
SELECT * FROM tap.nothing_moved('a transfer past the sender''s daily spend limit');

-- ---------------------------------------------------------------------------------------------
-- Maximum balance, and the day boundary
-- ---------------------------------------------------------------------------------------------
SELECT is((SELECT balance::text FROM api.topup('tap-lim-c', 'asset-diamond-001', 450, 'tap-lim-c1')), '450.00',
    'user C tops up 450 today');
-- yesterday's usage: the owner sets the stored day back
SELECT tap.act_as_superuser();
UPDATE ledger.wallets SET usage_day = usage_day - 1 WHERE owner_id = 'tap-lim-c' AND asset_id = 'asset-diamond-001';
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-c', 'asset-diamond-001', 450, 'tap-lim-c2')), '900.00',
    'the day after, 450 more passes: usage of an earlier day does not count (900 in two days > 500)');
SELECT is(tap.usage('tap-lim-c'), 'earned 450.00, spent 0.00', 'earned today started again from zero');
SELECT tap.act_as_superuser();
SELECT is((SELECT (usage_day = (now() AT TIME ZONE 'UTC')::date)
           FROM ledger.wallets WHERE owner_id = 'tap-lim-c' AND asset_id = 'asset-diamond-001'), true,
    'and the stored day is today''s (UTC)');
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-c', 'asset-diamond-001', 100.01, 'tap-lim-c3') $$),
    'WBLIM: limit: 1000.00, used: 900.00, requested: 100.01',
    'a top-up that would take the balance above the maximum is WBLIM, its DETAIL the limit, what is used (the balance) and the request');
SELECT throws_ok($$ SELECT api.grant_bonus('tap-lim-c', 'asset-diamond-001', 100.01, 'vip', 'tap-lim-c4') $$,
    'WBLIM', NULL, 'a bonus above the maximum balance is rejected with WBLIM');
SELECT throws_ok($$ SELECT api.transfer('tap-lim-d', 'tap-lim-c', 'asset-diamond-001', 100.01, 'gift', 'tap-lim-c5') $$,
    'WBLIM', NULL, 'a transfer received above the maximum balance is rejected with WBLIM');
SELECT * FROM tap.nothing_moved('credits above the maximum balance');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-c', 'asset-diamond-001', 50, 'tap-lim-c6')), '950.00',
    'a credit to just under the maximum passes');

-- ---------------------------------------------------------------------------------------------
-- Daily spend
-- ---------------------------------------------------------------------------------------------
SELECT transaction_id AS sp1 FROM api.spend('tap-lim-a', 'asset-diamond-001', 200, 'sword', 'tap-lim-s1') \gset
SELECT is((SELECT balance::text FROM api.spend('tap-lim-a', 'asset-diamond-001', 100, 'shield', 'tap-lim-s2')),
    '200.00', 'spends up to the daily spend limit exactly pass');
SELECT is(tap.usage('tap-lim-a'), 'earned 500.00, spent 300.00', 'spent today is 300, the limit');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.spend('tap-lim-a', 'asset-diamond-001', 0.01, 'potion', 'tap-lim-s3') $$),
    'WVLIM: limit: 300.00, used: 300.00, requested: 0.01, resets_at: ' || :'resets',
    'a spend past the daily spend limit is WVLIM');
SELECT * FROM tap.nothing_moved('a spend past the daily spend limit');
SELECT is(tap.error_detail($$ SELECT api.spend('tap-lim-a', 'asset-diamond-001', 1000, 'castle', 'tap-lim-s4') $$),
    'WFUND: balance: 200.00, requested: 1000.00',
    'a spend the balance does not cover is WFUND, whatever the limits');

-- ---------------------------------------------------------------------------------------------
-- Reversals are exempt: never refused by a cap, and not counted
-- ---------------------------------------------------------------------------------------------
SELECT is((SELECT balance::text FROM api.reverse(:sp1, NULL, 'sword never delivered', 'tap-lim-r1', 'strict', '{}', 'api:tap')),
    '400.00', 'reversing a spend credits a user at the daily earn limit: a refund is never blocked by a cap');
SELECT tap.act_as_superuser();
SELECT id AS ta1 FROM ledger.transactions WHERE client_id = 'sql:wallet_service' AND idempotency_key = 'tap-lim-a1' \gset
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.reverse(:ta1, 50, 'chargeback', 'tap-lim-r2', 'strict', '{}', 'api:tap')),
    '350.00', 'reversing a top-up debits a user at the daily spend limit');
SELECT is(tap.usage('tap-lim-a'), 'earned 500.00, spent 300.00', 'and neither reversal is counted');
SELECT tap.act_as_superuser();
SELECT tx.id AS tt2 FROM ledger.transactions AS tx WHERE tx.idempotency_key = 'tap-lim-t2' \gset
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    format($$ SELECT balance::text, counterparty_balance::text
              FROM api.reverse(%s, NULL, 'mistake', 'tap-lim-r3', 'strict', '{}', 'api:tap') $$, :tt2),
    $$ VALUES ('0.00', '2000.00') $$,
    'reversing a transfer is exempt too: it credits B back above the maximum balance');

-- ---------------------------------------------------------------------------------------------
-- Overrides beat the asset's limits, both ways
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT results_eq(
    $$ SELECT user_id::text COLLATE "default", asset_id COLLATE "default", max_balance::text,
              daily_earn_limit::text, daily_spend_limit::text
       FROM api.set_user_limits('tap-lim-a', 'asset-diamond-001', NULL, 600, NULL) $$,
    $$ VALUES ('tap-lim-a', 'asset-diamond-001', NULL, '600', NULL) $$,
    'api.set_user_limits returns the override');
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-a', 'asset-diamond-001', 100, 'tap-lim-o1')), '450.00',
    'an override with a higher daily earn limit lets the user earn past the asset''s');
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-a', 'asset-diamond-001', 0.01, 'tap-lim-o2') $$),
    'WVLIM: limit: 600.00, used: 600.00, requested: 0.01, resets_at: ' || :'resets',
    'and its own limit applies (WVLIM at 600.00)');
SELECT is((SELECT balance::text FROM api.spend('tap-lim-a', 'asset-diamond-001', 50, 'hat', 'tap-lim-o3')), '400.00',
    'a NULL in the override is no limit: the user may spend past the asset''s daily spend limit');
SELECT results_eq(
    $$ SELECT source, max_balance::text, daily_earn_limit::text, daily_spend_limit::text, day_time_zone,
              earned_today::text, spent_today::text, resets_at
       FROM api.limits('tap-lim-a', 'asset-diamond-001') $$,
    format($$ VALUES ('user', NULL::text, '600.00', NULL::text, 'UTC', '600.00', '350.00', %L::timestamptz) $$,
           :'resets'),
    'api.limits shows the user''s override, today''s usage and when the day resets');
SELECT results_eq(
    $$ SELECT source, max_balance::text, daily_earn_limit::text, daily_spend_limit::text,
              earned_today::text, spent_today::text
       FROM api.limits('tap-lim-d', 'asset-diamond-001') $$,
    $$ VALUES ('asset', '1000.00', '500.00', '300.00', '250.00', '0.00') $$,
    'api.limits shows the asset''s limits for a user without an override (the reversal not counted)');
SELECT tap.act_as_superuser();
UPDATE ledger.wallets SET usage_day = usage_day - 1 WHERE owner_id = 'tap-lim-d' AND asset_id = 'asset-diamond-001';
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT earned_today::text, spent_today::text FROM api.limits('tap-lim-d', 'asset-diamond-001') $$,
    $$ VALUES ('0.00', '0.00') $$, 'api.limits reads an earlier day''s usage as 0, as postings count it');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", source FROM api.limits('tap-lim-d') $$,
    $$ VALUES ('asset-diamond-001', 'asset'), ('asset-gold-coin-001', 'none'), ('asset-loyalty-001', 'none') $$,
    'api.limits without an asset: one row per asset');
SELECT throws_ok($$ SELECT * FROM api.limits('bad user') $$, 'WUSER', NULL,
    'api.limits of an invalid user id is rejected with WUSER');
SELECT throws_ok($$ SELECT * FROM api.limits('tap-lim-d', 'asset-nope') $$, 'WASST', NULL,
    'api.limits of an unknown asset is rejected with WASST');
SELECT tap.act_as('wallet_auditor');
SELECT lives_ok($$ SELECT * FROM api.limits('tap-lim-d') $$, 'wallet_auditor may read api.limits');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", has_limits, max_balance::text, daily_earn_limit::text,
              daily_spend_limit::text, day_time_zone, overrides FROM api.asset_limits() $$,
    $$ VALUES ('asset-diamond-001', true, '1000.00', '500.00', '300.00', 'UTC', 1::bigint),
              ('asset-gold-coin-001', false, NULL, NULL, NULL, 'UTC', 0::bigint),
              ('asset-loyalty-001', false, NULL, NULL, NULL, 'UTC', 0::bigint) $$,
    'api.asset_limits: every asset''s own limits and how many overrides it has (the auditor may read it)');
SELECT results_eq(
    $$ SELECT user_id COLLATE "default", asset_id COLLATE "default", max_balance::text,
              daily_earn_limit::text, daily_spend_limit::text FROM api.limit_overrides('asset-diamond-001') $$,
    $$ VALUES ('tap-lim-a', 'asset-diamond-001', NULL::text, '600.00', NULL::text) $$,
    'api.limit_overrides: the users'' overrides of an asset');
SELECT is((SELECT count(*) FROM api.limit_overrides('asset-gold-coin-001')), 0::bigint,
    'an asset without overrides lists none');
SELECT throws_ok($$ SELECT * FROM api.asset_limits('asset-nope') $$, 'WASST', NULL,
    'api.asset_limits of an unknown asset is rejected with WASST');
SELECT throws_ok($$ SELECT * FROM api.limit_overrides('asset-nope') $$, 'WASST', NULL,
    'api.limit_overrides of an unknown asset is rejected with WASST');
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ SELECT * FROM api.asset_limits() $$, '42501', NULL,
    'wallet_service may NOT list the assets'' limits (configuration is the jobs'')');
SELECT throws_ok($$ SELECT * FROM api.limit_overrides() $$, '42501', NULL,
    'wallet_service may NOT list the overrides');
SELECT tap.act_as('wallet_job');
SELECT is((SELECT count(*) FROM api.asset_limits('asset-diamond-001')), 1::bigint, 'wallet_job may list an asset''s limits');
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT api.set_user_limits('tap-lim-e', 'asset-diamond-001', 100, 50, 10) $$,
    'an override can be stricter than the asset');
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-e', 'asset-diamond-001', 60, 'tap-lim-e1') $$),
    'WVLIM: limit: 50.00, used: 0.00, requested: 60.00, resets_at: ' || :'resets',
    'a stricter override refuses a first credit the asset would allow (WVLIM at 50.00)');
SELECT * FROM tap.nothing_moved('a first credit past an override (no wallet is created)');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-e', 'asset-diamond-001', 50, 'tap-lim-e2')), '50.00',
    'up to the override''s limit passes');
SELECT throws_ok($$ SELECT api.spend('tap-lim-e', 'asset-diamond-001', 10.01, 'x', 'tap-lim-e3') $$, 'WVLIM', NULL,
    'the override''s daily spend limit applies');

SELECT tap.act_as('wallet_job');
SELECT is(api.clear_user_limits('tap-lim-a', 'asset-diamond-001'), true,
    'api.clear_user_limits removes an override (true)');
SELECT is(api.clear_user_limits('tap-lim-a', 'asset-diamond-001'), false, 'and answers false when there is none');
SELECT tap.act_as('wallet_service');
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-a', 'asset-diamond-001', 0.01, 'tap-lim-o5') $$),
    'WVLIM: limit: 500.00, used: 600.00, requested: 0.01, resets_at: ' || :'resets',
    'without its override the user has the asset''s limits again');

-- ---------------------------------------------------------------------------------------------
-- has_limits follows the limits and the overrides; an asset without limits counts nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT is((SELECT has_limits FROM api.set_asset_limits('asset-diamond-001', NULL, NULL, NULL)), true,
    'an asset without limits of its own keeps has_limits while a user has an override');
SELECT is(api.clear_user_limits('tap-lim-e', 'asset-diamond-001'), true, 'the last override goes');
SELECT tap.act_as_superuser();
SELECT is((SELECT has_limits FROM ledger.assets WHERE id = 'asset-diamond-001'), false,
    'and has_limits is false again');
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-c', 'asset-diamond-001', 5000, 'tap-lim-n1')), '5950.00',
    'without limits a credit past the old maximum and earn limit passes');
SELECT is(tap.usage('tap-lim-c'), 'earned 500.00, spent 0.00', 'and is not counted (no limits: nothing written but the balance)');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-g', 'asset-gold-coin-001', 10, 'tap-lim-g1')), '10.00',
    'an asset that never had limits posts as before');
SELECT is(tap.usage('tap-lim-g', 'asset-gold-coin-001'), 'earned NULL, spent NULL',
    'and its wallets hold no usage');

-- ---------------------------------------------------------------------------------------------
-- The day's time zone
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT is((SELECT day_time_zone FROM api.set_asset_limits('asset-loyalty-001', NULL, 5, NULL, 'Pacific/Kiritimati')),
    'Pacific/Kiritimati', 'an asset''s day can be another time zone''s');
SELECT tap.act_as('wallet_service');
SELECT is(tap.error_detail($$ SELECT api.topup('tap-lim-z', 'asset-loyalty-001', 6, 'tap-lim-z1') $$),
    'WVLIM: limit: 5.00, used: 0.00, requested: 6.00, resets_at: '
        || to_char((((now() AT TIME ZONE 'Pacific/Kiritimati')::date + 1)::timestamp AT TIME ZONE 'Pacific/Kiritimati')
                   AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'resets_at is the next midnight of the asset''s zone (UTC+14), written in UTC');
SELECT is((SELECT balance::text FROM api.topup('tap-lim-z', 'asset-loyalty-001', 5, 'tap-lim-z2')), '5.00',
    'up to the limit passes');
SELECT tap.act_as_superuser();
SELECT is((SELECT usage_day FROM ledger.wallets WHERE owner_id = 'tap-lim-z' AND asset_id = 'asset-loyalty-001'),
    (clock_timestamp() AT TIME ZONE 'Pacific/Kiritimati')::date, 'the stored day is the zone''s calendar day');

-- ---------------------------------------------------------------------------------------------
-- Errors of the setters, nothing changed
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-nope', 1, 1, 1) $$, 'WASST', NULL,
    'api.set_asset_limits of an unknown asset is rejected with WASST');
SELECT throws_ok($$ SELECT api.set_asset_limits(NULL, 1, 1, 1) $$, 'WASST', NULL,
    'api.set_asset_limits of a NULL asset is rejected with WASST');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 0, NULL, NULL) $$, 'WLIMT', NULL,
    'a maximum balance of 0 is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', NULL, -1, NULL) $$, 'WLIMT', NULL,
    'a negative daily earn limit is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', NULL, NULL, 'NaN') $$, 'WLIMT', NULL,
    'a NaN daily spend limit is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 'Infinity', NULL, NULL) $$, 'WLIMT', NULL,
    'an infinite limit is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 1.001, NULL, NULL) $$, 'WLIMT', NULL,
    'a limit with more decimal places than the asset is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 1, NULL, NULL, 'Mars/Olympus') $$, 'WLIMT', NULL,
    'an unknown time zone is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 1, NULL, NULL, NULL) $$, 'WLIMT', NULL,
    'a NULL time zone is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.set_user_limits('bad user', 'asset-gold-coin-001', 1, 1, 1) $$, 'WUSER', NULL,
    'api.set_user_limits of an invalid user id is rejected with WUSER');
SELECT throws_ok($$ SELECT api.set_user_limits('tap-lim-x', 'asset-nope', 1, 1, 1) $$, 'WASST', NULL,
    'api.set_user_limits of an unknown asset is rejected with WASST');
SELECT throws_ok($$ SELECT api.set_user_limits('tap-lim-x', 'asset-gold-coin-001', 1, 0, 1) $$, 'WLIMT', NULL,
    'api.set_user_limits of a limit of 0 is rejected with WLIMT');
SELECT throws_ok($$ SELECT api.clear_user_limits('tap-lim-x', 'asset-nope') $$, 'WASST', NULL,
    'api.clear_user_limits of an unknown asset is rejected with WASST');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT has_limits, max_balance, daily_earn_limit, daily_spend_limit, day_time_zone
       FROM ledger.assets WHERE id = 'asset-gold-coin-001' $$,
    $$ VALUES (false, NULL::numeric, NULL::numeric, NULL::numeric, 'UTC') $$,
    'the refused calls changed nothing on the asset');
SELECT is_empty($$ SELECT 1 FROM ledger.user_limits WHERE user_id = 'tap-lim-x' $$,
    'nor wrote an override');

-- ---------------------------------------------------------------------------------------------
-- Holds: an authorization is spending (checked and counted like a spend); what a void, an expiry
-- or a capture's rest releases on the day of the authorization is given back; releases are exempt
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as_superuser();
SET LOCAL ROLE wallet_owner;
SELECT is((SELECT balance::text FROM api.open_balance('tap-lim-h', 'asset-diamond-001', 1000, 'tap-lim-h0')),
    '1000.00', 'user H starts with 1000.00 (an opening balance: not counted)');
RESET ROLE;
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT api.set_user_limits('tap-lim-h', 'asset-diamond-001', 1000, NULL, 300) $$,
    'H may hold at most 1000.00 and spend 300.00 a day');
SELECT tap.act_as('wallet_service');
SELECT hold_id AS h1 FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 200, 'entry fee', 'tap-lim-h1') \gset
SELECT is(tap.usage('tap-lim-h'), 'earned 0.00, spent 200.00', 'an authorization of 200.00 is counted as spent today');
SELECT tap.snapshot();
SELECT is(tap.error_detail($$ SELECT api.authorize_hold('tap-lim-h', 'asset-diamond-001', 150, 'pull', 'tap-lim-h2') $$),
    'WVLIM: limit: 300.00, used: 200.00, requested: 150.00, resets_at: ' || :'resets',
    'an authorization past the daily spend limit is WVLIM, its DETAIL the limit, what is used, the request and the reset');
SELECT * FROM tap.nothing_moved('an authorization past the daily spend limit');
SELECT tap.act_as_superuser();
SELECT is_empty($$ SELECT 1 FROM ledger.holds WHERE idempotency_key = 'tap-lim-h2' $$, 'and no hold was written');
SELECT tap.act_as('wallet_service');
SELECT is((SELECT replayed FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 200, 'entry fee', 'tap-lim-h1')),
    true, 'a replay of the authorization answers it again');
SELECT is(tap.usage('tap-lim-h'), 'earned 0.00, spent 200.00', 'and is not counted twice');
SELECT is(tap.error_detail($$ SELECT api.authorize_hold('tap-lim-h', 'asset-diamond-001', 5000, 'castle', 'tap-lim-h3') $$),
    'WFUND: balance: 800.00, requested: 5000.00',
    'an authorization the balance does not cover is WFUND, whatever the limits');
SELECT is((SELECT balance::text FROM api.spend('tap-lim-h', 'asset-diamond-001', 100, 'sword', 'tap-lim-h4')), '700.00',
    'a spend up to the limit with the hold passes');
SELECT is(tap.error_detail($$ SELECT api.authorize_hold('tap-lim-h', 'asset-diamond-001', 0.01, 'pull', 'tap-lim-h5') $$),
    'WVLIM: limit: 300.00, used: 300.00, requested: 0.01, resets_at: ' || :'resets',
    'holds and spends share the daily spend limit');

SELECT is((SELECT balance::text FROM api.void_hold(:h1, 'tap-lim-h6')), '900.00', 'the hold is voided');
SELECT is(tap.usage('tap-lim-h'), 'earned 0.00, spent 100.00',
    'a void on the day of the authorization gives the day''s spending back: only the spend stays counted');

SELECT hold_id AS h2 FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 200, 'trade', 'tap-lim-h7') \gset
SELECT is(tap.usage('tap-lim-h'), 'earned 0.00, spent 300.00', 'a new hold of 200.00 fits the given-back room');
SELECT is((SELECT balance::text FROM api.capture_hold(:h2, 50, 'tap-lim-h8')), '850.00',
    'capturing 50.00 of it returns the other 150.00');
SELECT is(tap.usage('tap-lim-h'), 'earned 0.00, spent 150.00',
    'the captured 50.00 stays spent, the 150.00 released is given back');

SELECT hold_id AS h3 FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 100, 'pull', 'tap-lim-h9') \gset
SELECT is((SELECT balance::text FROM api.topup('tap-lim-h', 'asset-diamond-001', 250, 'tap-lim-h10')), '1000.00',
    'a top-up to the maximum balance exactly, 100.00 held');
SELECT is((SELECT balance::text FROM api.void_hold(:h3, 'tap-lim-h11')), '1100.00',
    'a release above the maximum balance passes: releases are exempt, like reversals');
SELECT is(tap.usage('tap-lim-h'), 'earned 250.00, spent 150.00', 'and the release is not earning');

SELECT hold_id AS h4 FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 50, 'pull', 'tap-lim-h12') \gset
SELECT is(tap.usage('tap-lim-h'), 'earned 250.00, spent 200.00', 'a hold of 50.00 is spent today');
-- a hold authorized yesterday: its spend_day set back a day (the guard trigger off for it)
SELECT tap.act_as_superuser();
ALTER TABLE ledger.holds DISABLE TRIGGER holds_change_only_by_resolution;
UPDATE ledger.holds SET spend_day = spend_day - 1 WHERE id = :h4;
ALTER TABLE ledger.holds ENABLE TRIGGER holds_change_only_by_resolution;
SELECT tap.act_as('wallet_service');
SELECT is((SELECT balance::text FROM api.void_hold(:h4, 'tap-lim-h13')), '1100.00', 'the day-old hold is voided');
SELECT is(tap.usage('tap-lim-h'), 'earned 250.00, spent 200.00',
    'a release on a later day gives nothing back to today''s spending');

SELECT hold_id AS h5 FROM api.authorize_hold('tap-lim-h', 'asset-diamond-001', 20, 'pull', 'tap-lim-h14', '1 second') \gset
SELECT is(tap.usage('tap-lim-h'), 'earned 250.00, spent 220.00', 'a hold of one second is spent today');
SELECT pg_sleep(1.1);
SELECT tap.act_as('wallet_job');
SELECT cmp_ok(api.expire_holds(), '>=', 1, 'the sweep releases the expired hold');
SELECT tap.act_as('wallet_service');
SELECT is((SELECT status::text FROM api.get_hold(:h5)) || ' ' || (SELECT balance::text FROM api.balances('tap-lim-h', 'asset-diamond-001')),
    'expired 1100.00', 'it expired, its 20.00 back');
SELECT is(tap.usage('tap-lim-h'), 'earned 250.00, spent 200.00',
    'an expiry on the day of the authorization gives the day''s spending back');

SELECT tap.act_as_superuser();
SET LOCAL ROLE wallet_owner;
SELECT lives_ok($$ SELECT api.open_balance('tap-lim-h', 'asset-gold-coin-001', 10, 'tap-lim-h15') $$,
    'H has gold, an asset without limits');
RESET ROLE;
SELECT tap.act_as('wallet_service');
SELECT hold_id AS h6 FROM api.authorize_hold('tap-lim-h', 'asset-gold-coin-001', 5, 'pull', 'tap-lim-h16') \gset
SELECT tap.act_as_superuser();
SELECT is((SELECT spend_day FROM ledger.holds WHERE id = :h6), NULL,
    'a hold of an asset without limits is not counted (no spend_day)');
SELECT is(tap.usage('tap-lim-h', 'asset-gold-coin-001'), 'earned NULL, spent NULL', 'nor is its wallet''s usage');
SELECT tap.act_as('wallet_job');
SELECT ok(api.clear_user_limits('tap-lim-h', 'asset-diamond-001'), 'H''s override is cleared');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- Who may set limits: the owner and wallet_job; not the service, not the auditor (tried for real)
-- ---------------------------------------------------------------------------------------------
SET LOCAL ROLE wallet_owner;
SELECT lives_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', NULL, NULL, NULL) $$,
    'the owner may set an asset''s limits');
RESET ROLE;
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 1, 1, 1) $$, '42501', NULL,
    'wallet_service may NOT set an asset''s limits');
SELECT throws_ok($$ SELECT api.set_user_limits('u', 'asset-gold-coin-001', 1, 1, 1) $$, '42501', NULL,
    'wallet_service may NOT set a user''s limits');
SELECT throws_ok($$ SELECT api.clear_user_limits('u', 'asset-gold-coin-001') $$, '42501', NULL,
    'wallet_service may NOT clear a user''s limits');
SELECT throws_ok($$ SELECT * FROM ledger.user_limits $$, '42501', NULL,
    'wallet_service cannot read ledger.user_limits');
SELECT tap.act_as('wallet_auditor');
SELECT throws_ok($$ SELECT api.set_asset_limits('asset-gold-coin-001', 1, 1, 1) $$, '42501', NULL,
    'wallet_auditor may NOT set an asset''s limits');
SELECT throws_ok($$ SELECT api.set_user_limits('u', 'asset-gold-coin-001', 1, 1, 1) $$, '42501', NULL,
    'wallet_auditor may NOT set a user''s limits');
SELECT lives_ok($$ SELECT * FROM ledger.user_limits $$, 'wallet_auditor may read ledger.user_limits');
SELECT throws_ok($$ UPDATE ledger.assets SET has_limits = true $$, '42501', NULL,
    'wallet_auditor cannot write ledger.assets');

SELECT tap.act_as_superuser();
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every transaction above balances (the deferred double-entry check, forced)');

SELECT * FROM finish();
ROLLBACK;
