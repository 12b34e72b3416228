-- Structure and privileges: what exists, who owns it, and what each role may and may NOT do.
-- The catalog checks (function_privs_are, table_privs_are, ...) are backed by behaviour: each
-- role actually tries what it must not be able to do.
BEGIN;
\ir lib/helpers.psql
SELECT plan(177);

-- ---------------------------------------------------------------------------------------------
-- Structure
-- ---------------------------------------------------------------------------------------------
SELECT has_schema('ledger', 'schema ledger exists');
SELECT has_schema('api', 'schema api exists');
SELECT tables_are('ledger', ARRAY['assets', 'wallets', 'transactions', 'entries', 'holds', 'api_keys',
                                  'user_limits', 'batches', 'seals', 'seal_state', 'webhooks'],
    'schema ledger holds exactly the four ledger tables, the holds, the API keys, the users'' limits, the batches, the seal and the webhooks');
SELECT tables_are('api', ARRAY[]::name[], 'schema api holds no tables');
SELECT views_are('api',
    ARRAY['trial_balance', 'wallet_drift', 'negative_user_balances', 'unbalanced_transactions',
          'system_accounts'],
    'schema api holds exactly the five reconciliation views');
SELECT functions_are('api',
    ARRAY['topup', 'grant_bonus', 'open_balance', 'spend', 'transfer', 'reverse', 'negative_balances',
          'authorize_hold', 'capture_hold', 'void_hold', 'get_hold', 'expire_holds',
          'balances', 'wallet', 'wallet_entries',
          'ledger_page', 'transaction_entries', 'get_transaction', 'reconcile',
          'create_api_key', 'revoke_api_key', 'list_api_keys', 'active_api_keys',
          'set_asset_limits', 'set_user_limits', 'clear_user_limits', 'limits', 'asset_limits',
          'limit_overrides', 'post_batch', 'seal', 'seal_status', 'verify_seal', 'events',
          'balances_at', 'statement', 'webhook_add', 'webhooks', 'webhook_disable', 'webhook_enable',
          'webhook_claim', 'webhook_delivered', 'webhook_failed', 'webhook_release'],
    'schema api holds exactly the SQL API functions');
SELECT functions_are('ledger',
    ARRAY['_post', '_replay', '_replay_transfer', '_replay_reversal', '_reversal_posting',
          '_reversed_amount', '_lock_system_slot', '_check_negative_balance', '_checked_amount',
          '_check_call', '_reject_change', '_check_transaction_balances',
          '_check_entry_transaction_is_new', '_check_wallet_identity', '_check_api_key_change',
          '_check_page', '_wallet_lines', '_page_of', '_check_limits', '_check_limit_value',
          '_hold_posting', '_lock_open_hold', '_find_hold', '_replay_hold', '_replay_hold_resolution',
          '_resolve_hold', '_check_hold_change', '_add_holds_slots', '_batch_errors', '_check_batch_balances', '_check_batch_change',
          '_seal_forms', '_seal_hash', '_version_at', '_check_moment',
          '_webhook_event_types', '_webhook_check_lease',
          '_valid_user_id', '_valid_idempotency_key', '_valid_client_id', '_valid_client_namespace',
          '_valid_api_key_name',
          '_description_max_length', '_metadata_max_bytes', '_page_limit_default',
          '_page_limit_max', '_api_scopes'],
    'schema ledger holds exactly the private helpers and the rule functions');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace AND p.proname !~ '^_' $$,
    'every function of schema ledger is private (its name starts with _)');
-- the API runs with the owner's rights, so a caller cannot redirect it with its own search_path
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'api'::regnamespace
         AND NOT (p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']) $$,
    'every api function is SECURITY DEFINER with search_path pinned to pg_catalog, pg_temp');
-- the double-entry trigger's function runs with the owner's rights at commit: the same pin applies
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace AND p.prosecdef
         AND NOT p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'] $$,
    'every SECURITY DEFINER helper of schema ledger has search_path pinned to pg_catalog, pg_temp');
SELECT has_trigger('ledger', 'transactions', 'transactions_are_immutable',
    'ledger.transactions has its immutability trigger');
SELECT has_trigger('ledger', 'entries', 'entries_are_immutable',
    'ledger.entries has its immutability trigger');
SELECT has_trigger('ledger', 'transactions', 'transactions_balance',
    'ledger.transactions has its double-entry trigger');
SELECT is(
    (SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
     WHERE t.tgrelid = 'ledger.transactions'::regclass AND t.tgname = 'transactions_balance'),
    'CREATE CONSTRAINT TRIGGER transactions_balance AFTER INSERT ON ledger.transactions '
    'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.batch_id IS NULL)) '
    'EXECUTE FUNCTION ledger._check_transaction_balances()',
    'the double-entry trigger is a constraint trigger on each new transaction, deferred to commit (a batch''s items: by their batch)');
SELECT is(
    (SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
     WHERE t.tgrelid = 'ledger.entries'::regclass AND t.tgname = 'entries_of_new_transactions'),
    'CREATE TRIGGER entries_of_new_transactions BEFORE INSERT ON ledger.entries FOR EACH ROW '
    'WHEN ((SESSION_USER <> ALL (ARRAY[''wallet_service''::name, ''wallet_job''::name]))) '
    'EXECUTE FUNCTION ledger._check_entry_transaction_is_new()',
    'every new entry written by a session that can write entries itself is checked to belong to a transaction of its own database transaction');
SELECT ok(NOT has_table_privilege(r, 'ledger.entries', 'INSERT')
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members AS m
                          JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid
                          WHERE m.member = r::regrole AND g.rolname = 'wallet_owner'),
    r || ' cannot write ledger.entries but through api.* (so entries_of_new_transactions may skip it)')
