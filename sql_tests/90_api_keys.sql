-- API keys: the table, who may manage and who may only read them, and how create, list and revoke
-- behave. Every key made here is named tap-key-*; other keys in the database are left out of view.
-- (NOTIFY is delivered at commit, which this file never reaches: tests/cli/test_keys.py proves it.)
BEGIN;
\ir lib/helpers.psql
SELECT plan(82);

-- ---------------------------------------------------------------------------------------------
-- Structure
-- ---------------------------------------------------------------------------------------------
SELECT has_table('ledger', 'api_keys', 'ledger.api_keys exists');
SELECT columns_are('ledger', 'api_keys',
    ARRAY['id', 'name', 'key_hash', 'key_prefix', 'scopes', 'created_at', 'revoked_at'],
    'ledger.api_keys holds the key''s digest and prefix, never the key');
SELECT col_is_pk('ledger', 'api_keys', 'id', 'ledger.api_keys is keyed by id');
SELECT col_is_unique('ledger', 'api_keys', 'name', 'a key name is unique, revoked keys included');
SELECT col_is_unique('ledger', 'api_keys', 'key_hash', 'a key digest is unique');
SELECT is(
    (SELECT collation_name::text FROM information_schema.columns
     WHERE table_schema = 'ledger' AND table_name = 'api_keys' AND column_name = 'name'),
    'C', 'key names compare byte by byte (COLLATE "C"), as the client ids they make do');
SELECT col_not_null('ledger', 'api_keys', 'key_hash', 'a key has a digest');
SELECT col_not_null('ledger', 'api_keys', 'scopes', 'a key has scopes');
SELECT col_is_null('ledger', 'api_keys', 'revoked_at', 'revoked_at is NULL while a key is active');
SELECT has_function('api', 'create_api_key', ARRAY['text', 'text[]', 'bytea', 'text'],
    'api.create_api_key(text, text[], bytea, text) exists');
SELECT has_function('api', 'revoke_api_key', ARRAY['text'], 'api.revoke_api_key(text) exists');
SELECT has_function('api', 'list_api_keys', ARRAY[]::name[], 'api.list_api_keys() exists');
SELECT has_function('api', 'active_api_keys', ARRAY[]::name[], 'api.active_api_keys() exists');
SELECT volatility_is('api', 'active_api_keys', ARRAY[]::name[], 'stable',
    'api.active_api_keys is STABLE');
SELECT volatility_is('api', 'list_api_keys', ARRAY[]::name[], 'stable',
    'api.list_api_keys is STABLE');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.oid IN ('api.create_api_key(text, text[], bytea, text)'::regprocedure,
                       'api.revoke_api_key(text)'::regprocedure,
                       'api.list_api_keys()'::regprocedure, 'api.active_api_keys()'::regprocedure)
         AND (NOT p.prosecdef OR NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']
              OR pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL) $$,
    'the key functions are SECURITY DEFINER with search_path pinned, and each has a comment');

