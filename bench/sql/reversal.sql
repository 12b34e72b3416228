-- pgbench: one api.reverse of 0.01 of one of the 10,000 funding top-ups (bench_sql.sh lists them
-- in public.bench_originals for the service's login, which may not read ledger tables). Strict
-- mode; each funding is 1,000,000.00, so no run reverses more than remains.
\set u random(1, 10000)
SELECT * FROM api.reverse((SELECT o.transaction_id FROM public.bench_originals AS o WHERE o.n = :u),
                          0.01, 'bench refund', gen_random_uuid()::text);
