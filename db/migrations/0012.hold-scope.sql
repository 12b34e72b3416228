-- depends: 0011.holds
-- Scope wallet:hold: the HTTP routes of holds (authorize, capture, void) need a right of their
-- own, so a key that may spend may not reserve a player's coins. The table's CHECK is the scope
-- rule's data guard (ledger._api_scopes(), db/CONVENTIONS.md "One source for each rule").
-- ledger.api_keys is small and written by people, so the ALTER's lock is brief.

ALTER TABLE ledger.api_keys
    DROP CONSTRAINT api_keys_scopes_check,
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend',
                                   'wallet:audit', 'wallet:transfer', 'wallet:refund',
                                   'wallet:hold']);
