-- The seed (db/seed.sql): the contract's two users and their opening balances, each a real
-- opening_balance transaction from the Treasury; seeding again replays and changes nothing.
BEGIN;
\ir lib/helpers.psql
SELECT plan(15);

-- ---------------------------------------------------------------------------------------------
-- What the seed wrote
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT asset_id, asset_code, wallet_id IS NOT NULL, balance::text FROM api.balances('user-rich-001') $$,
    $$ VALUES ('asset-diamond-001', 'DIAMOND', true, '500.00'),
              ('asset-gold-coin-001', 'GOLD_COIN', true, '10000.00'),
              ('asset-loyalty-001', 'LOYALTY_POINT', false, '0.00') $$,
    'user-rich-001 has 10000.00 GOLD and 500.00 DIAMOND, and no LOYALTY wallet');
SELECT results_eq(
    $$ SELECT asset_id, asset_code, wallet_id IS NOT NULL, balance::text FROM api.balances('user-new-002') $$,
    $$ VALUES ('asset-diamond-001', 'DIAMOND', false, '0.00'),
              ('asset-gold-coin-001', 'GOLD_COIN', true, '100.00'),
              ('asset-loyalty-001', 'LOYALTY_POINT', true, '50.00') $$,
    'user-new-002 has 100.00 GOLD and 50.00 LOYALTY, and no DIAMOND wallet');
SELECT tap.act_as_superuser();

SELECT results_eq(
    $$ SELECT w.owner_id::text COLLATE "default", w.asset_id COLLATE "default", t.type::text,
              t.client_id::text COLLATE "default", t.idempotency_key::text COLLATE "default",
              t.metadata::jsonb, e.amount::numeric, e.balance_after, e.wallet_version::bigint,
              other.kind::text, o.amount::numeric
       FROM ledger.wallets AS w
       JOIN ledger.entries AS e ON e.wallet_id = w.id
       JOIN ledger.transactions AS t ON t.id = e.transaction_id
       JOIN ledger.entries AS o ON o.transaction_id = t.id AND o.id <> e.id
       JOIN ledger.wallets AS other ON other.id = o.wallet_id
       WHERE w.owner_id IN ('user-rich-001', 'user-new-002')
       ORDER BY w.owner_id, w.asset_id $$,
    $$ VALUES
       ('user-new-002', 'asset-gold-coin-001', 'opening_balance', 'seed', 'opening-balance:user-new-002:asset-gold-coin-001',
        '{"source": "seed"}'::jsonb, 100::numeric, 100::numeric, 1::bigint, 'treasury', -100::numeric),
       ('user-new-002', 'asset-loyalty-001', 'opening_balance', 'seed', 'opening-balance:user-new-002:asset-loyalty-001',
        '{"source": "seed"}'::jsonb, 50::numeric, 50::numeric, 1::bigint, 'treasury', -50::numeric),
       ('user-rich-001', 'asset-diamond-001', 'opening_balance', 'seed', 'opening-balance:user-rich-001:asset-diamond-001',
        '{"source": "seed"}'::jsonb, 500::numeric, 500::numeric, 1::bigint, 'treasury', -500::numeric),
       ('user-rich-001', 'asset-gold-coin-001', 'opening_balance', 'seed', 'opening-balance:user-rich-001:asset-gold-coin-001',
        '{"source": "seed"}'::jsonb, 10000::numeric, 10000::numeric, 1::bigint, 'treasury', -10000::numeric) $$,
    'each seeded balance is the one entry of an opening_balance transaction whose other entry debits the Treasury');
