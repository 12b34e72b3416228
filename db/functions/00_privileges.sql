-- Schema-level privileges. Table privileges: none for wallet_service (it reaches the tables only
-- through the SECURITY DEFINER functions of schema api); SELECT for wallet_auditor.
GRANT USAGE ON SCHEMA api TO wallet_service, wallet_auditor;
GRANT USAGE ON SCHEMA ledger TO wallet_auditor;
REVOKE ALL ON ALL TABLES IN SCHEMA ledger FROM PUBLIC, wallet_service;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO wallet_auditor;
