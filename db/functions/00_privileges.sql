-- Who may do what with the schemas, tables and sequences: every grant of these objects is here,
-- stated in full for each object (REVOKE ALL, then what it gets) and applied again whenever it
-- changes and after every new migration (service/cli/migrate.py), so this file is the whole
-- truth whatever the migrations once granted. A new table gets its lines here. Functions and
-- views are granted right under their definitions instead (REVOKE ALL FROM PUBLIC, then GRANT to
-- the roles that need them); sql_tests/00_schema_and_privileges.sql proves the result, down to
-- what each role must NOT be able to do. db/CONVENTIONS.md: who gets what.
--
--   wallet_owner    owns everything below and keeps every privilege an owner has
--   wallet_service  USAGE on schema api only: it reaches the tables through the SECURITY DEFINER
--                   functions of schema api and nothing else
--   wallet_job      the same as wallet_service (trusted jobs, a login of their own)
--   wallet_auditor  USAGE on both schemas, SELECT on the ledger tables (never on ledger.api_keys)

-- Nothing is callable by default: a function is executable by PUBLIC unless revoked, so the
-- owner's new functions start without that grant (as set once by migration 0001, restated).
ALTER DEFAULT PRIVILEGES FOR ROLE wallet_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Schemas
REVOKE ALL ON SCHEMA api FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT USAGE ON SCHEMA api TO wallet_service, wallet_job, wallet_auditor;
REVOKE ALL ON SCHEMA ledger FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT USAGE ON SCHEMA ledger TO wallet_auditor;

-- The books: the auditor reads them, nobody else but the owner touches them
REVOKE ALL ON TABLE ledger.assets FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.assets TO wallet_auditor;
REVOKE ALL ON TABLE ledger.wallets FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.wallets TO wallet_auditor;
REVOKE ALL ON TABLE ledger.transactions FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.transactions TO wallet_auditor;
REVOKE ALL ON TABLE ledger.entries FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.entries TO wallet_auditor;
REVOKE ALL ON TABLE ledger.holds FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.holds TO wallet_auditor;
-- The limits' overrides (migration 0013): configuration an auditor may read; written only through
-- api.set_user_limits and api.clear_user_limits
REVOKE ALL ON TABLE ledger.user_limits FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.user_limits TO wallet_auditor;
-- The seal (migration 0015): written by api.seal only, read by the auditor
REVOKE ALL ON TABLE ledger.seals, ledger.seal_state FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
GRANT SELECT ON TABLE ledger.seals, ledger.seal_state TO wallet_auditor;

-- API key digests are not the books: the owner only. The service learns the active keys through
-- api.active_api_keys(), auditors list them (without digests) through api.list_api_keys().
REVOKE ALL ON TABLE ledger.api_keys FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
-- Webhook subscriptions (migration 0016) hold the secrets that sign deliveries: the owner's only,
-- like the keys. Everyone else goes through db/functions/29_webhooks.sql (api.webhooks() lists
-- them without the secret).
REVOKE ALL ON TABLE ledger.webhooks FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- The identity sequences: the owner's only (the functions that insert run with its rights)
REVOKE ALL ON SEQUENCE ledger.wallets_id_seq, ledger.transactions_id_seq, ledger.entries_id_seq,
    ledger.api_keys_id_seq, ledger.holds_id_seq, ledger.webhooks_id_seq FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;

-- What `wallet migrate` records of the function files it applied (migration 0006): the owner's
-- only, like deploy.ensure_trigger (db/functions/01_deploy.sql)
REVOKE ALL ON SCHEMA deploy FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
REVOKE ALL ON TABLE deploy.function_files FROM PUBLIC, wallet_service, wallet_job, wallet_auditor;
