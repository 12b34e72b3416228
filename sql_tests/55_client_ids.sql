-- Whose client ids: the scopes of idempotency keys are split between callers by the login role
-- (session_user), so that no caller can claim another's keys. api:<key name> is the HTTP
-- service's, and only the login wallet_service may use it; sql:<login> is a login's own (what it
-- gets when it names no client); a job names any other client. The service uses nothing but its
-- own two, so a job's keys and the service's never meet, in either direction (WCLNS otherwise).
-- Issue 14, point 2: a job pre-claiming a key of an HTTP client's scope.
BEGIN;
\ir lib/helpers.psql
SELECT plan(39);

-- ---------------------------------------------------------------------------------------------
-- A job cannot claim the service's keys
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT tap.snapshot();
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-1', 'asset-gold-coin-001', 1, 'tap-clnt-K', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'a job''s top-up as client api:game-backend is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.grant_bonus('tap-clnt-1', 'asset-gold-coin-001', 1, 'r', 'tap-clnt-K', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'a job''s bonus as client api:game-backend is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.spend('user-rich-001', 'asset-gold-coin-001', 1, 'd', 'tap-clnt-K', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'a job''s spend as client api:game-backend is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-1', 'asset-gold-coin-001', 1, 'tap-clnt-K', '{}', 'api:') $$,
    'WCLNS', NULL, 'a job''s client api: (an empty key name) is the service''s too: WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-1', 'asset-gold-coin-001', 1, 'tap-clnt-K', '{}', 'sql:wallet_service') $$,
    'WCLNS', NULL, 'a job cannot use the service login''s own client sql:wallet_service (WCLNS)');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-1', 'asset-gold-coin-001', 1, 'tap-clnt-K', '{}', 'sql:wallet_owner') $$,
    'WCLNS', NULL, 'a job cannot use another login''s own client sql:wallet_owner (WCLNS)');
SELECT * FROM tap.nothing_moved('the job''s calls in others'' namespaces');

-- The issue's reproduction, the other way round: the client's real request, a top-up of 2.00
-- with the key the job tried to take, is the service's own new transaction
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT balance::text, replayed
       FROM api.topup('tap-clnt-1', 'asset-gold-coin-001', 2, 'tap-clnt-K', '{}', 'api:game-backend') $$,
    $$ VALUES ('2.00', false) $$,
    'the service''s top-up with that key then runs: not idempotency_key_reused, not a replay');

-- ---------------------------------------------------------------------------------------------
-- A job's own namespace: its login's default, and the clients it names
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT transaction_id AS tx_default FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J') \gset
SELECT transaction_id AS tx_named
FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J', '{}', 'nightly-import') \gset
SELECT results_eq(
    $$ SELECT transaction_id, replayed
       FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J', '{}', 'sql:wallet_job') $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_default),
    'a job naming its login''s own client sql:wallet_job replays what it did without a client');
SELECT results_eq(
    $$ SELECT transaction_id, replayed
       FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J', '{}', 'nightly-import') $$,
    format($$ VALUES (%s::bigint, true) $$, :tx_named),
    'a job''s named client nightly-import replays its own transaction');
SELECT lives_ok(
    $$ SELECT * FROM api.spend('tap-clnt-2', 'asset-gold-coin-001', 1, 'd', 'tap-clnt-J', '{}', 'API:game-backend') $$,
    'the prefix is api: exactly (client ids compare byte by byte): a job may name API:game-backend');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT client_id::text COLLATE "default" FROM ledger.transactions
       WHERE idempotency_key = 'tap-clnt-J' ORDER BY client_id COLLATE "C" $$,
    $$ VALUES ('API:game-backend'), ('nightly-import'), ('sql:wallet_job') $$,
    'the job''s clients are stored as named, and sql:<login> when it named none');

