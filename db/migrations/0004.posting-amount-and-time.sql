-- depends: 0002.assets-and-system-accounts
-- A money function's result carries what the HTTP answer shows besides the ids: the amount as
-- the asset shows it, and the transaction's creation time (the original's, on a replay), so a
-- replayed answer after every cache is gone is the same as the first one.

ALTER TYPE ledger.posting
    ADD ATTRIBUTE amount numeric,
    ADD ATTRIBUTE created_at timestamptz;
