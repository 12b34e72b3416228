-- The rule functions of db/functions/05_rules.sql: what each accepts, on a table of boundary
-- cases; that they stay inlinable (ledger._post's checks rely on it) and are inlined; that the
-- data guards the migrations wrote (the domains, the api_keys CHECKs), which cannot call them,
-- accept exactly what they accept; and that the page-size DEFAULTs are the rule's.
BEGIN;
\ir lib/helpers.psql
SELECT plan(36);

-- ---------------------------------------------------------------------------------------------
-- Inlinable, and inlined
-- ---------------------------------------------------------------------------------------------
SELECT set_eq(
    $$ SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace
         AND (p.proname ~ '^_valid_' OR p.proname IN ('_description_max_length', '_metadata_max_bytes',
                                                      '_page_limit_default', '_page_limit_max', '_api_scopes')) $$,
    $$ VALUES ('ledger._valid_user_id(text)'), ('ledger._valid_idempotency_key(text)'),
              ('ledger._valid_client_id(text)'), ('ledger._valid_client_namespace(text,text)'),
              ('ledger._valid_api_key_name(text)'),
              ('ledger._description_max_length()'), ('ledger._metadata_max_bytes()'),
              ('ledger._page_limit_default()'), ('ledger._page_limit_max()'), ('ledger._api_scopes()') $$,
    'the rule functions are these ten');
-- what stops the planner from inlining a scalar SQL function (inline_function in clauses.c)
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace
         AND (p.proname ~ '^_valid_' OR p.proname IN ('_description_max_length', '_metadata_max_bytes',
                                                      '_page_limit_default', '_page_limit_max', '_api_scopes'))
         AND (p.prolang <> (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'sql') OR p.provolatile <> 'i' OR p.prosecdef OR p.proisstrict
              OR p.proretset OR p.proconfig IS NOT NULL OR p.prosqlbody IS NULL) $$,
    'every rule function is LANGUAGE sql IMMUTABLE with a single-expression body, no SECURITY DEFINER, no SET, not STRICT');

