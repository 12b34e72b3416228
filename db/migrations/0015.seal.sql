-- depends: 0014.batches
-- Issue 18, the seal: every committed transaction gets a sequence number in
-- one gap-free order and a SHA-256 hash chained to the previous one's, written by a background
-- sealer (api.seal, db/functions/27_seal.sql), never by the posting itself.
--
-- * ledger.transactions.commit_xid: the top-level transaction id (xid8) that wrote the row,
--   from a column default, so every writer sets it without a statement of its own. It is how the
--   sealer finds what is unsealed, exactly, although ids come from cached sequences and commit
--   out of order: a row whose commit_xid is below a snapshot's xmin belongs to a transaction that
--   has ended, so it is either visible (committed) or gone for good (rolled back). Nothing newer
--   can appear below that xmin. The column is added without a default first and given it next,
--   so that the table is not rewritten; rows written before this migration keep NULL (all of
--   them committed: the ALTER waits for every writer) and are sealed first, in id order.
-- * transactions_by_commit_xid (commit_xid, id): the sealer's scan from where it stopped. One
--   index insert per posting; measured with the rest (docs/performance.md once it lands).
-- * ledger.seals: one row per sealed transaction; ledger.seal_state: where the sealer stopped
--   (one row, locked by the sealer, so that two sealers take turns).
-- * Scope wallet:events for GET /api/v1/events.

ALTER TABLE ledger.transactions ADD COLUMN commit_xid xid8;
ALTER TABLE ledger.transactions ALTER COLUMN commit_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX transactions_by_commit_xid ON ledger.transactions (commit_xid, id) WHERE commit_xid IS NOT NULL;

CREATE TABLE ledger.seals (
    sequence       bigint PRIMARY KEY CONSTRAINT seals_sequence_check CHECK (sequence > 0),
    transaction_id bigint NOT NULL CONSTRAINT seals_transaction_once UNIQUE REFERENCES ledger.transactions,
    hash           bytea NOT NULL CONSTRAINT seals_hash_check CHECK (octet_length(hash) = 32),
    sealed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE ledger.seal_state (
    singleton       boolean PRIMARY KEY DEFAULT true CONSTRAINT seal_state_singleton CHECK (singleton),
    -- the rows written before this migration (commit_xid NULL) sealed up to this id
    legacy_last_id  bigint NOT NULL DEFAULT 0,
    legacy_done     boolean NOT NULL DEFAULT false,
    -- everything at or before (frontier_xid, frontier_id) in (commit_xid, id) order is sealed
    frontier_xid    xid8 NOT NULL DEFAULT '0',
    frontier_id     bigint NOT NULL DEFAULT 0,
    last_sequence   bigint NOT NULL DEFAULT 0,
    last_hash       bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    sealed_at       timestamptz
);
INSERT INTO ledger.seal_state DEFAULT VALUES;

ALTER TABLE ledger.api_keys
    DROP CONSTRAINT api_keys_scopes_check,
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend',
                                   'wallet:audit', 'wallet:transfer', 'wallet:refund',
                                   'wallet:hold', 'wallet:batch', 'wallet:events']);
