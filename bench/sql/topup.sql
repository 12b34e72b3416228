-- pgbench: one api.topup of 1.00 to one of 10,000 users (created on its first credit), a fresh
-- idempotency key per call. Same shape as baseline_topup.sql, so the two compare like for like.
\set u random(1, 10000)
SELECT * FROM api.topup('bench-user-' || :u, 'asset-gold-coin-001', 1.00, gen_random_uuid()::text);