CREATE FUNCTION pg_temp.plan_of(p_query text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    v_line text;
    v_plan text := '';
BEGIN
    FOR v_line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || p_query LOOP
        v_plan := v_plan || v_line || E'\n';
    END LOOP;
    RETURN v_plan;
END
$$;
SELECT unalike(
    pg_temp.plan_of($$ SELECT ledger._valid_user_id(s::text), ledger._valid_idempotency_key(s::text),
                              ledger._valid_client_id(s::text), ledger._valid_api_key_name(s::text),
                              ledger._valid_client_namespace(s::text, session_user)
                       FROM generate_series(1, 3) AS s $$),
    '%\_valid\_%',
    'the planner inlines the predicates: the plan holds their expressions, not calls');
SELECT alike(
    pg_temp.plan_of($$ SELECT length(s::text) > ledger._description_max_length(),
                              length(s::text) > ledger._metadata_max_bytes(),
                              s BETWEEN 1 AND ledger._page_limit_max(), s = ledger._page_limit_default(),
                              ARRAY[s::text] <@ ledger._api_scopes()
                       FROM generate_series(1, 3) AS s $$),
    '%500%4096%200%50%{wallet:audit,wallet:batch,wallet:bonus,wallet:events,wallet:hold,wallet:read,wallet:refund,wallet:spend,wallet:topup,wallet:transfer}%',
    'the planner folds the rules without arguments into constants');
-- ledger._post, where it matters: its user-id check is the inlined expression, so a call costs
-- no more than the same check written in _post would (docs/performance.md has the measurement)
SELECT ok(
    pg_catalog.pg_get_functiondef('ledger._post(ledger.transaction_type, text, text, numeric, text, text, jsonb, text)'::regprocedure)
        ~ 'IF NOT ledger\._valid_user_id\(p_user_id\) THEN',
    'ledger._post checks the user id with the rule function');

-- ---------------------------------------------------------------------------------------------
-- What each rule accepts
-- ---------------------------------------------------------------------------------------------
SELECT is(ledger._description_max_length(), 500, 'a description or reason is at most 500 characters');
SELECT is(ledger._metadata_max_bytes(), 4096, 'metadata is at most 4096 bytes');
SELECT is(ledger._page_limit_default(), 50, 'a page holds 50 entries by default');
SELECT is(ledger._page_limit_max(), 200, 'a page holds at most 200 entries');
SELECT is(ledger._api_scopes(), ARRAY['wallet:audit', 'wallet:batch', 'wallet:bonus', 'wallet:events', 'wallet:hold', 'wallet:read',
                                 'wallet:refund', 'wallet:spend', 'wallet:topup', 'wallet:transfer'],
    'the API key scopes are wallet:audit, wallet:batch, wallet:bonus, wallet:events, wallet:hold, wallet:read, wallet:refund, wallet:spend, wallet:topup and wallet:transfer');
SELECT is(ledger._api_scopes(),
          ARRAY(SELECT s FROM unnest(ledger._api_scopes()) AS s ORDER BY s COLLATE "C"),
    'the scopes are sorted in byte order, as api.create_api_key returns a key''s scopes');

-- (rule, value, accepted?) The same values serve the data guards below.
CREATE TEMP TABLE tap_rule_cases (rule, value, accepted) AS
VALUES
    ('user_id', NULL, false), ('user_id', '', false), ('user_id', 'a', true),
    ('user_id', repeat('u', 128), true), ('user_id', repeat('u', 129), false),
    ('user_id', 'Az09._:@-', true), ('user_id', 'user-rich-001', true),
    ('user_id', 'a b', false), ('user_id', E'a\n', false), ('user_id', E'\na', false),
    ('user_id', 'a/b', false), ('user_id', 'tópup', false), ('user_id', 'a+b', false),
    ('user_id', 'a#b', false), ('user_id', 'ａ', false), ('user_id', '٣', false),
    ('idempotency_key', NULL, false), ('idempotency_key', '', false), ('idempotency_key', ' ', true),
    ('idempotency_key', '~', true), ('idempotency_key', repeat('k', 255), true),
    ('idempotency_key', repeat('k', 256), false),
    ('idempotency_key', ' !"#$%&''()*+,-./09:;<=>?@AZ[\]^_`az{|}~', true),
    ('idempotency_key', 'clé', false), ('idempotency_key', E'a\tb', false),
    ('idempotency_key', E'a\nb', false), ('idempotency_key', E'a\x7Fb', false),
    ('idempotency_key', E'a\x1Fb', false),
    ('client_id', NULL, false), ('client_id', '', false), ('client_id', 'c', true),
    ('client_id', repeat('c', 200), true), ('client_id', repeat('c', 201), false),
    ('client_id', repeat('é', 200), true), ('client_id', E'api:any thing\tgoes', true),
    ('client_id', 'sql:wallet_service', true),
    ('api_key_name', NULL, false), ('api_key_name', '', false), ('api_key_name', 'k', true),
    ('api_key_name', repeat('k', 64), true), ('api_key_name', repeat('k', 65), false),
    ('api_key_name', 'Az09._-', true), ('api_key_name', 'a:b', false), ('api_key_name', 'a b', false),
    ('api_key_name', E'a\n', false), ('api_key_name', 'a@b', false), ('api_key_name', 'clé', false);

SELECT is_empty(
    $$ SELECT rule, value, accepted FROM tap_rule_cases
       WHERE rule = 'user_id' AND ledger._valid_user_id(value) IS DISTINCT FROM accepted $$,
    'ledger._valid_user_id: 1 to 128 of letters, digits and ._:@-, ASCII only, never NULL');
SELECT is_empty(
    $$ SELECT rule, value, accepted FROM tap_rule_cases
       WHERE rule = 'idempotency_key' AND ledger._valid_idempotency_key(value) IS DISTINCT FROM accepted $$,
    'ledger._valid_idempotency_key: 1 to 255 printable ASCII characters, never NULL');
SELECT is_empty(
    $$ SELECT rule, value, accepted FROM tap_rule_cases
       WHERE rule = 'client_id' AND ledger._valid_client_id(value) IS DISTINCT FROM accepted $$,
    'ledger._valid_client_id: 1 to 200 characters of any kind, never NULL');
SELECT is_empty(
    $$ SELECT rule, value, accepted FROM tap_rule_cases
       WHERE rule = 'api_key_name' AND ledger._valid_api_key_name(value) IS DISTINCT FROM accepted $$,
    'ledger._valid_api_key_name: 1 to 64 of letters, digits and ._-, ASCII only, never NULL');
-- (client id, login, accepted?): whose the client id is, for the login using it
SELECT is_empty(
    $$ SELECT c, l, accepted FROM (VALUES
           ('api:game-backend', 'wallet_service', true), ('api:', 'wallet_service', true),
           ('sql:wallet_service', 'wallet_service', true), ('sql:wallet_job', 'wallet_service', false),
           ('nightly-import', 'wallet_service', false), ('API:x', 'wallet_service', false),
           ('ap', 'wallet_service', false),
           ('api:game-backend', 'wallet_job', false), ('api:', 'wallet_job', false),
           ('sql:wallet_job', 'wallet_job', true), ('sql:wallet_service', 'wallet_job', false),
           ('sql:wallet_jobs', 'wallet_job', false), ('sql:', 'wallet_job', false),
           ('sql:wallet_job:x', 'wallet_job', false), ('nightly-import', 'wallet_job', true),
           ('API:x', 'wallet_job', true), ('ap', 'wallet_job', true), ('a', 'wallet_job', true),
           ('api:x', 'postgres', false), ('sql:postgres', 'postgres', true), ('seed', 'wallet_owner', true),
           (NULL, 'wallet_job', false), (NULL, 'wallet_service', false), ('x', NULL, false),
           ('api:x', NULL, false), ('ledger:expiry', 'wallet_job', false), ('ledger:', 'postgres', false),
           ('ledger:x', 'wallet_service', false), ('ledger', 'wallet_job', true),
           ('LEDGER:x', 'wallet_job', true)) AS t (c, l, accepted)
       WHERE ledger._valid_client_namespace(c, l) IS DISTINCT FROM accepted $$,
    'ledger._valid_client_namespace: api:* for the login wallet_service only, sql:<login> for that login only, '
    'ledger:* for no login (the ledger''s own), anything else for any login but wallet_service; never NULL');
SELECT is(
    (SELECT count(DISTINCT rule) FROM tap_rule_cases WHERE accepted)
        + (SELECT count(DISTINCT rule) FROM tap_rule_cases WHERE NOT accepted), 8::bigint,
    'each predicate is seen accepting and refusing');

-- ---------------------------------------------------------------------------------------------
-- The data guards (migrations 0001 and 0003) accept exactly what the rules accept. They are
-- left as written: a domain or CHECK calling a rule function would be cached in each session
-- and not see the function replaced, and the migrations cannot call a function that
-- db/functions creates after them. A NULL is not a value here: the columns' NOT NULL (or, for a
-- system wallet's owner, its absence) is theirs.
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.type_accepts(p_value text, p_type regtype)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE format('SELECT %L::%s', p_value, p_type);
    RETURN true;
EXCEPTION WHEN check_violation THEN
    RETURN false;
END
$$;
-- an INSERT into ledger.api_keys, taken back by raising: true unless a CHECK refused it
CREATE FUNCTION pg_temp.api_keys_accept(p_name text, p_scopes text[])
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO ledger.api_keys (name, key_hash, key_prefix, scopes)
    VALUES (p_name, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'wk_tap', p_scopes);
    RAISE EXCEPTION 'accepted' USING ERRCODE = 'P0001';
EXCEPTION
    WHEN check_violation THEN RETURN false;
    WHEN raise_exception THEN RETURN true;
END
$$;

SELECT is_empty(
    $$ SELECT value FROM tap_rule_cases WHERE rule = 'user_id' AND value IS NOT NULL
         AND pg_temp.type_accepts(value, 'ledger.user_id') <> ledger._valid_user_id(value) $$,
    'domain ledger.user_id (wallets.owner_id) accepts exactly what ledger._valid_user_id accepts');
SELECT is_empty(
    $$ SELECT value FROM tap_rule_cases WHERE rule = 'idempotency_key' AND value IS NOT NULL
         AND pg_temp.type_accepts(value, 'ledger.idempotency_key') <> ledger._valid_idempotency_key(value) $$,
    'domain ledger.idempotency_key (transactions.idempotency_key) accepts exactly what ledger._valid_idempotency_key accepts');
SELECT is_empty(
    $$ SELECT value FROM tap_rule_cases WHERE rule = 'client_id' AND value IS NOT NULL
         AND pg_temp.type_accepts(value, 'ledger.client_id') <> ledger._valid_client_id(value) $$,
    'domain ledger.client_id (transactions.client_id) accepts exactly what ledger._valid_client_id accepts');
SELECT is_empty(
    $$ SELECT n FROM (VALUES (0), (1), (2), (499), (500), (501), (5000)) AS c (n)
       WHERE pg_temp.type_accepts(repeat('d', n), 'ledger.description')
             <> (n BETWEEN 1 AND ledger._description_max_length()) $$,
    'domain ledger.description accepts exactly 1 to ledger._description_max_length() characters');
SELECT is_empty(
    $$ SELECT value FROM tap_rule_cases WHERE rule = 'api_key_name' AND value IS NOT NULL
         AND pg_temp.api_keys_accept(value, ARRAY['wallet:read']) <> ledger._valid_api_key_name(value) $$,
    'the CHECK on ledger.api_keys.name accepts exactly what ledger._valid_api_key_name accepts');
SELECT is_empty(
    $$ SELECT scopes FROM (VALUES (ARRAY['wallet:read']), (ARRAY['wallet:topup']), (ARRAY['wallet:bonus']),
                                  (ARRAY['wallet:spend']), (ledger._api_scopes()),
                                  (ARRAY['wallet:spend', 'wallet:read']), (ARRAY['wallet:admin']),
                                  (ARRAY['wallet:read', 'wallet:admin']), (ARRAY['Wallet:Read']),
                                  (ARRAY['wallet:read ']), (ARRAY[]::text[])) AS c (scopes)
       WHERE pg_temp.api_keys_accept('tap-rule-scopes', scopes)
             <> (cardinality(scopes) > 0 AND scopes <@ ledger._api_scopes()) $$,
    'the CHECK on ledger.api_keys.scopes accepts exactly the non-empty sets of ledger._api_scopes()');
SELECT is_empty($$ SELECT * FROM ledger.api_keys WHERE name ~ '^tap-rule' OR key_prefix = 'wk_tap' $$,
    'probing the api_keys CHECKs left no key behind');

-- ---------------------------------------------------------------------------------------------
-- The rules where the API applies them
-- ---------------------------------------------------------------------------------------------
-- a DEFAULT is evaluated with the caller's rights, so p_limit's default is the number itself
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.oid IN ('api.wallet_entries(bigint, integer, integer, bigint)'::regprocedure,
                       'api.ledger_page(bigint, integer, integer, bigint)'::regprocedure,
                       'api.statement(bigint, timestamptz, timestamptz, integer, bigint)'::regprocedure)
         AND substring(pg_catalog.pg_get_function_arguments(p.oid) FROM 'p_limit integer DEFAULT (\d+)')::integer
             IS DISTINCT FROM ledger._page_limit_default() $$,
    'the DEFAULT of p_limit in api.wallet_entries, api.ledger_page and api.statement is ledger._page_limit_default()');
