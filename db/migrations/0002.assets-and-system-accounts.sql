-- depends: 0001.ledger-schema
-- The three assets of the contract, and the Treasury and Revenue slots of each.

INSERT INTO ledger.assets (id, code, name, scale, max_amount) VALUES
    ('asset-gold-coin-001', 'GOLD_COIN',     'Gold Coins',     2, 1000000000),
    ('asset-diamond-001',   'DIAMOND',       'Diamonds',       2, 1000000000),
    ('asset-loyalty-001',   'LOYALTY_POINT', 'Loyalty Points', 2, 1000000000);

INSERT INTO ledger.wallets (asset_id, kind, slot)
SELECT a.id, k.kind, s.slot
FROM ledger.assets AS a
CROSS JOIN (VALUES ('treasury'::ledger.wallet_kind), ('revenue'::ledger.wallet_kind)) AS k (kind)
CROSS JOIN LATERAL generate_series(0, a.system_slots - 1) AS s (slot)
ORDER BY a.id, k.kind, s.slot;
