-- pgbench: a hold's whole life as a game backend runs it, one pgbench transaction: authorize
-- 0.02 for one of the 10,000 funded users, then capture 0.01 of it (the other 0.01 goes back to
-- the user in the same capture transaction). Two database transactions (autocommit), so tx/s
-- here is holds authorized and captured per second.
\set u random(1, 10000)
SELECT hold_id FROM api.authorize_hold('bench-user-' || :u, 'asset-gold-coin-001', 0.02, 'bench hold',
                                       gen_random_uuid()::text) \gset
SELECT * FROM api.capture_hold(:hold_id, 0.01, gen_random_uuid()::text);
