-- pgbench: one atomic api.post_batch of 1,000 top-ups of 0.01 to random users of the 10,000
-- bench/sql/bench_sql.sh funded (repeats allowed: a user twice is two items). tx/s x 1,000 = items/s.
SELECT count(*) FROM api.post_batch('topup', 'asset-gold-coin-001',
    ARRAY(SELECT 'bench-user-' || (1 + floor(random() * 10000))::int FROM generate_series(1, 1000)),
    array_fill(0.01::numeric, ARRAY[1000]), NULL, gen_random_uuid()::text);
