-- The contract's seed: two users with opening balances, each a real ledger transaction from the
-- Treasury. The keys are fixed, so running the seed again replays them and moves nothing.
SELECT s.user_id, s.asset_id, r.balance, r.replayed
FROM (VALUES ('user-rich-001', 'asset-gold-coin-001', 10000.00),
             ('user-rich-001', 'asset-diamond-001',     500.00),
             ('user-new-002',  'asset-gold-coin-001',   100.00),
             ('user-new-002',  'asset-loyalty-001',      50.00)) AS s (user_id, asset_id, amount)
CROSS JOIN LATERAL api.open_balance(s.user_id, s.asset_id, s.amount,
                                    'opening-balance:' || s.user_id || ':' || s.asset_id,
                                    '{"source": "seed"}', 'seed') AS r;