FROM unnest(ARRAY['wallet_service', 'wallet_job']) AS r;
SELECT results_eq(
    $$ SELECT t.tgname::text COLLATE "default", pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
       WHERE t.tgrelid = 'ledger.api_keys'::regclass AND NOT t.tgisinternal ORDER BY t.tgname $$,
    $$ VALUES ('api_keys_are_kept',
               'CREATE TRIGGER api_keys_are_kept BEFORE DELETE OR TRUNCATE ON ledger.api_keys '
               'FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_api_key_change()'),
              ('api_keys_change_only_by_revocation',
               'CREATE TRIGGER api_keys_change_only_by_revocation BEFORE UPDATE ON ledger.api_keys '
               'FOR EACH ROW EXECUTE FUNCTION ledger._check_api_key_change()') $$,
    'API keys are never deleted and change only by their revocation (two triggers)');
SELECT has_trigger('ledger', 'wallets', 'wallets_identity',
    'ledger.wallets has its identity trigger');
SELECT is(
    (SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
     WHERE t.tgrelid = 'ledger.wallets'::regclass AND t.tgname = 'wallets_identity'),
    'CREATE TRIGGER wallets_identity BEFORE INSERT OR UPDATE OF asset_id, kind, owner_id, slot '
    'ON ledger.wallets FOR EACH ROW EXECUTE FUNCTION ledger._check_wallet_identity()',
    'the identity trigger fires on each inserted wallet and on updates of asset, kind, owner or slot only');
-- the column rules live in domains: a column that lost its domain would lose its rule
SELECT results_eq(
    $$ SELECT c.table_name::text COLLATE "default", c.column_name::text COLLATE "default",
              c.domain_name::text COLLATE "default"
       FROM information_schema.columns AS c
       WHERE c.table_schema = 'ledger' AND c.domain_schema = 'ledger'
       ORDER BY 1, 2 $$,
    $$ VALUES ('batches', 'client_id', 'client_id'), ('batches', 'description', 'description'),
              ('batches', 'idempotency_key', 'idempotency_key'),
              ('entries', 'amount', 'nonzero_amount'), ('entries', 'wallet_version', 'entry_version'),
              ('holds', 'client_id', 'client_id'), ('holds', 'idempotency_key', 'idempotency_key'),
              ('holds', 'user_id', 'user_id'),
              ('transactions', 'client_id', 'client_id'), ('transactions', 'description', 'description'),
              ('transactions', 'idempotency_key', 'idempotency_key'),
              ('transactions', 'metadata', 'json_object'), ('user_limits', 'user_id', 'user_id'),
              ('wallets', 'owner_id', 'user_id'), ('wallets', 'slot', 'slot_number'),
              ('wallets', 'version', 'wallet_version') $$,
    'the ledger columns with rules are typed by their domains');
SELECT col_is_pk('ledger', 'entries', ARRAY['transaction_id', 'id'],
    'ledger.entries is keyed by (transaction_id, id), so a transaction''s entries are found by the key''s prefix');
SELECT results_eq(
    $$ SELECT id COLLATE "default", code, scale::int, max_amount FROM ledger.assets ORDER BY id $$,
    $$ VALUES ('asset-diamond-001', 'DIAMOND', 2, 1000000000::numeric),
              ('asset-gold-coin-001', 'GOLD_COIN', 2, 1000000000::numeric),
              ('asset-loyalty-001', 'LOYALTY_POINT', 2, 1000000000::numeric) $$,
    'the three assets of the contract exist, with 2 decimal places and a maximum of 1e9');
SELECT results_eq(
    $$ SELECT a.id COLLATE "default", w.kind::text, count(w.id)::int
       FROM ledger.assets AS a JOIN ledger.wallets AS w ON w.asset_id = a.id AND w.kind <> 'user'
       GROUP BY a.id, w.kind ORDER BY a.id, w.kind $$,
    $$ VALUES ('asset-diamond-001', 'treasury', 64), ('asset-diamond-001', 'revenue', 64),
              ('asset-diamond-001', 'holds', 64),
              ('asset-gold-coin-001', 'treasury', 64), ('asset-gold-coin-001', 'revenue', 64),
              ('asset-gold-coin-001', 'holds', 64),
              ('asset-loyalty-001', 'treasury', 64), ('asset-loyalty-001', 'revenue', 64),
              ('asset-loyalty-001', 'holds', 64) $$,
    'every asset has a Treasury, a Revenue and a holds account of 64 slots each');
-- a new asset gets its holds slots from trigger assets_have_holds_slots (migration 0011 gave the
-- existing ones theirs)
INSERT INTO ledger.assets (id, code, name, scale, max_amount, system_slots)
VALUES ('asset-tap-new-001', 'TAP_NEW', 'A new asset', 0, 1000, 3);
SELECT results_eq(
    $$ SELECT w.kind::text, w.slot::int, w.balance, w.version::int FROM ledger.wallets AS w
       WHERE w.asset_id = 'asset-tap-new-001' ORDER BY w.kind, w.slot $$,
    $$ VALUES ('holds', 0, 0::numeric, 0), ('holds', 1, 0::numeric, 0), ('holds', 2, 0::numeric, 0) $$,
    'a new asset gets its holds slots (as many as its system_slots) from trigger assets_have_holds_slots');
SELECT results_eq(
    $$ SELECT t.tgname::text COLLATE "default", pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
       WHERE t.tgrelid IN ('ledger.holds'::regclass, 'ledger.assets'::regclass) AND NOT t.tgisinternal
       ORDER BY t.tgname $$,
    $$ VALUES ('assets_have_holds_slots',
               'CREATE TRIGGER assets_have_holds_slots AFTER INSERT ON ledger.assets '
               'FOR EACH ROW EXECUTE FUNCTION ledger._add_holds_slots()'),
              ('holds_are_kept',
               'CREATE TRIGGER holds_are_kept BEFORE DELETE OR TRUNCATE ON ledger.holds '
               'FOR EACH STATEMENT EXECUTE FUNCTION ledger._check_hold_change()'),
              ('holds_change_only_by_resolution',
               'CREATE TRIGGER holds_change_only_by_resolution BEFORE UPDATE ON ledger.holds '
               'FOR EACH ROW EXECUTE FUNCTION ledger._check_hold_change()') $$,
    'holds are never deleted and change only by their resolution (two triggers); new assets get holds slots');
