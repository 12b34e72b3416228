-- depends: 0008.transfers-and-posting-time
-- transactional: false
--
-- The reversals of a transaction, found by reverses_transaction_id: api.reverse sums them (under
-- the lock of the original's user wallets) to refuse reversing more than the original, and the
-- transaction lookup lists them. Partial: only reversals carry the column.
--
-- Built CONCURRENTLY, so outside a transaction (yoyo's "transactional: false" above): a plain
-- CREATE INDEX would hold a SHARE lock on ledger.transactions, and so stop every posting, for as
-- long as it scans the table. A concurrent build that fails (its lock_timeout met while it waits
-- for older transactions, a cancel) leaves an INVALID index behind and yoyo does not record the
-- migration; the DROP first makes the next try start clean.
DROP INDEX CONCURRENTLY IF EXISTS ledger.transactions_reversals;
CREATE INDEX CONCURRENTLY transactions_reversals
    ON ledger.transactions (reverses_transaction_id) WHERE reverses_transaction_id IS NOT NULL;
