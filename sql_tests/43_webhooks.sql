-- Webhooks (issue 18; migration 0016, db/functions/29_webhooks.sql): adding, listing, disabling
-- and enabling subscriptions, and the delivery worker's lease: claim, delivered, failed, release.
-- What one session cannot show (a real receiver, the backoff in time, a worker killed mid-delivery)
-- is in tests/webhooks/.
BEGIN;
\ir lib/helpers.psql
SELECT plan(47);

-- the seeded postings are committed: seal them, so that the head is past 0
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.seal(100000) $$, 'the seeded postings are sealed');
SELECT last_sequence AS head FROM api.seal_status() \gset
SELECT ok(:head > 0, 'the seal''s head is past 0');

-- adding
SELECT id AS at_head, after_sequence AS at_head_after
FROM api.webhook_add('https://hooks.example/at-head', 'a-secret-of-16-bytes') \gset
SELECT is(:at_head_after::bigint, :head::bigint, 'a new subscription starts at the seal''s head by default');
SELECT id AS from_start FROM api.webhook_add('http://127.0.0.1:9/all', 'a-secret-of-16-bytes', NULL, 0) \gset
SELECT id AS typed FROM api.webhook_add('https://hooks.example/typed', repeat('s', 256), ARRAY['spend', 'topup', 'spend'], 0) \gset
SELECT is((SELECT event_types FROM api.webhooks() WHERE id = :typed), ARRAY['topup', 'spend'],
          'event types are kept once each, in the types'' order');
SELECT is((SELECT event_types FROM api.webhooks() WHERE id = :from_start), NULL,
          'no event types means every type');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('ftp://hooks.example/x', 'a-secret-of-16-bytes') $$,
                 'WHURL', NULL, 'a URL that is not http(s) is refused');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://', 'a-secret-of-16-bytes') $$,
                 'WHURL', NULL, 'a URL without a host is refused');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/a b', 'a-secret-of-16-bytes') $$,
                 'WHURL', NULL, 'a URL with a space is refused');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/', 'fifteen-bytes!!') $$,
                 'WHSEC', NULL, 'a secret under 16 bytes is refused');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/', repeat('s', 257)) $$,
                 'WHSEC', NULL, 'a secret over 256 bytes is refused');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/', 'a-secret-of-16-bytes', ARRAY['refund']) $$,
                 'WHEVT', 'unknown event type ''refund''', 'an event type that is no transaction type is refused, named');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/', 'a-secret-of-16-bytes', ARRAY[]::text[]) $$,
                 'WHEVT', NULL, 'an empty list of event types is refused');
SELECT throws_ok(format($$ SELECT * FROM api.webhook_add('https://hooks.example/', 'a-secret-of-16-bytes', NULL, %s) $$, :head + 1),
                 '22023', NULL, 'a start after the head is refused');

-- who may do what
SELECT tap.act_as('wallet_service');
SELECT throws_ok($$ SELECT * FROM api.webhook_add('https://hooks.example/', 'a-secret-of-16-bytes') $$,
                 '42501', NULL, 'the service may not add a subscription');
SELECT throws_ok(format($$ SELECT * FROM api.webhook_disable(%s) $$, :typed), '42501', NULL,
                 'the service may not disable one');
SELECT tap.act_as('wallet_auditor');
SELECT is((SELECT count(*) FROM api.webhooks() WHERE id IN (:at_head, :from_start, :typed)), 3::bigint,
          'the auditor lists the subscriptions');
SELECT is((SELECT count(*) FROM unnest((SELECT proargnames FROM pg_proc WHERE oid = 'api.webhooks()'::regprocedure)) AS n
           WHERE n = 'secret'), 0::bigint, 'the listing has no secret');
SELECT throws_ok($$ SELECT secret FROM ledger.webhooks $$, '42501', NULL, 'the auditor may not read the table (the secrets)');
SELECT throws_ok($$ SELECT * FROM api.webhook_claim(gen_random_uuid(), 30) $$, '42501', NULL,
                 'the auditor may not claim deliveries');

-- the worker's lease (any other subscription of a database used before is out of the way)
SELECT tap.act_as_superuser();
UPDATE ledger.webhooks SET status = 'disabled' WHERE id NOT IN (:at_head, :from_start, :typed);
SELECT tap.act_as('wallet_service');
SELECT is((SELECT array_agg(id ORDER BY id) FROM api.webhook_claim('00000000-0000-0000-0000-00000000000a', 30)),
          ARRAY[:from_start, :typed]::bigint[],
          'a claim takes the subscriptions behind the head, not the one at it');
SELECT is((SELECT count(*) FROM api.webhook_claim('00000000-0000-0000-0000-00000000000b', 30)), 0::bigint,
          'another worker gets none of those leased');
SELECT is((SELECT count(*) FROM api.webhook_claim('00000000-0000-0000-0000-00000000000a', 30)), 2::bigint,
          'the owner may take its own leases again (its task stopped on an error)');
SELECT is(api.webhook_delivered(:from_start, '00000000-0000-0000-0000-00000000000b', :head, 1, 30), false,
          'only the lease''s owner moves the cursor');
SELECT is(api.webhook_delivered(:from_start, '00000000-0000-0000-0000-00000000000a', :head + 1, 1, 30), false,
          'the cursor does not move past the head');
SELECT is(api.webhook_delivered(:from_start, '00000000-0000-0000-0000-00000000000a', :head, 5, 30), true,
          'the owner moves it after a 2xx');