-- ---------------------------------------------------------------------------------------------
-- Privileges: the service may only learn the active digests; the auditor may only read
-- ---------------------------------------------------------------------------------------------
SELECT table_privs_are('ledger', 'api_keys', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on ledger.api_keys');
SELECT table_privs_are('ledger', 'api_keys', 'wallet_auditor', ARRAY[]::text[],
    'wallet_auditor may NOT read ledger.api_keys (digests); api.list_api_keys shows the keys');
SELECT function_privs_are('api', 'active_api_keys', ARRAY[]::name[], 'wallet_service',
    ARRAY['EXECUTE'], 'wallet_service may execute api.active_api_keys');
SELECT function_privs_are('api', 'create_api_key', ARRAY['text', 'text[]', 'bytea', 'text'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute api.create_api_key');
SELECT function_privs_are('api', 'revoke_api_key', ARRAY['text'], 'wallet_service',
    ARRAY[]::name[], 'wallet_service may NOT execute api.revoke_api_key');
SELECT function_privs_are('api', 'list_api_keys', ARRAY[]::name[], 'wallet_service',
    ARRAY[]::name[], 'wallet_service may NOT execute api.list_api_keys');
SELECT function_privs_are('api', 'list_api_keys', ARRAY[]::name[], 'wallet_auditor',
    ARRAY['EXECUTE'], 'wallet_auditor may execute api.list_api_keys');
SELECT function_privs_are('api', 'create_api_key', ARRAY['text', 'text[]', 'bytea', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.create_api_key');
SELECT function_privs_are('api', 'revoke_api_key', ARRAY['text'], 'wallet_auditor',
    ARRAY[]::name[], 'wallet_auditor may NOT execute api.revoke_api_key');
SELECT function_privs_are('api', 'active_api_keys', ARRAY[]::name[], 'wallet_auditor',
    ARRAY[]::name[], 'wallet_auditor may NOT execute api.active_api_keys');

-- ---------------------------------------------------------------------------------------------
-- Create, list, revoke (as the owner, as `wallet keys` does)
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_owner');
SELECT results_eq(
    $$ SELECT name, key_prefix, scopes, created_at = now()
       FROM api.create_api_key('tap-key-a', ARRAY['wallet:spend', 'wallet:read', 'wallet:spend'],
                               sha256('tap-key-a-secret'), 'wk_tapkeya') $$,
    $$ VALUES ('tap-key-a', 'wk_tapkeya', ARRAY['wallet:read', 'wallet:spend'], true) $$,
    'create returns the key''s name, prefix, scopes de-duplicated and sorted, and creation time');
SELECT lives_ok(
    $$ SELECT * FROM api.create_api_key('tap-key-b', ARRAY['wallet:topup', 'wallet:bonus', 'wallet:read', 'wallet:spend'],
                                        sha256('tap-key-b-secret'), 'wk_tapkeyb') $$,
    'a key may have all four scopes');
SELECT lives_ok(
    format($$ SELECT * FROM api.create_api_key(%L, ARRAY['wallet:read'], sha256('tap-key-64'), 'wk_tapkey6') $$,
           'tap-key-' || repeat('x', 56)),
    'a key name may be 64 characters long');
SELECT lives_ok(
    $$ SELECT * FROM api.create_api_key('tap-key-C.Z_0', ARRAY['wallet:read'], sha256('tap-key-c'), 'wk_tapkeyc') $$,
    'a key name may hold letters of both cases, digits and ._-');
SELECT results_eq(
    $$ SELECT scopes FROM ledger.api_keys WHERE name = 'tap-key-a' $$,
    $$ VALUES (ARRAY['wallet:read', 'wallet:spend']) $$,
    'the table holds the normalised scopes');
SELECT results_eq(
    $$ SELECT key_hash FROM ledger.api_keys WHERE name = 'tap-key-a' $$,
    $$ VALUES (sha256('tap-key-a-secret')) $$,
    'the table holds the digest it was given');
SELECT results_eq(
    $$ SELECT name, key_prefix, scopes, revoked_at FROM api.list_api_keys() WHERE name LIKE 'tap-key-%' $$,
    format($$ VALUES ('tap-key-C.Z_0', 'wk_tapkeyc', ARRAY['wallet:read'], NULL::timestamptz),
                     ('tap-key-a', 'wk_tapkeya', ARRAY['wallet:read', 'wallet:spend'], NULL),
                     ('tap-key-b', 'wk_tapkeyb', ARRAY['wallet:bonus', 'wallet:read', 'wallet:spend', 'wallet:topup'], NULL),
                     (%L, 'wk_tapkey6', ARRAY['wallet:read'], NULL) $$,
           'tap-key-' || repeat('x', 56)),
    'list shows every key by name (byte order: upper case first), with prefix and scopes, not revoked');
SELECT results_eq(
    $$ SELECT key_hash, name, scopes FROM api.active_api_keys() WHERE name IN ('tap-key-a', 'tap-key-b') $$,
    $$ VALUES (sha256('tap-key-a-secret'), 'tap-key-a', ARRAY['wallet:read', 'wallet:spend']),
              (sha256('tap-key-b-secret'), 'tap-key-b', ARRAY['wallet:bonus', 'wallet:read', 'wallet:spend', 'wallet:topup']) $$,
    'active_api_keys gives each active key''s digest, name and scopes');

SELECT api.revoke_api_key('tap-key-a') AS revoked_a \gset
SELECT is(:'revoked_a'::timestamptz, now(), 'revoke returns when the key was revoked');
SELECT results_eq(
    $$ SELECT revoked_at FROM api.list_api_keys() WHERE name = 'tap-key-a' $$,
    $$ VALUES (now()) $$,
    'list shows a revoked key with its revoked_at');
SELECT is_empty(
    $$ SELECT * FROM api.active_api_keys() WHERE name = 'tap-key-a' OR key_hash = sha256('tap-key-a-secret') $$,
    'a revoked key is no longer among the active keys');
SELECT isnt_empty(
    $$ SELECT * FROM api.active_api_keys() WHERE name = 'tap-key-b' $$,
    'revoking one key leaves the others active');
-- now() is the same all through one transaction: a key revoked at an earlier time (a direct
-- UPDATE from NULL, which is a revocation too) tells the first revocation from the second
UPDATE ledger.api_keys SET revoked_at = '2020-01-02 03:04:05+00' WHERE name = 'tap-key-C.Z_0';
SELECT is(api.revoke_api_key('tap-key-C.Z_0'), '2020-01-02 03:04:05+00'::timestamptz,
    'revoking a revoked key returns its first revoked_at');
SELECT is((SELECT revoked_at FROM ledger.api_keys WHERE name = 'tap-key-C.Z_0'), '2020-01-02 03:04:05+00'::timestamptz,
    'revoking a revoked key keeps its first revoked_at');

-- ---------------------------------------------------------------------------------------------
-- A key row is never deleted, and changes only by its revocation (triggers api_keys_are_kept and
-- api_keys_change_only_by_revocation): its name scopes its clients' idempotency keys (api:<name>),
-- so a key deleted or renamed would let a new key of that name inherit them. WIMUT for every
-- role, the owner and a superuser included.
-- ---------------------------------------------------------------------------------------------
CREATE TEMP TABLE tap_keys_before AS SELECT * FROM ledger.api_keys;
SELECT throws_ok($$ DELETE FROM ledger.api_keys WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'the owner cannot DELETE a revoked key (WIMUT)');
SELECT throws_ok($$ DELETE FROM ledger.api_keys WHERE name = 'tap-key-b' $$,
    'WIMUT', NULL, 'the owner cannot DELETE an active key (WIMUT)');
SELECT throws_ok($$ DELETE FROM ledger.api_keys WHERE false $$,
    'WIMUT', NULL, 'the owner cannot even run a DELETE on ledger.api_keys that matches no row (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.api_keys $$,
    'WIMUT', NULL, 'the owner cannot TRUNCATE ledger.api_keys (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET name = 'tap-key-a-old' WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'the owner cannot rename a key (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET key_hash = sha256('tap-key-b-new') WHERE name = 'tap-key-b' $$,
    'WIMUT', NULL, 'the owner cannot change a key''s digest (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET scopes = ARRAY['wallet:read'] WHERE name = 'tap-key-b' $$,
    'WIMUT', NULL, 'the owner cannot change a key''s scopes (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET revoked_at = NULL WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'the owner cannot take a revocation back (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET revoked_at = revoked_at + interval '1 day' WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'the owner cannot move a revocation (WIMUT)');
SELECT lives_ok($$ UPDATE ledger.api_keys SET revoked_at = revoked_at WHERE name = 'tap-key-a' $$,
    'an UPDATE that changes nothing is no change (as revoking a revoked key is)');
SELECT tap.act_as_superuser();
SELECT throws_ok($$ DELETE FROM ledger.api_keys WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'a superuser cannot DELETE a key either (WIMUT)');
SELECT throws_ok($$ TRUNCATE ledger.api_keys $$,
    'WIMUT', NULL, 'a superuser cannot TRUNCATE ledger.api_keys either (WIMUT)');
SELECT throws_ok($$ UPDATE ledger.api_keys SET name = 'tap-key-a-old' WHERE name = 'tap-key-a' $$,
    'WIMUT', NULL, 'a superuser cannot rename a key either (WIMUT)');
SELECT set_eq($$ SELECT * FROM ledger.api_keys $$, $$ SELECT * FROM tap_keys_before $$,
    'after every attempt every key row is as it was');
SELECT tap.act_as('wallet_owner');

-- ---------------------------------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------------------------------
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap key', ARRAY['wallet:read'], sha256('e1'), 'wk_e1') $$,
    'WKNAM', NULL, 'a name with a space is invalid_api_key_name (WKNAM)');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('', ARRAY['wallet:read'], sha256('e2'), 'wk_e2') $$,
    'WKNAM', NULL, 'an empty name is WKNAM');
SELECT throws_ok($$ SELECT * FROM api.create_api_key(NULL, ARRAY['wallet:read'], sha256('e3'), 'wk_e3') $$,
    'WKNAM', NULL, 'a NULL name is WKNAM');
SELECT throws_ok(
    format($$ SELECT * FROM api.create_api_key(%L, ARRAY['wallet:read'], sha256('e4'), 'wk_e4') $$,
           'tap-key-' || repeat('x', 57)),
    'WKNAM', NULL, 'a name of 65 characters is WKNAM');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key:e5', ARRAY['wallet:read'], sha256('e5'), 'wk_e5') $$,
    'WKNAM', NULL, 'a name with a colon is WKNAM');
SELECT throws_ok($$ SELECT * FROM api.create_api_key(E'tap-key-e6\n', ARRAY['wallet:read'], sha256('e6'), 'wk_e6') $$,
    'WKNAM', NULL, 'a name ending in a newline is WKNAM');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-b', ARRAY['wallet:read'], sha256('e7'), 'wk_e7') $$,
    'WKDUP', NULL, 'the name of an active key is api_key_name_taken (WKDUP)');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-a', ARRAY['wallet:read'], sha256('e8'), 'wk_e8') $$,
    'WKDUP', NULL, 'the name of a revoked key is WKDUP too: names are never reused');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-e9', ARRAY['wallet:read', 'wallet:admin'], sha256('e9'), 'wk_e9') $$,
    'WKSCP', NULL, 'an unknown scope is invalid_api_key_scopes (WKSCP)');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-e10', ARRAY[]::text[], sha256('e10'), 'wk_e10') $$,
    'WKSCP', NULL, 'an empty scope list is WKSCP');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-e11', NULL, sha256('e11'), 'wk_e11') $$,
    'WKSCP', NULL, 'a NULL scope list is WKSCP');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-e12', ARRAY['wallet:read', NULL], sha256('e12'), 'wk_e12') $$,
    'WKSCP', NULL, 'a NULL scope is WKSCP');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-e13', ARRAY['Wallet:Read'], sha256('e13'), 'wk_e13') $$,
    'WKSCP', NULL, 'scopes are case-sensitive: Wallet:Read is WKSCP');
