-- depends: 0004.posting-amount-and-time
-- What `wallet migrate` keeps for itself: which version of each file of db/functions/ the
-- database holds, so that a deploy re-applies only the files that changed (and, through
-- deploy.ensure_trigger, touches a trigger only when its definition changed). Not the books:
-- no role but the owner sees schema deploy. Grants are restated in db/functions/00_privileges.sql.

CREATE SCHEMA deploy;
REVOKE ALL ON SCHEMA deploy FROM PUBLIC;

CREATE TABLE deploy.function_files (
    -- the file's name in db/functions/ (10_ledger_private.sql)
    file       text COLLATE "C" PRIMARY KEY,
    -- the SHA-256 of the file's bytes when it was applied, in hex
    sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- the SHA-256 of the list of migrations applied at the time: a new migration can drop what a
    -- file made (a view in the way of a column change), so after one every file is applied again
    migrations text NOT NULL CHECK (migrations ~ '^[0-9a-f]{64}$'),
    applied_at timestamptz NOT NULL DEFAULT now()
);
