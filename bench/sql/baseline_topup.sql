-- pgbench: the yardstick's top-up (../shared/bench/baseline.sql), same load as topup.sql.
\set u random(1, 10000)
SELECT * FROM baseline.topup('bench-user-' || :u, 'asset-gold-coin-001', 1.00, gen_random_uuid()::text);