SELECT throws_ok($$ SELECT api.revoke_api_key('tap-key-nobody') $$,
    'WKNOF', NULL, 'revoking an unknown name is api_key_not_found (WKNOF)');
SELECT throws_ok($$ SELECT api.revoke_api_key(NULL) $$, 'WKNOF', NULL, 'revoking NULL is WKNOF');
SELECT throws_ok(
    $$ SELECT * FROM api.create_api_key('tap-key-e14', ARRAY['wallet:read'], '\x0102'::bytea, 'wk_e14') $$,
    '23514', NULL, 'a digest that is not 32 bytes long is refused by the table');
SELECT throws_ok(
    $$ SELECT * FROM api.create_api_key('tap-key-e15', ARRAY['wallet:read'], sha256('tap-key-b-secret'), 'wk_e15') $$,
    '23505', NULL, 'a digest already registered under another name is refused by the table');
SELECT is_empty($$ SELECT * FROM ledger.api_keys WHERE name ~ '^tap-key-e' OR name = 'tap key' $$,
    'no refused call left a key behind');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- wallet_service and wallet_auditor, for real
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT isnt_empty($$ SELECT * FROM api.active_api_keys() WHERE name = 'tap-key-b' $$,
    'wallet_service can call api.active_api_keys');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-s1', ARRAY['wallet:read'], sha256('s1'), 'wk_s1') $$,
    '42501', NULL, 'wallet_service cannot call api.create_api_key');
