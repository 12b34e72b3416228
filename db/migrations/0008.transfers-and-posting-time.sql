-- depends: 0007.audit-scope
-- Issue 15, the posting core grows up: transactions of any number of legs (transfers between two
-- users, reversals), a transaction that names the one it reverses, and the time each entry was
-- posted. (The index that finds a transaction's reversals is built CONCURRENTLY by 0009.)
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

-- A reversal's mode, kept with it (a replay with another mode is another request, and a balance
-- below zero must be explained by a reversal that was allowed to make it): 'strict' refuses to
-- take a user below zero, 'allow_negative' takes the whole amount back regardless.
CREATE TYPE ledger.reversal_mode AS ENUM ('strict', 'allow_negative');
ALTER TABLE ledger.transactions ADD COLUMN reversal_mode ledger.reversal_mode;

-- A user's balance may now go below zero, but only by a reversal in mode allow_negative (a store
-- refund of coins already spent). The CHECK cannot tell who writes the row, so it gives way to
-- the trigger wallets_negative_only_by_reversal (db/functions/10_ledger_private.sql), which
-- refuses every other way below zero, for every role, the owner's included.
ALTER TABLE ledger.wallets DROP CONSTRAINT wallets_user_balance_not_negative;

-- What api.reverse returns: the reversal, the user it takes from (else gives to) and, for a
-- transfer's reversal, the other user; what is left to reverse of the original after it.
CREATE TYPE ledger.reversal_posting AS (
    transaction_id          bigint,
    reverses_transaction_id bigint,
    user_id                 text,
    asset_id                text,
    wallet_id               bigint,
    balance                 numeric,
    counterparty_user_id    text,
    counterparty_wallet_id  bigint,
    counterparty_balance    numeric,
    amount                  numeric,
    remaining               numeric,
    replayed                boolean,
    created_at              timestamptz
);

-- The HTTP routes of the two new movements have scopes of their own: wallet:transfer (a gift
-- between players) and wallet:refund (reversals). The table's CHECK is the scope rule's data guard
-- (ledger._api_scopes(), db/CONVENTIONS.md "One source for each rule"). ledger.api_keys is small.
ALTER TABLE ledger.api_keys
    DROP CONSTRAINT api_keys_scopes_check,
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend',
                                   'wallet:audit', 'wallet:transfer', 'wallet:refund']);

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
