-- pgbench: one api.transfer of 0.01 between two different users of the 10,000 that
-- bench/sql/bench_sql.sh funded first (either may sort first: both lock orders run).
\set u random(1, 10000)
\set v random(1, 9999)
\set w case when :v >= :u then :v + 1 else :v end
SELECT * FROM api.transfer('bench-user-' || :u, 'bench-user-' || :w, 'asset-gold-coin-001', 0.01,
                           'bench gift', gen_random_uuid()::text);