SELECT throws_ok($$ SELECT api.revoke_api_key('tap-key-b') $$, '42501', NULL,
    'wallet_service cannot call api.revoke_api_key');
SELECT throws_ok($$ SELECT * FROM api.list_api_keys() $$, '42501', NULL,
    'wallet_service cannot call api.list_api_keys');
SELECT throws_ok($$ SELECT * FROM ledger.api_keys $$, '42501', NULL,
    'wallet_service cannot SELECT ledger.api_keys');
SELECT tap.act_as_superuser();

SELECT tap.act_as('wallet_auditor');
SELECT isnt_empty($$ SELECT * FROM api.list_api_keys() WHERE name = 'tap-key-b' $$,
    'wallet_auditor can call api.list_api_keys');
SELECT throws_ok($$ SELECT * FROM api.create_api_key('tap-key-u1', ARRAY['wallet:read'], sha256('u1'), 'wk_u1') $$,
    '42501', NULL, 'wallet_auditor cannot call api.create_api_key');
SELECT throws_ok($$ SELECT api.revoke_api_key('tap-key-b') $$, '42501', NULL,
    'wallet_auditor cannot call api.revoke_api_key');
SELECT throws_ok($$ UPDATE ledger.api_keys SET revoked_at = NULL $$, '42501', NULL,
    'wallet_auditor cannot UPDATE ledger.api_keys');
SELECT tap.act_as_superuser();
SELECT is((SELECT revoked_at IS NULL FROM ledger.api_keys WHERE name = 'tap-key-b'), true,
    'the refused revocations left tap-key-b active');

SELECT * FROM finish();
ROLLBACK;
