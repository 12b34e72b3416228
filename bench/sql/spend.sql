-- pgbench: one api.spend of 0.01 from one of 10,000 users that bench/sql/bench_sql.sh funded first.
\set u random(1, 10000)
SELECT * FROM api.spend('bench-user-' || :u, 'asset-gold-coin-001', 0.01, 'bench item', gen_random_uuid()::text);
