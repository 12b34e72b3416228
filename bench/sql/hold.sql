-- pgbench: one api.authorize_hold of 0.01 for one of the 10,000 users bench/sql/bench_sql.sh
-- funded first (1,000,000.00 each, so no run runs out). The holds stay open (15 minutes, the
-- default; no sweeper runs during the benchmark).
\set u random(1, 10000)
SELECT * FROM api.authorize_hold('bench-user-' || :u, 'asset-gold-coin-001', 0.01, 'bench hold',
                                 gen_random_uuid()::text);