-- wallet_service cannot call the rules: their values are read first, as the superuser
SELECT ledger._page_limit_max() AS page_max, ledger._page_limit_max() + 1 AS page_over \gset
SELECT tap.act_as('wallet_service');
SELECT transaction_id AS tx, wallet_id AS w
FROM api.topup('tap-rules-1', 'asset-gold-coin-001', 1, 'tap-rules-k1', '{}', 'api:' || repeat('c', 196)) \gset
SELECT lives_ok(format('SELECT * FROM api.ledger_page(%s, %s)', :w, :page_max),
    'api.ledger_page accepts a limit of ledger._page_limit_max()');
SELECT throws_ok(format('SELECT * FROM api.ledger_page(%s, %s)', :w, :page_over),
    'WPAGE', NULL, 'api.ledger_page refuses ledger._page_limit_max() + 1 (WPAGE)');
SELECT lives_ok(format('SELECT * FROM api.wallet_entries(%s, %s)', :w, :page_max),
    'api.wallet_entries accepts a limit of ledger._page_limit_max()');
SELECT throws_ok(format('SELECT * FROM api.wallet_entries(%s, %s)', :w, :page_over),
    'WPAGE', NULL, 'api.wallet_entries refuses ledger._page_limit_max() + 1 (WPAGE)');
