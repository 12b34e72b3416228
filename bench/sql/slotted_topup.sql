-- pgbench: the yardstick with 64 Treasury slots (bench/sql/slotted_yardstick.py), same load as topup.sql.
\set u random(1, 10000)
SELECT * FROM yardstick_slotted.topup('bench-user-' || :u, 'asset-gold-coin-001', 1.00, gen_random_uuid()::text);
