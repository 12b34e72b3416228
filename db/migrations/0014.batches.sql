-- depends: 0013.limits
-- Issue 17, batches: one call posts up to 1,000 top-ups, bonuses or spends of one asset for a
-- trusted job (api.post_batch, db/functions/26_api_batches.sql). Each item is a transaction of
-- its own, with the same rows a single call writes; what they share is the batch.
--
-- * ledger.batches: one row per batch, claimed by the batch's (client, key) before anything
--   moves, as a single call claims its key in ledger.transactions; its fingerprint tells a
--   replay (the same items: the stored results come back) from a reuse (idempotency_key_reused),
--   and its results are what the call answered.
-- * ledger.transactions.batch_id: the batch an item belongs to; NULL for single calls. No foreign
--   key: every single call would pay an RI trigger for its NULL; api.post_batch is the only
--   writer, and sql_tests/80_invariants.sql checks that each batch_id names a batch.
-- * The items' own keys are the ledger's (client ledger:batch, key '<batch id>:<index>'): no
--   caller may use a ledger:* client (ledger._valid_client_namespace), so an item never collides
--   with a single call's key.
-- * Scope wallet:batch for the HTTP route.
--
-- Nothing here rewrites or scans a table: a nullable column without a default, a new table, and
-- the small api_keys table's CHECK.

CREATE TABLE ledger.batches (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id       ledger.client_id NOT NULL,
    idempotency_key ledger.idempotency_key NOT NULL,
    type            ledger.transaction_type NOT NULL
        CONSTRAINT batches_type_check CHECK (type IN ('topup', 'bonus', 'spend')),
    asset_id        text COLLATE "C" NOT NULL REFERENCES ledger.assets,
    description     ledger.description,
    atomic          boolean NOT NULL,
    items           integer NOT NULL CONSTRAINT batches_items_check CHECK (items BETWEEN 1 AND 1000),
    fingerprint     text NOT NULL,
    results         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT batches_key_unique_per_client UNIQUE (client_id, idempotency_key)
);

ALTER TABLE ledger.transactions ADD COLUMN batch_id bigint;
-- a batch's transactions (a reader's "the rest of this batch"); partial: single calls add nothing
CREATE INDEX transactions_by_batch ON ledger.transactions (batch_id) WHERE batch_id IS NOT NULL;

ALTER TABLE ledger.api_keys
    DROP CONSTRAINT api_keys_scopes_check,
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend',
                                   'wallet:audit', 'wallet:transfer', 'wallet:refund',
                                   'wallet:hold', 'wallet:batch']);
