-- depends: 0003.api-keys
-- Scope wallet:audit: the ledgers of system accounts (Treasury and Revenue slots) show every
-- client's descriptions, metadata and user ids, so reading them needs a scope of its own
-- (docs/http-api.md). The table's CHECK names the scopes a key may hold, as
-- ledger._api_scopes() does. api_keys is written by people, not on the posting path, so the
-- ACCESS EXCLUSIVE lock of this ALTER is brief and blocks no posting.

ALTER TABLE ledger.api_keys
    DROP CONSTRAINT api_keys_scopes_check,
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend',
                                   'wallet:audit']);