SELECT is(api.webhook_delivered(:from_start, '00000000-0000-0000-0000-00000000000a', 0, 0, 30), false,
          'the cursor never moves back');
SELECT results_eq(format($$ SELECT after_sequence, backlog, delivered FROM api.webhooks() WHERE id = %s $$, :from_start),
                  format($$ VALUES (%s::bigint, 0::bigint, 5::bigint) $$, :head),
                  'the listing shows the cursor, no backlog and the events delivered');

-- failures: backoff, failing at the bound, a success makes it active again
SELECT results_eq(format($$ SELECT * FROM api.webhook_failed(%s, '00000000-0000-0000-0000-00000000000a', 'HTTP 500', 60000, 2) $$, :typed),
                  $$ VALUES (1, 'active') $$, 'a failure is counted');
SELECT is((SELECT count(*) FROM api.webhook_claim('00000000-0000-0000-0000-00000000000a', 30)), 0::bigint,
          'a subscription backing off is not taken before its next attempt');
SELECT tap.act_as_superuser();
UPDATE ledger.webhooks SET next_attempt_at = now() - interval '1 second' WHERE id = :typed;  -- the backoff is over
SELECT tap.act_as('wallet_service');
SELECT is((SELECT id FROM api.webhook_claim('00000000-0000-0000-0000-00000000000a', 30)), :typed::bigint,
          'it is taken again once its backoff is over');
SELECT results_eq(format($$ SELECT * FROM api.webhook_failed(%s, '00000000-0000-0000-0000-00000000000a', 'timed out', 0, 2) $$, :typed),
                  $$ VALUES (2, 'failing') $$, 'at the bound of consecutive failures it is failing');
SELECT is((SELECT last_error FROM api.webhooks() WHERE id = :typed), 'timed out', 'the last error is listed');
SELECT is((SELECT id FROM api.webhook_claim('00000000-0000-0000-0000-00000000000a', 30)), :typed::bigint,
          'a failing subscription is still retried');
SELECT is(api.webhook_delivered(:typed, '00000000-0000-0000-0000-00000000000a', :head, 2, 30), true, 'then delivered');
SELECT results_eq(format($$ SELECT status, failures, last_error FROM api.webhooks() WHERE id = %s $$, :typed),
                  $$ VALUES ('active', 0, NULL::text) $$, 'a success makes it active, its failures forgotten');

-- a lease that expired (its worker died) goes to the next worker; the old owner cannot write
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT api.topup('tap-hook-1', 'asset-gold-coin-001', 5, 'tap-hook-1') $$, 'a posting');
SELECT tap.act_as_superuser();
-- seal it as if it had committed (this session's postings never end before the test does)
INSERT INTO ledger.seals (sequence, transaction_id, hash)
SELECT :head + 1, t.id, decode(repeat('11', 32), 'hex') FROM ledger.transactions AS t WHERE t.idempotency_key = 'tap-hook-1';
UPDATE ledger.seal_state SET last_sequence = :head + 1;
UPDATE ledger.webhooks SET lease_owner = '00000000-0000-0000-0000-00000000000a', lease_until = now() - interval '1 second'
WHERE id = :typed;
SELECT tap.act_as('wallet_service');
SELECT is((SELECT array_agg(id ORDER BY id) FROM api.webhook_claim('00000000-0000-0000-0000-00000000000b', 30)),
          ARRAY[:at_head, :typed]::bigint[],
          'an expired lease is taken by the next worker (one still held, renewed by its delivery, is not)');
SELECT is(api.webhook_delivered(:typed, '00000000-0000-0000-0000-00000000000a', :head + 1, 1, 30), false,
          'the worker whose lease expired cannot move the cursor');
SELECT is(api.webhook_release(:at_head, '00000000-0000-0000-0000-00000000000b'), true, 'a worker releases what it caught up');
SELECT is((SELECT id FROM api.webhook_claim('00000000-0000-0000-0000-00000000000c', 30)), :at_head::bigint,
          'and another may take it at once');

-- disabling and enabling
SELECT tap.act_as('wallet_job');
SELECT is((SELECT earlier FROM api.webhook_disable(:at_head)), false, 'a job disables a subscription');
SELECT is((SELECT earlier FROM api.webhook_disable(:at_head)), true, 'disabling it again says it already was');
SELECT throws_ok($$ SELECT * FROM api.webhook_disable(999999999) $$, 'WHNOF', NULL, 'an unknown subscription is named');
SELECT tap.act_as_superuser();
UPDATE ledger.webhooks SET lease_owner = NULL, lease_until = NULL;
SELECT tap.act_as('wallet_service');
SELECT is((SELECT count(*) FROM api.webhook_claim(gen_random_uuid(), 30) WHERE id = :at_head), 0::bigint,
          'a disabled subscription is not delivered');
SELECT tap.act_as('wallet_job');
SELECT results_eq(format($$ SELECT after_sequence, backlog FROM api.webhook_enable(%s) $$, :at_head),
                  format($$ VALUES (%s::bigint, 1::bigint) $$, :head), 'enabling it gives its cursor and backlog');
SELECT is((SELECT status FROM api.webhooks() WHERE id = :at_head), 'active', 'it is active again');
SELECT throws_ok($$ SELECT * FROM api.webhook_claim(gen_random_uuid(), 0) $$, '22023', NULL, 'a lease of 0 seconds is refused');

SELECT * FROM finish();
ROLLBACK;
