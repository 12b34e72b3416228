-- The ledger's argument rules, each written once. Every function that checks a rule calls these
-- (db/CONVENTIONS.md lists the copies that cannot: the migrations' data guards, the Python edge).
--
-- Each is LANGUAGE sql IMMUTABLE with a single expression and no SECURITY DEFINER, no SET clause
-- and no STRICT, so that the planner inlines it where it is called: ledger._post's check costs
-- what the same expression written inline costs, and a rule without arguments is folded into a
-- constant when the caller's plan is made. Anything that stops the inlining (a SET clause, a
-- second statement, SECURITY DEFINER, plpgsql) turns each check into a function call on the
-- posting path; sql_tests/05_rules.sql proves that they are inlined.
--
-- The predicates are false for NULL, never NULL. Callable by the owner only (the Python tests
-- call them as the owner or a superuser to compare the service's copies with them).

CREATE OR REPLACE FUNCTION ledger._valid_user_id(p_user_id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_user_id IS NOT NULL AND length(p_user_id) <= 128 AND p_user_id ~ '^[A-Za-z0-9._:@-]+$';
COMMENT ON FUNCTION ledger._valid_user_id(text) IS
    'The user id rule: 1 to 128 characters of letters, digits and ._:@- (ASCII only). False for NULL. Raised as WUSER.';
REVOKE ALL ON FUNCTION ledger._valid_user_id(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._valid_idempotency_key(p_idempotency_key text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_idempotency_key IS NOT NULL AND length(p_idempotency_key) <= 255
       AND p_idempotency_key ~ '^[ -~]+$';
COMMENT ON FUNCTION ledger._valid_idempotency_key(text) IS
    'The idempotency key rule: 1 to 255 printable ASCII characters (space to ~). False for NULL. Raised as WIKEY.';
REVOKE ALL ON FUNCTION ledger._valid_idempotency_key(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._valid_client_id(p_client_id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_client_id IS NOT NULL AND length(p_client_id) BETWEEN 1 AND 200;
COMMENT ON FUNCTION ledger._valid_client_id(text) IS
    'The client id rule (the scope of idempotency keys): 1 to 200 characters, any. False for NULL. Raised as WCLNT.';
REVOKE ALL ON FUNCTION ledger._valid_client_id(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- Whose client ids: idempotency keys are scoped by client, so a caller that could name another's
-- client could claim that client's keys (issue 14). The login role decides, never the role acting
-- (SET ROLE does not change session_user; inside api.* current_user is the owner): api:<key name>
-- is the HTTP service's, whose login is wallet_service; sql:<login> is each login's own, the
-- client of a call that names none; a job (any other login) names any other client. The service
-- uses its own two only, so a job's keys and the service's never meet, whichever way. Superusers
-- are logins like any other here (one can SET SESSION AUTHORIZATION wallet_service: the database
-- cannot guard against its superusers).
CREATE OR REPLACE FUNCTION ledger._valid_client_namespace(p_client_id text, p_login text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN left(p_client_id, 4) = 'api:' THEN p_login = 'wallet_service'
            WHEN left(p_client_id, 4) = 'sql:' THEN p_client_id = 'sql:' || p_login
            -- the ledger's own (api.expire_holds writes client ledger:expiry): a caller taking
            -- one of its keys first would leave that hold unexpirable
            WHEN left(p_client_id, 7) = 'ledger:' THEN false
            ELSE p_client_id IS NOT NULL AND p_login <> 'wallet_service' END IS TRUE;
COMMENT ON FUNCTION ledger._valid_client_namespace(text, text) IS
    'Whether a login may use a client id: api:<key name> only the HTTP service''s login wallet_service, sql:<login> only that login, ledger:* no caller (the ledger''s own, as api.expire_holds''s ledger:expiry), any other client id any login but wallet_service. False for NULL. Raised as WCLNS.';
REVOKE ALL ON FUNCTION ledger._valid_client_namespace(text, text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._description_max_length()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 500;
COMMENT ON FUNCTION ledger._description_max_length() IS
    'The most characters a spend''s description or a bonus''s reason may have (500). Raised as WDESC.';
REVOKE ALL ON FUNCTION ledger._description_max_length()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._metadata_max_bytes()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 4096;
COMMENT ON FUNCTION ledger._metadata_max_bytes() IS
    'The most bytes a transaction''s metadata may take as JSON text (octet_length(metadata::text), 4096). Raised as WMETA.';
REVOKE ALL ON FUNCTION ledger._metadata_max_bytes()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._page_limit_default()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 50;
COMMENT ON FUNCTION ledger._page_limit_default() IS
    'How many entries a ledger page holds when the caller does not say (50): the DEFAULT of p_limit.';
REVOKE ALL ON FUNCTION ledger._page_limit_default()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._page_limit_max()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 200;
COMMENT ON FUNCTION ledger._page_limit_max() IS
    'The most entries a ledger page may hold (200); a limit is 1 to this. Raised as WPAGE.';
REVOKE ALL ON FUNCTION ledger._page_limit_max()
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._api_scopes()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['wallet:audit', 'wallet:batch', 'wallet:bonus', 'wallet:events', 'wallet:hold', 'wallet:read', 'wallet:refund', 'wallet:spend',
             'wallet:topup', 'wallet:transfer']::text[];
COMMENT ON FUNCTION ledger._api_scopes() IS
    'The scopes an API key may have, sorted (byte order). Raised as WKSCP.';
REVOKE ALL ON FUNCTION ledger._api_scopes() FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

CREATE OR REPLACE FUNCTION ledger._valid_api_key_name(p_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_name IS NOT NULL AND length(p_name) <= 64 AND p_name ~ '^[A-Za-z0-9._-]+$';
COMMENT ON FUNCTION ledger._valid_api_key_name(text) IS
    'The API key name rule: 1 to 64 characters of letters, digits and ._- (ASCII only). False for NULL. Raised as WKNAM.';
REVOKE ALL ON FUNCTION ledger._valid_api_key_name(text)
    FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