SELECT is(
    (SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index AS i
     WHERE i.indexrelid = 'ledger.holds_open_by_expiry'::regclass),
    'CREATE INDEX holds_open_by_expiry ON ledger.holds USING btree (expires_at, id) WHERE (status = ''open''::ledger.hold_status)',
    'the sweep finds the due open holds by index holds_open_by_expiry (partial: open holds only)');

-- ---------------------------------------------------------------------------------------------
-- The database documents itself: \d+, \dT+, \dD+, \dn+ and \df+ explain every object of api
-- and ledger. A new object without a COMMENT fails here (db/CONVENTIONS.md says where it goes).
-- ---------------------------------------------------------------------------------------------
SELECT is_empty(
    $$ SELECT n.nspname FROM pg_catalog.pg_namespace AS n
       WHERE n.nspname IN ('api', 'ledger') AND pg_catalog.obj_description(n.oid, 'pg_namespace') IS NULL $$,
    'schemas api and ledger have a comment');
SELECT is_empty(
    $$ SELECT c.oid::regclass FROM pg_catalog.pg_class AS c
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND pg_catalog.obj_description(c.oid, 'pg_class') IS NULL $$,
    'every table and view of api and ledger has a comment');
SELECT is_empty(
    $$ SELECT c.oid::regclass::text || '.' || a.attname FROM pg_catalog.pg_class AS c
       JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND pg_catalog.col_description(c.oid, a.attnum) IS NULL $$,
    'every column of a table or view, and every attribute of a composite type, of api and ledger has a comment');
SELECT is_empty(
    $$ SELECT t.oid::regtype FROM pg_catalog.pg_type AS t
       LEFT JOIN pg_catalog.pg_class AS c ON c.oid = t.typrelid
       WHERE t.typnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND (t.typtype IN ('e', 'd', 'r', 'm') OR c.relkind = 'c')
         AND pg_catalog.obj_description(t.oid, 'pg_type') IS NULL $$,
    'every enum, domain, range and composite type of api and ledger has a comment');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL $$,
    'every function of api and ledger has a comment, the private helpers and trigger functions included');

-- ---------------------------------------------------------------------------------------------
-- Roles and ownership
-- ---------------------------------------------------------------------------------------------
SELECT has_role('wallet_owner', 'role wallet_owner exists');
SELECT has_role('wallet_service', 'role wallet_service exists');
SELECT has_role('wallet_job', 'role wallet_job exists');
SELECT has_role('wallet_auditor', 'role wallet_auditor exists');
SELECT isnt_superuser('wallet_owner', 'wallet_owner is not a superuser');
SELECT isnt_superuser('wallet_service', 'wallet_service is not a superuser');
SELECT isnt_superuser('wallet_job', 'wallet_job is not a superuser');
SELECT isnt_superuser('wallet_auditor', 'wallet_auditor is not a superuser');
SELECT is_empty(
    $$ SELECT r.rolname FROM pg_catalog.pg_roles AS r
       WHERE r.rolname IN ('wallet_service', 'wallet_job', 'wallet_auditor')
         AND (r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication
              OR pg_catalog.pg_has_role(r.rolname, 'wallet_owner', 'MEMBER')) $$,
    'wallet_service, wallet_job and wallet_auditor have no special attributes and are not members of wallet_owner');
-- each login gets its own privileges, not another's: a job may not SET ROLE wallet_service
SELECT is_empty(
    $$ SELECT r.rolname || ' in ' || o.rolname FROM pg_catalog.pg_roles AS r, pg_catalog.pg_roles AS o
       WHERE r.rolname IN ('wallet_service', 'wallet_job', 'wallet_auditor')
         AND o.rolname IN ('wallet_service', 'wallet_job', 'wallet_auditor') AND r.rolname <> o.rolname
         AND pg_catalog.pg_has_role(r.rolname, o.rolname, 'MEMBER') $$,
    'none of wallet_service, wallet_job and wallet_auditor is a member of another');
SELECT schema_owner_is('ledger', 'wallet_owner', 'wallet_owner owns schema ledger');
SELECT schema_owner_is('api', 'wallet_owner', 'wallet_owner owns schema api');
SELECT is_empty(
    $$ SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND c.relowner <> 'wallet_owner'::regrole
       UNION ALL
       SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND p.proowner <> 'wallet_owner'::regrole $$,
    'wallet_owner owns every table, view, sequence and function of api and ledger');
SELECT is_empty(
    $$ SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c
       WHERE c.relowner IN ('wallet_service'::regrole, 'wallet_job'::regrole, 'wallet_auditor'::regrole)
       UNION ALL
       SELECT p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
       WHERE p.proowner IN ('wallet_service'::regrole, 'wallet_job'::regrole, 'wallet_auditor'::regrole)
       UNION ALL
       SELECT n.nspname::text FROM pg_catalog.pg_namespace AS n
       WHERE n.nspowner IN ('wallet_service'::regrole, 'wallet_job'::regrole, 'wallet_auditor'::regrole)
       UNION ALL
       SELECT t.oid::regtype::text FROM pg_catalog.pg_type AS t
       WHERE t.typowner IN ('wallet_service'::regrole, 'wallet_job'::regrole, 'wallet_auditor'::regrole) $$,
    'wallet_service, wallet_job and wallet_auditor own nothing');

-- ---------------------------------------------------------------------------------------------
-- Schema privileges
-- ---------------------------------------------------------------------------------------------
SELECT schema_privs_are('api', 'wallet_service', ARRAY['USAGE'],
    'wallet_service may use schema api (and not create in it)');