SELECT throws_ok(format('SELECT * FROM api.balances(%L)', repeat('u', 129)), 'WUSER', NULL,
    'api.balances refuses a user id the rule refuses (WUSER)');
SELECT lives_ok(format('SELECT * FROM api.balances(%L)', repeat('u', 128)),
    'api.balances accepts a user id of 128 characters');
SELECT tap.act_as_superuser();
SELECT is((SELECT client_id::text FROM ledger.transactions WHERE id = :tx), 'api:' || repeat('c', 196),
    'a client id of 200 characters is stored whole');
SELECT tap.act_as('wallet_owner');
SELECT throws_ok(
    format($$ SELECT * FROM api.create_api_key(%L, ARRAY['wallet:read'], sha256('tap-rules-65'), 'wk_tr') $$,
           repeat('k', 65)),
    'WKNAM', NULL, 'api.create_api_key refuses a name the rule refuses (WKNAM)');
SELECT results_eq(
    $$ SELECT scopes FROM api.create_api_key('tap-rules-all', ledger._api_scopes(), sha256('tap-rules-all'), 'wk_tr') $$,
    $$ VALUES (ledger._api_scopes()) $$,
    'api.create_api_key accepts every scope of ledger._api_scopes() and returns them in its order');
SELECT throws_ok(
    $$ SELECT * FROM api.create_api_key('tap-rules-x', ARRAY['wallet:admin'], sha256('tap-rules-x'), 'wk_tr') $$,
    'WKSCP', NULL, 'api.create_api_key refuses a scope outside ledger._api_scopes() (WKSCP)');
SELECT tap.act_as_superuser();

SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance IMMEDIATE $$,
    'the top-up of this file passes the deferred double-entry check when it is forced');

SELECT * FROM finish();
ROLLBACK;