-- ---------------------------------------------------------------------------------------------
-- The service cannot claim a job's keys
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT tap.snapshot();
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J', '{}', 'sql:wallet_job') $$,
    'WCLNS', NULL, 'the service''s top-up as the job''s client sql:wallet_job is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.grant_bonus('tap-clnt-2', 'asset-gold-coin-001', 1, 'r', 'tap-clnt-J', '{}', 'nightly-import') $$,
    'WCLNS', NULL, 'the service''s bonus as the job''s client nightly-import is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.spend('tap-clnt-2', 'asset-gold-coin-001', 1, 'd', 'tap-clnt-J', '{}', 'nightly-import') $$,
    'WCLNS', NULL, 'the service''s spend as the job''s client nightly-import is refused with WCLNS');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J', '{}', 'API:game-backend') $$,
    'WCLNS', NULL, 'the service cannot use API:game-backend, which is not in its namespace (WCLNS)');
SELECT * FROM tap.nothing_moved('the service''s calls in a job''s namespace');
-- without a client the service login gets its own sql:wallet_service, as any login does (a job
-- still logging in as wallet_service keeps its keys until it moves to wallet_job)
SELECT lives_ok(
    $$ SELECT * FROM api.topup('tap-clnt-2', 'asset-gold-coin-001', 1, 'tap-clnt-J') $$,
    'the service login without a client id posts as sql:wallet_service');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT client_id::text COLLATE "default" FROM ledger.transactions
       WHERE idempotency_key = 'tap-clnt-J' AND client_id LIKE 'sql:%' ORDER BY client_id COLLATE "C" $$,
    $$ VALUES ('sql:wallet_job'), ('sql:wallet_service') $$,
    'the same key is one transaction per login: sql:wallet_job and sql:wallet_service');

-- ---------------------------------------------------------------------------------------------
-- The login decides, not the role acting: SET ROLE, the owner and superusers are not the service
-- ---------------------------------------------------------------------------------------------
SELECT tap.snapshot();
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'a superuser''s login cannot use client api:game-backend (WCLNS)');
SET LOCAL ROLE wallet_service;
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'SET ROLE wallet_service does not make a login the service: api:game-backend is refused (WCLNS)');
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    $$ SELECT * FROM api.open_balance('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'the owner''s opening balance as client api:game-backend is refused (WCLNS)');
SELECT tap.act_as('wallet_job');
SELECT throws_ok(
    $$ SELECT * FROM api.topup('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'api:game-backend') $$,
    'WCLNS', NULL, 'the job again, to be sure the refusal is about the login: WCLNS');
SELECT * FROM tap.nothing_moved('the calls as api:game-backend by logins other than wallet_service');
SELECT tap.act_as('wallet_owner');
SELECT lives_ok(
    $$ SELECT * FROM api.open_balance('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'tap:clnt') $$,
    'the owner (the seed, imports) names clients of its own, as a job does');
SELECT tap.act_as_superuser();

-- A refused call claims nothing: the key is still free in the service's scope
SELECT tap.act_as('wallet_service');
SELECT results_eq(
    $$ SELECT replayed FROM api.topup('tap-clnt-3', 'asset-gold-coin-001', 1, 'tap-clnt-S', '{}', 'api:game-backend') $$,
    $$ VALUES (false) $$,
    'after every refusal the service''s call with that key is new');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- The rule is ledger._valid_client_namespace (its boundary cases: 05_rules.sql), given the login
-- ---------------------------------------------------------------------------------------------
SELECT ok(
    pg_catalog.pg_get_functiondef('ledger._post(ledger.transaction_type, text, text, numeric, text, text, jsonb, text)'::regprocedure)
        ~ 'IF NOT ledger\._valid_client_namespace\(v_client, session_user\) THEN',
    'ledger._post checks the client id''s namespace against the login role (session_user)');

-- The key's claim is the only write a refused call could have made; 50_idempotency.sql has the rest
SELECT is_empty(
    $$ SELECT client_id, idempotency_key FROM ledger.transactions
       WHERE idempotency_key IN ('tap-clnt-K', 'tap-clnt-S') AND client_id NOT LIKE 'api:%' AND client_id <> 'tap:clnt' $$,
    'no refused call left a claim behind');
SELECT is(
    (SELECT count(*) FROM ledger.transactions WHERE idempotency_key = 'tap-clnt-K'), 1::bigint,
    'key tap-clnt-K has one transaction: the service''s');

SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'every transaction of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