SELECT schema_privs_are('ledger', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on schema ledger');
SELECT schema_privs_are('api', 'wallet_job', ARRAY['USAGE'],
    'wallet_job may use schema api (and not create in it)');
SELECT schema_privs_are('ledger', 'wallet_job', ARRAY[]::name[],
    'wallet_job has no privilege on schema ledger');
SELECT schema_privs_are('api', 'wallet_auditor', ARRAY['USAGE'],
    'wallet_auditor may use schema api (and not create in it)');
SELECT schema_privs_are('ledger', 'wallet_auditor', ARRAY['USAGE'],
    'wallet_auditor may use schema ledger (and not create in it)');

-- ---------------------------------------------------------------------------------------------
-- Table and view privileges
-- ---------------------------------------------------------------------------------------------
SELECT table_privs_are('ledger', 'assets', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on ledger.assets');
SELECT table_privs_are('ledger', 'wallets', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on ledger.wallets');
SELECT table_privs_are('ledger', 'transactions', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on ledger.transactions');
SELECT table_privs_are('ledger', 'entries', 'wallet_service', ARRAY[]::name[],
    'wallet_service has no privilege on ledger.entries');
SELECT table_privs_are('ledger', 'assets', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT ledger.assets');
SELECT table_privs_are('ledger', 'wallets', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT ledger.wallets');
SELECT table_privs_are('ledger', 'transactions', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT ledger.transactions');
SELECT table_privs_are('ledger', 'entries', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT ledger.entries');

SELECT table_privs_are('api', 'trial_balance', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT api.trial_balance');
-- the console's books page (service/console/): totals per asset, nothing of any one user
SELECT table_privs_are('api', 'trial_balance', 'wallet_service', ARRAY['SELECT'],
    'wallet_service may only SELECT api.trial_balance');
SELECT table_privs_are('api', 'wallet_drift', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT api.wallet_drift');
SELECT table_privs_are('api', 'negative_user_balances', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT api.negative_user_balances');
SELECT table_privs_are('api', 'unbalanced_transactions', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT api.unbalanced_transactions');
SELECT table_privs_are('api', 'system_accounts', 'wallet_auditor', ARRAY['SELECT'],
    'wallet_auditor may only SELECT api.system_accounts');
-- the service reconciles through api.reconcile(); the views are the auditor's, but for the
-- totals per asset of api.trial_balance, which the console's books page reads (and only reads)
SELECT is_empty(
    $$ SELECT c.oid::regclass FROM pg_catalog.pg_class AS c
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND c.oid <> 'api.trial_balance'::regclass
         AND (pg_catalog.has_table_privilege('wallet_service', c.oid,
                  'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
              OR (c.relkind = 'S'
                  AND pg_catalog.has_sequence_privilege('wallet_service', c.oid,
                                                        'USAGE, SELECT, UPDATE'))) $$,
    'wallet_service has no privilege on any table, view or sequence of api or ledger but api.trial_balance');
SELECT is_empty(
    $$ SELECT c.oid::regclass FROM pg_catalog.pg_class AS c
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND (pg_catalog.has_table_privilege('wallet_job', c.oid,
                  'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
              OR (c.relkind = 'S'
                  AND pg_catalog.has_sequence_privilege('wallet_job', c.oid,
                                                        'USAGE, SELECT, UPDATE'))) $$,
    'wallet_job has no privilege on any table, view or sequence of api or ledger');
SELECT is_empty(
    $$ SELECT c.oid::regclass FROM pg_catalog.pg_class AS c
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
         AND (pg_catalog.has_table_privilege('wallet_auditor', c.oid,
                  'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
              OR (c.relkind = 'S'
                  AND pg_catalog.has_sequence_privilege('wallet_auditor', c.oid, 'USAGE, UPDATE'))) $$,
    'wallet_auditor can change no table, view or sequence of api or ledger');

-- ---------------------------------------------------------------------------------------------
-- Every grant, exactly: each privilege any role but the owner holds on a schema, table, view,
-- sequence or function of api and ledger (defaults expanded). Tables, sequences and schemas are
-- granted by db/functions/00_privileges.sql, views and functions right under their definitions.
-- ---------------------------------------------------------------------------------------------
SELECT set_eq(
    $$ SELECT g.kind, g.object, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
              g.privilege
       FROM (SELECT 'schema' AS kind, n.nspname::text AS object, a.grantee, a.privilege_type AS privilege,
                    n.nspowner AS owner
             FROM pg_catalog.pg_namespace AS n,
                  aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a
             WHERE n.nspname IN ('api', 'ledger')
             UNION ALL
             SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' ELSE 'sequence' END,
                    c.oid::regclass::text, a.grantee, a.privilege_type, c.relowner
             FROM pg_catalog.pg_class AS c,
                  aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                           c.relowner))) AS a
             WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace)
               AND c.relkind IN ('r', 'v', 'S', 'm', 'p', 'f')
             UNION ALL
             SELECT 'function', p.oid::regprocedure::text, a.grantee, a.privilege_type, p.proowner
             FROM pg_catalog.pg_proc AS p,
                  aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
             WHERE p.pronamespace IN ('api'::regnamespace, 'ledger'::regnamespace)) AS g
       WHERE g.grantee <> g.owner $$,
    $$ VALUES
       ('function', 'api.active_api_keys()', 'wallet_service', 'EXECUTE'),
       ('function', 'api.balances_at(text,timestamp with time zone,text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.balances_at(text,timestamp with time zone,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.balances_at(text,timestamp with time zone,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.statement(bigint,timestamp with time zone,timestamp with time zone,integer,bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.statement(bigint,timestamp with time zone,timestamp with time zone,integer,bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.statement(bigint,timestamp with time zone,timestamp with time zone,integer,bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.events(bigint,integer)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.events(bigint,integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.events(bigint,integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.seal(integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.seal(integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.seal_status()', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.seal_status()', 'wallet_job', 'EXECUTE'),
       ('function', 'api.seal_status()', 'wallet_service', 'EXECUTE'),
       ('function', 'api.verify_seal()', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.verify_seal()', 'wallet_job', 'EXECUTE'),
       ('table', 'ledger.seals', 'wallet_auditor', 'SELECT'),
       ('function', 'api.webhook_add(text,text,text[],bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhooks()', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.webhooks()', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhooks()', 'wallet_service', 'EXECUTE'),
       ('function', 'api.webhook_disable(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_enable(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_claim(uuid,integer,integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_claim(uuid,integer,integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.webhook_delivered(bigint,uuid,bigint,integer,integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_delivered(bigint,uuid,bigint,integer,integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.webhook_failed(bigint,uuid,text,integer,integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_failed(bigint,uuid,text,integer,integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.webhook_release(bigint,uuid)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.webhook_release(bigint,uuid)', 'wallet_service', 'EXECUTE'),
       ('table', 'ledger.seal_state', 'wallet_auditor', 'SELECT'),
       ('function', 'api.authorize_hold(text,text,numeric,text,text,interval,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.post_batch(ledger.transaction_type,text,text[],numeric[],text,text,boolean,jsonb[],text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.post_batch(ledger.transaction_type,text,text[],numeric[],text,text,boolean,jsonb[],text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.authorize_hold(text,text,numeric,text,text,interval,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.capture_hold(bigint,numeric,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.capture_hold(bigint,numeric,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.expire_holds(integer)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.expire_holds(integer)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.get_hold(bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.get_hold(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.get_hold(bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.balances(text,text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.balances(text,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.balances(text,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.clear_user_limits(text,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.get_transaction(bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.get_transaction(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.get_transaction(bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.grant_bonus(text,text,numeric,text,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.grant_bonus(text,text,numeric,text,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.ledger_page(bigint,integer,integer,bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.ledger_page(bigint,integer,integer,bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.ledger_page(bigint,integer,integer,bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.asset_limits(text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.asset_limits(text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.limit_overrides(text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.limit_overrides(text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.limits(text,text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.limits(text,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.limits(text,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.list_api_keys()', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.negative_balances(text)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.negative_balances(text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.negative_balances(text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.reconcile()', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.reconcile()', 'wallet_job', 'EXECUTE'),
       ('function', 'api.reconcile()', 'wallet_service', 'EXECUTE'),
       ('function', 'api.reverse(bigint,numeric,text,text,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.reverse(bigint,numeric,text,text,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.set_asset_limits(text,numeric,numeric,numeric,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.set_user_limits(text,text,numeric,numeric,numeric)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.spend(text,text,numeric,text,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.spend(text,text,numeric,text,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.topup(text,text,numeric,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.topup(text,text,numeric,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.transaction_entries(bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.transaction_entries(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.transaction_entries(bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.transfer(text,text,text,numeric,text,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.transfer(text,text,text,numeric,text,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.void_hold(bigint,text,jsonb,text)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.void_hold(bigint,text,jsonb,text)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.wallet(bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.wallet(bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.wallet(bigint)', 'wallet_service', 'EXECUTE'),
       ('function', 'api.wallet_entries(bigint,integer,integer,bigint)', 'wallet_auditor', 'EXECUTE'),
       ('function', 'api.wallet_entries(bigint,integer,integer,bigint)', 'wallet_job', 'EXECUTE'),
       ('function', 'api.wallet_entries(bigint,integer,integer,bigint)', 'wallet_service', 'EXECUTE'),
       ('schema', 'api', 'wallet_auditor', 'USAGE'),
       ('schema', 'api', 'wallet_job', 'USAGE'),
       ('schema', 'api', 'wallet_service', 'USAGE'),
       ('schema', 'ledger', 'wallet_auditor', 'USAGE'),
       ('table', 'ledger.assets', 'wallet_auditor', 'SELECT'),
       ('table', 'ledger.entries', 'wallet_auditor', 'SELECT'),
       ('table', 'ledger.holds', 'wallet_auditor', 'SELECT'),
       ('table', 'ledger.transactions', 'wallet_auditor', 'SELECT'),
       ('table', 'ledger.user_limits', 'wallet_auditor', 'SELECT'),
       ('table', 'ledger.wallets', 'wallet_auditor', 'SELECT'),
       ('view', 'api.negative_user_balances', 'wallet_auditor', 'SELECT'),
       ('view', 'api.system_accounts', 'wallet_auditor', 'SELECT'),
       ('view', 'api.trial_balance', 'wallet_auditor', 'SELECT'),
       ('view', 'api.trial_balance', 'wallet_service', 'SELECT'),
       ('view', 'api.unbalanced_transactions', 'wallet_auditor', 'SELECT'),
       ('view', 'api.wallet_drift', 'wallet_auditor', 'SELECT') $$,
    'the roles hold exactly these privileges on api and ledger, and nothing else (the rule functions and helpers: none)');

-- ---------------------------------------------------------------------------------------------
-- Function privileges
-- ---------------------------------------------------------------------------------------------
SELECT function_privs_are('api', 'topup', ARRAY['text', 'text', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.topup');
SELECT function_privs_are('api', 'grant_bonus',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.grant_bonus');
SELECT function_privs_are('api', 'spend',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.spend');
SELECT function_privs_are('api', 'transfer',
    ARRAY['text', 'text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.transfer');
SELECT function_privs_are('api', 'reverse',
    ARRAY['bigint', 'numeric', 'text', 'text', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.reverse');
SELECT function_privs_are('api', 'open_balance',
    ARRAY['text', 'text', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute api.open_balance');
SELECT function_privs_are('api', 'authorize_hold',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'interval', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.authorize_hold');
SELECT function_privs_are('api', 'capture_hold', ARRAY['bigint', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.capture_hold');
SELECT function_privs_are('api', 'void_hold', ARRAY['bigint', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.void_hold');
SELECT function_privs_are('api', 'get_hold', ARRAY['bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.get_hold');
SELECT function_privs_are('api', 'expire_holds', ARRAY['integer'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.expire_holds (the sweeper runs with the service)');
SELECT function_privs_are('api', 'balances', ARRAY['text', 'text'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.balances');
SELECT function_privs_are('api', 'wallet', ARRAY['bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.wallet');
SELECT function_privs_are('api', 'wallet_entries', ARRAY['bigint', 'integer', 'integer', 'bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.wallet_entries');
SELECT function_privs_are('api', 'ledger_page', ARRAY['bigint', 'integer', 'integer', 'bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.ledger_page');
SELECT function_privs_are('api', 'transaction_entries', ARRAY['bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.transaction_entries');
SELECT function_privs_are('api', 'get_transaction', ARRAY['bigint'],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.get_transaction');
SELECT function_privs_are('api', 'reconcile', ARRAY[]::name[],
    'wallet_service', ARRAY['EXECUTE'], 'wallet_service may execute api.reconcile');

-- a job may do what the service may, except load the API keys' digests
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'api'::regnamespace
         AND pg_catalog.has_function_privilege('wallet_job', p.oid, 'EXECUTE')
             <> ((pg_catalog.has_function_privilege('wallet_service', p.oid, 'EXECUTE')
                  AND p.oid <> 'api.active_api_keys()'::regprocedure)
                 OR p.oid IN ('api.set_asset_limits(text,numeric,numeric,numeric,text)'::regprocedure,
                              'api.set_user_limits(text,text,numeric,numeric,numeric)'::regprocedure,
                              'api.clear_user_limits(text,text)'::regprocedure,
                              'api.asset_limits(text)'::regprocedure,
                              'api.limit_overrides(text)'::regprocedure,
                              'api.verify_seal()'::regprocedure,
                              'api.webhook_add(text,text,text[],bigint)'::regprocedure,
                              'api.webhook_disable(bigint)'::regprocedure,
                              'api.webhook_enable(bigint)'::regprocedure)) $$,
    'wallet_job may execute exactly the api functions wallet_service may, but api.active_api_keys, and the limits'' setters and listings, the seal''s verification and the webhooks'' management (the service may not)');
SELECT function_privs_are('api', 'active_api_keys', ARRAY[]::name[],
    'wallet_job', ARRAY[]::name[], 'wallet_job may NOT execute api.active_api_keys (the key digests are the service''s)');
SELECT function_privs_are('api', 'open_balance',
    ARRAY['text', 'text', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_job', ARRAY[]::name[], 'wallet_job may NOT execute api.open_balance');

SELECT function_privs_are('api', 'topup', ARRAY['text', 'text', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.topup');
SELECT function_privs_are('api', 'grant_bonus',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.grant_bonus');
SELECT function_privs_are('api', 'spend',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.spend');
SELECT function_privs_are('api', 'transfer',
    ARRAY['text', 'text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.transfer');
SELECT function_privs_are('api', 'reverse',
    ARRAY['bigint', 'numeric', 'text', 'text', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.reverse');
SELECT function_privs_are('api', 'negative_balances', ARRAY['text'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.negative_balances');
SELECT function_privs_are('api', 'authorize_hold',
    ARRAY['text', 'text', 'numeric', 'text', 'text', 'interval', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.authorize_hold');
SELECT function_privs_are('api', 'capture_hold', ARRAY['bigint', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.capture_hold');
SELECT function_privs_are('api', 'void_hold', ARRAY['bigint', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.void_hold');
SELECT function_privs_are('api', 'expire_holds', ARRAY['integer'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.expire_holds');
SELECT function_privs_are('api', 'get_hold', ARRAY['bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.get_hold');
SELECT function_privs_are('api', 'open_balance',
    ARRAY['text', 'text', 'numeric', 'text', 'jsonb', 'text'],
    'wallet_auditor', ARRAY[]::name[], 'wallet_auditor may NOT execute api.open_balance');
SELECT function_privs_are('api', 'balances', ARRAY['text', 'text'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.balances');
SELECT function_privs_are('api', 'wallet', ARRAY['bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.wallet');
SELECT function_privs_are('api', 'wallet_entries', ARRAY['bigint', 'integer', 'integer', 'bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.wallet_entries');
SELECT function_privs_are('api', 'ledger_page', ARRAY['bigint', 'integer', 'integer', 'bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.ledger_page');
SELECT function_privs_are('api', 'transaction_entries', ARRAY['bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.transaction_entries');
SELECT function_privs_are('api', 'get_transaction', ARRAY['bigint'],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.get_transaction');
SELECT function_privs_are('api', 'reconcile', ARRAY[]::name[],
    'wallet_auditor', ARRAY['EXECUTE'], 'wallet_auditor may execute api.reconcile');

SELECT function_privs_are('ledger', '_post',
    ARRAY['ledger.transaction_type', 'text', 'text', 'numeric', 'text', 'text', 'jsonb', 'text'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute ledger._post');
SELECT function_privs_are('ledger', '_replay',
    ARRAY['text', 'text', 'ledger.transaction_type', 'text', 'text', 'numeric', 'text', 'jsonb'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute ledger._replay');
SELECT function_privs_are('ledger', '_replay_transfer',
    ARRAY['text', 'text', 'text', 'text', 'text', 'numeric', 'text', 'jsonb'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute ledger._replay_transfer');
SELECT has_column('ledger', 'entries', 'posted_at', 'ledger.entries has posted_at (migration 0008)');
SELECT function_privs_are('ledger', '_replay_reversal',
    ARRAY['text', 'text', 'bigint', 'numeric', 'text', 'ledger.reversal_mode', 'jsonb'],
    'wallet_service', ARRAY[]::name[], 'wallet_service may NOT execute ledger._replay_reversal');
SELECT is(
    (SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = 'ledger.transactions_reversals'::regclass),
    true, 'index transactions_reversals (migration 0009, built CONCURRENTLY) is valid');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace
         AND pg_catalog.has_function_privilege('wallet_service', p.oid, 'EXECUTE') $$,
    'wallet_service may execute no private helper of schema ledger');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace
         AND pg_catalog.has_function_privilege('wallet_job', p.oid, 'EXECUTE') $$,
    'wallet_job may execute no private helper of schema ledger');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
       WHERE p.pronamespace = 'ledger'::regnamespace
         AND pg_catalog.has_function_privilege('wallet_auditor', p.oid, 'EXECUTE') $$,
    'wallet_auditor may execute no private helper of schema ledger');

-- ---------------------------------------------------------------------------------------------
-- PUBLIC has nothing (a NULL ACL means the built-in default, which for functions is PUBLIC
-- EXECUTE, so defaults are expanded before looking)
-- ---------------------------------------------------------------------------------------------
SELECT is_empty(
    $$ SELECT n.nspname FROM pg_catalog.pg_namespace AS n,
              aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS a
       WHERE n.nspname IN ('api', 'ledger') AND a.grantee = 0 $$,
    'PUBLIC has no privilege on schemas api and ledger');
SELECT is_empty(
    $$ SELECT c.oid::regclass FROM pg_catalog.pg_class AS c,
              aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS a
       WHERE c.relnamespace IN ('api'::regnamespace, 'ledger'::regnamespace) AND a.grantee = 0 $$,
    'PUBLIC has no privilege on any table, view or sequence of api and ledger');
SELECT is_empty(
    $$ SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p,
              aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
       WHERE p.pronamespace IN ('api'::regnamespace, 'ledger'::regnamespace) AND a.grantee = 0 $$,
    'PUBLIC may execute no function of api and ledger');
SELECT is_empty(
    $$ SELECT d.defaclnamespace FROM pg_catalog.pg_default_acl AS d,
              aclexplode(d.defaclacl) AS a
       WHERE d.defaclrole = 'wallet_owner'::regrole AND d.defaclobjtype = 'f' AND a.grantee = 0 $$,
    'functions the owner creates later are not executable by PUBLIC either');

-- A role with no grants of its own has only what PUBLIC has: nothing.
CREATE ROLE tap_public_probe NOLOGIN;
SELECT tap.act_as('tap_public_probe');
SELECT throws_ok($$ SELECT * FROM api.balances('user-rich-001') $$, '42501', NULL,
    'a role with only PUBLIC''s rights cannot call api.balances');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-priv-public', 'asset-gold-coin-001', 1, 'tap-priv-public-1') $$,
    '42501', NULL, 'a role with only PUBLIC''s rights cannot call api.topup');
SELECT throws_ok($$ SELECT * FROM api.trial_balance $$, '42501', NULL,
    'a role with only PUBLIC''s rights cannot read api.trial_balance');
SELECT throws_ok($$ SELECT * FROM ledger.entries $$, '42501', NULL,
    'a role with only PUBLIC''s rights cannot read ledger.entries');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- wallet_service, for real: the API works, the tables and helpers do not
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT lives_ok($$ SELECT * FROM api.topup('tap-priv-1', 'asset-gold-coin-001', 10, 'tap-priv-topup') $$,
    'wallet_service can call api.topup');
SELECT lives_ok($$ SELECT * FROM api.grant_bonus('tap-priv-1', 'asset-gold-coin-001', 2, 'welcome', 'tap-priv-bonus') $$,
    'wallet_service can call api.grant_bonus');
SELECT lives_ok($$ SELECT * FROM api.spend('tap-priv-1', 'asset-gold-coin-001', 3, 'a sword', 'tap-priv-spend') $$,
    'wallet_service can call api.spend');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-priv-1', 'asset-gold-coin-001') $$,
    ARRAY['9.00'],
    'wallet_service can call api.balances and sees the result of its calls');
-- The double-entry check is deferred to commit, when api.*'s definer rights are over: it runs as
-- the committing role, which for the service reads no ledger table. Forcing it here, as
-- wallet_service, is what its COMMIT does. (wallet_service cannot name schema ledger, so ALL.)
SELECT lives_ok($$ SET CONSTRAINTS ALL IMMEDIATE $$,
    'wallet_service''s postings pass the double-entry check when it runs as wallet_service, as at its commit');
SELECT tap.act_as_superuser();
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.act_as('wallet_service');
SELECT lives_ok($$ SELECT * FROM api.ledger_page((SELECT wallet_id FROM api.balances('tap-priv-1', 'asset-gold-coin-001'))) $$,
    'wallet_service can call api.ledger_page');
SELECT lives_ok($$ SELECT * FROM api.reconcile() $$, 'wallet_service can call api.reconcile');
SELECT throws_ok($$ SELECT * FROM api.open_balance('tap-priv-1', 'asset-gold-coin-001', 5, 'tap-priv-open') $$,
    '42501', NULL, 'wallet_service cannot call api.open_balance');
SELECT throws_ok($$ SELECT * FROM ledger.assets $$, '42501', NULL,
    'wallet_service cannot SELECT ledger.assets');
SELECT throws_ok($$ SELECT * FROM ledger.wallets $$, '42501', NULL,
    'wallet_service cannot SELECT ledger.wallets');
SELECT throws_ok($$ SELECT * FROM ledger.transactions $$, '42501', NULL,
    'wallet_service cannot SELECT ledger.transactions');
SELECT throws_ok($$ SELECT * FROM ledger.entries $$, '42501', NULL,
    'wallet_service cannot SELECT ledger.entries');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap', 'tap-priv-x') $$,
    '42501', NULL, 'wallet_service cannot INSERT into ledger.transactions');
SELECT throws_ok($$ UPDATE ledger.wallets SET balance = balance + 1 $$, '42501', NULL,
    'wallet_service cannot UPDATE ledger.wallets');
SELECT throws_ok($$ DELETE FROM ledger.entries $$, '42501', NULL,
    'wallet_service cannot DELETE from ledger.entries');
SELECT throws_ok($$ SELECT ledger._check_page(10, 0, NULL) $$, '42501', NULL,
    'wallet_service cannot call a private helper (ledger._check_page)');
SELECT throws_ok($$ SELECT * FROM api.wallet_drift $$, '42501', NULL,
    'wallet_service cannot read the auditor''s views (api.wallet_drift)');
SELECT lives_ok($$ SELECT * FROM api.trial_balance $$,
    'wallet_service may read api.trial_balance, totals per asset (the console''s books)');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- wallet_job, for real: the money and read functions work, the tables, helpers and keys do not
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.topup('tap-priv-3', 'asset-gold-coin-001', 10, 'tap-priv-j1') $$,
    'wallet_job can call api.topup');
SELECT lives_ok($$ SELECT * FROM api.grant_bonus('tap-priv-3', 'asset-gold-coin-001', 2, 'welcome', 'tap-priv-j2') $$,
    'wallet_job can call api.grant_bonus');
SELECT lives_ok($$ SELECT * FROM api.spend('tap-priv-3', 'asset-gold-coin-001', 3, 'a sword', 'tap-priv-j3') $$,
    'wallet_job can call api.spend');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('tap-priv-3', 'asset-gold-coin-001') $$,
    ARRAY['9.00'],
    'wallet_job can call api.balances and sees the result of its calls');
SELECT lives_ok($$ SET CONSTRAINTS ALL IMMEDIATE $$,
    'wallet_job''s postings pass the double-entry check when it runs as wallet_job, as at its commit');
SELECT tap.act_as_superuser();
SET CONSTRAINTS ledger.transactions_balance DEFERRED;
SELECT tap.act_as('wallet_job');
SELECT lives_ok($$ SELECT * FROM api.reconcile() $$, 'wallet_job can call api.reconcile');
SELECT throws_ok($$ SELECT * FROM api.open_balance('tap-priv-3', 'asset-gold-coin-001', 5, 'tap-priv-j4') $$,
    '42501', NULL, 'wallet_job cannot call api.open_balance');
SELECT throws_ok($$ SELECT * FROM api.active_api_keys() $$, '42501', NULL,
    'wallet_job cannot call api.active_api_keys');
SELECT throws_ok($$ SELECT * FROM ledger.transactions $$, '42501', NULL,
    'wallet_job cannot SELECT ledger.transactions');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap', 'tap-priv-z') $$,
    '42501', NULL, 'wallet_job cannot INSERT into ledger.transactions');
SELECT throws_ok($$ UPDATE ledger.wallets SET balance = balance + 1 $$, '42501', NULL,
    'wallet_job cannot UPDATE ledger.wallets');
SELECT throws_ok($$ SELECT ledger._check_page(10, 0, NULL) $$, '42501', NULL,
    'wallet_job cannot call a private helper (ledger._check_page)');
SELECT throws_ok($$ SELECT * FROM api.trial_balance $$, '42501', NULL,
    'wallet_job cannot read the auditor''s views (api.trial_balance)');
SELECT throws_ok($$ SET ROLE wallet_service $$, '42501', NULL,
    'wallet_job cannot SET ROLE wallet_service');
SELECT tap.act_as_superuser();

-- ---------------------------------------------------------------------------------------------
-- wallet_auditor, for real: reads everything, changes nothing
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_auditor');
SELECT isnt_empty($$ SELECT * FROM ledger.assets $$, 'wallet_auditor can read ledger.assets');
SELECT isnt_empty($$ SELECT * FROM ledger.wallets $$, 'wallet_auditor can read ledger.wallets');
SELECT isnt_empty($$ SELECT * FROM ledger.transactions $$, 'wallet_auditor can read ledger.transactions');
SELECT isnt_empty($$ SELECT * FROM ledger.entries $$, 'wallet_auditor can read ledger.entries');
SELECT isnt_empty($$ SELECT * FROM api.trial_balance $$, 'wallet_auditor can read api.trial_balance');
SELECT lives_ok($$ SELECT * FROM api.wallet_drift $$, 'wallet_auditor can read api.wallet_drift');
SELECT lives_ok($$ SELECT * FROM api.negative_user_balances $$,
    'wallet_auditor can read api.negative_user_balances');
SELECT lives_ok($$ SELECT * FROM api.unbalanced_transactions $$,
    'wallet_auditor can read api.unbalanced_transactions');
SELECT isnt_empty($$ SELECT * FROM api.system_accounts $$, 'wallet_auditor can read api.system_accounts');
SELECT isnt_empty($$ SELECT * FROM api.reconcile() $$, 'wallet_auditor can call api.reconcile');
SELECT isnt_empty($$ SELECT * FROM api.balances('user-rich-001') $$, 'wallet_auditor can call api.balances');
SELECT throws_ok($$ SELECT * FROM api.topup('tap-priv-2', 'asset-gold-coin-001', 10, 'tap-priv-a1') $$,
    '42501', NULL, 'wallet_auditor cannot call api.topup');
SELECT throws_ok($$ SELECT * FROM api.spend('user-rich-001', 'asset-gold-coin-001', 1, 'x', 'tap-priv-a2') $$,
    '42501', NULL, 'wallet_auditor cannot call api.spend');
SELECT throws_ok($$ SELECT * FROM api.grant_bonus('tap-priv-2', 'asset-gold-coin-001', 1, 'x', 'tap-priv-a3') $$,
    '42501', NULL, 'wallet_auditor cannot call api.grant_bonus');
SELECT throws_ok(
    $$ INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap', 'tap-priv-y') $$,
    '42501', NULL, 'wallet_auditor cannot INSERT into ledger.transactions');
SELECT throws_ok($$ UPDATE ledger.wallets SET balance = balance + 1 $$, '42501', NULL,
    'wallet_auditor cannot UPDATE ledger.wallets');
SELECT throws_ok($$ DELETE FROM ledger.entries $$, '42501', NULL,
    'wallet_auditor cannot DELETE from ledger.entries');
SELECT throws_ok($$ SELECT ledger._check_page(10, 0, NULL) $$, '42501', NULL,
    'wallet_auditor cannot call a private helper (ledger._check_page)');
SELECT tap.act_as_superuser();

SELECT * FROM finish();
ROLLBACK;
