-- depends: 0007.audit-scope
-- Issue 15, the posting core grows up: transactions of any number of legs (transfers between two
-- users now, reversals next), a transaction that names the one it reverses, and the time each
-- entry was posted.
--
-- Nothing here rewrites or scans a table, so the ACCESS EXCLUSIVE locks are brief:
-- * ADD VALUE to an enum: allowed inside a transaction block since PostgreSQL 12 (yoyo runs each
--   migration in one), but a new value cannot be used before that transaction commits. Nothing
--   in this file uses them; the functions that do are applied by `wallet migrate` afterwards, in
--   a transaction of their own.
-- * Nullable columns without a default: a catalogue change only, no rewrite.
-- * The foreign key of reverses_transaction_id is added NOT VALID: every row written from now on
--   is checked, and the existing rows, all NULL, are valid by construction; validating it would
--   only scan ledger.transactions under this migration's lock. (Validate it in a migration of
--   its own, which takes SHARE UPDATE EXCLUSIVE only, if an auditor wants convalidated = true.)

ALTER TYPE ledger.transaction_type ADD VALUE IF NOT EXISTS 'transfer';
ALTER TYPE ledger.transaction_type ADD VALUE IF NOT EXISTS 'reversal';

ALTER TABLE ledger.transactions ADD COLUMN reverses_transaction_id bigint;
ALTER TABLE ledger.transactions
    ADD CONSTRAINT transactions_reverses_a_transaction
    FOREIGN KEY (reverses_transaction_id) REFERENCES ledger.transactions (id) NOT VALID;

-- One clock reading per transaction, taken after all its locks: it never decreases along a
-- wallet's versions. NULL for the entries posted before this migration, whose time is their
-- transaction's created_at.
ALTER TABLE ledger.entries ADD COLUMN posted_at timestamptz;

-- What api.transfer returns: both users' sides.
CREATE TYPE ledger.transfer_posting AS (
    transaction_id bigint,
    from_wallet_id bigint,
    from_balance   numeric,
    to_wallet_id   bigint,
    to_balance     numeric,
    replayed       boolean,
    amount         numeric,
    created_at     timestamptz
);
