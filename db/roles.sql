-- Cluster roles of the wallet service. Run by a superuser (or a role with CREATEROLE); idempotent.
-- wallet_owner   owns the schemas; migrations run as it; the SQL API's functions run with its rights.
-- wallet_service the HTTP service: may only execute the API functions; the only login that may use
--                client ids api:<key name> (ledger._valid_client_namespace), and it uses no other.
-- wallet_job     trusted internal jobs, a login of their own: may only execute the API functions,
--                with client ids of their own, never the service's.
-- wallet_auditor read-only, for reconciling the books in psql.
-- Passwords are an operator's business (ALTER ROLE ... PASSWORD); none is set here.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'wallet_owner') THEN
        CREATE ROLE wallet_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'wallet_service') THEN
        CREATE ROLE wallet_service LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'wallet_job') THEN
        CREATE ROLE wallet_job LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'wallet_auditor') THEN
        CREATE ROLE wallet_auditor LOGIN;
    END IF;
END
$$;
