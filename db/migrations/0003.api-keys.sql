-- depends: 0002.assets-and-system-accounts
-- API keys of the HTTP service. Only a key's SHA-256 digest is stored; the key itself is shown
-- once, when it is created. Functions live in db/functions/50_api_keys.sql, grants in
-- db/functions/00_privileges.sql.

CREATE TABLE ledger.api_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Never reused, not even after a revocation: the service scopes its clients' idempotency
    -- keys by 'api:<name>', so a new key with an old name would replay the old key's requests.
    -- Table CHECKs are fine here: keys are written by people, not on the posting path.
    name       text COLLATE "C" NOT NULL
        CHECK (length(name) BETWEEN 1 AND 64 AND name ~ '^[A-Za-z0-9._-]+$'),
    key_hash   bytea NOT NULL CHECK (octet_length(key_hash) = 32),
    -- the key's first characters, so that people can tell keys apart in listings
    key_prefix text NOT NULL CHECK (length(key_prefix) BETWEEN 1 AND 16),
    scopes     text[] NOT NULL
        CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
               AND scopes <@ ARRAY['wallet:read', 'wallet:topup', 'wallet:bonus', 'wallet:spend']),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    CONSTRAINT api_keys_name_unique UNIQUE (name),
    CONSTRAINT api_keys_key_hash_unique UNIQUE (key_hash)
);

-- The table's privileges are stated in full by db/functions/00_privileges.sql, re-applied on
-- every migrate: the owner's only. Neither wallet_service (it gets the active keys through
-- api.active_api_keys()) nor wallet_auditor (api.list_api_keys()) reads the digests.
REVOKE ALL ON TABLE ledger.api_keys FROM PUBLIC, wallet_service;