SELECT results_eq(
    $$ SELECT t.type::text, t.amount::text, t.balance::text,
              (SELECT array_agg(e.owner_type || ':' || e.direction ORDER BY e.owner_type) FROM unnest(t.entries) AS e)
       FROM ledger.transactions AS x, api.get_transaction(x.id) AS t
       WHERE x.client_id = 'seed' AND x.idempotency_key = 'opening-balance:user-rich-001:asset-gold-coin-001' $$,
    $$ VALUES ('opening_balance', '10000.00', '10000.00', ARRAY['system:debit', 'user:credit']) $$,
    'api.get_transaction shows an opening balance as a Treasury debit and a user credit');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", account::text, balance::text FROM api.system_accounts $$,
    $$ VALUES ('asset-diamond-001', 'treasury', '-500.00'), ('asset-diamond-001', 'revenue', '0.00'),
              ('asset-diamond-001', 'holds', '0.00'),
              ('asset-gold-coin-001', 'treasury', '-10100.00'), ('asset-gold-coin-001', 'revenue', '0.00'),
              ('asset-gold-coin-001', 'holds', '0.00'),
              ('asset-loyalty-001', 'treasury', '-50.00'), ('asset-loyalty-001', 'revenue', '0.00'),
              ('asset-loyalty-001', 'holds', '0.00') $$,
    'the Treasury is minus what the seed issued (GOLD -10100.00, DIAMOND -500.00, LOYALTY -50.00); Revenue and the holds accounts are empty');
SELECT is_empty($$ SELECT * FROM api.reconcile() WHERE NOT ok $$,
    'the seeded books reconcile');

-- ---------------------------------------------------------------------------------------------
-- Seeding again: the same SELECT as db/seed.sql, as the owner (like `wallet seed`)
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();

SELECT tap.act_as('wallet_owner');
SELECT set_eq(
    $$ SELECT s.user_id, s.asset_id, r.balance, r.replayed
       FROM (VALUES ('user-rich-001', 'asset-gold-coin-001', 10000.00),
                    ('user-rich-001', 'asset-diamond-001',     500.00),
                    ('user-new-002',  'asset-gold-coin-001',   100.00),
                    ('user-new-002',  'asset-loyalty-001',      50.00)) AS s (user_id, asset_id, amount)
       CROSS JOIN LATERAL api.open_balance(s.user_id, s.asset_id, s.amount,
                                           'opening-balance:' || s.user_id || ':' || s.asset_id,
                                           '{"source": "seed"}', 'seed') AS r $$,
    $$ VALUES ('user-rich-001', 'asset-gold-coin-001', 10000.00, true),
              ('user-rich-001', 'asset-diamond-001', 500.00, true),
              ('user-new-002', 'asset-gold-coin-001', 100.00, true),
              ('user-new-002', 'asset-loyalty-001', 50.00, true) $$,
    'seeding again returns the original balances with replayed = true');
SELECT throws_ok(
    $$ SELECT * FROM api.open_balance('user-rich-001', 'asset-gold-coin-001', 20000.00,
                                      'opening-balance:user-rich-001:asset-gold-coin-001', '{"source": "seed"}', 'seed') $$,
    'WIDEM', NULL, 'a seed that changed an opening amount under the same key is refused (WIDEM), not applied');
SELECT tap.act_as_superuser();

SELECT * FROM tap.nothing_moved('seeding again');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('user-rich-001', 'asset-gold-coin-001') $$,
    ARRAY['10000.00'],
    'user-rich-001 still has 10000.00 GOLD after seeding again');

-- the seed is the owner's job: the service cannot write opening balances
SELECT tap.act_as('wallet_service');
SELECT throws_ok(
    $$ SELECT * FROM api.open_balance('user-rich-001', 'asset-gold-coin-001', 10000.00,
                                      'opening-balance:user-rich-001:asset-gold-coin-001', '{"source": "seed"}', 'seed') $$,
    '42501', NULL, 'wallet_service cannot run the seed (api.open_balance)');
SELECT tap.act_as_superuser();
SELECT is((SELECT count(*) FROM ledger.transactions WHERE type = 'opening_balance'), 4::bigint,
    'there are exactly the four opening balances of the seed');

SELECT * FROM finish();
ROLLBACK;
