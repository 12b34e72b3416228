-- Ledger schema: assets, wallets (user wallets and system-account slots), transactions, entries.
-- Functions, triggers, views and grants live in db/functions/ and are re-applied on every migrate.

CREATE SCHEMA ledger;
REVOKE ALL ON SCHEMA ledger FROM PUBLIC;
CREATE SCHEMA api;
REVOKE ALL ON SCHEMA api FROM PUBLIC;

CREATE TYPE ledger.transaction_type AS ENUM ('opening_balance', 'topup', 'bonus', 'spend');

-- 'treasury' is the mint (top-ups, bonuses and opening balances are issued from it, so its
-- balance is minus what has been issued); 'revenue' is the sink that spends land in.
CREATE TYPE ledger.wallet_kind AS ENUM ('user', 'treasury', 'revenue');

CREATE TABLE ledger.assets (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- decimal places an amount of this asset may have
    scale        smallint NOT NULL CHECK (scale BETWEEN 0 AND 8),
    -- the largest amount one transaction may move (inclusive)
    max_amount   numeric NOT NULL CHECK (max_amount > 0 AND max_amount < 'Infinity'),
    -- how many balance rows each system account of this asset is split into
    system_slots smallint NOT NULL DEFAULT 16 CHECK (system_slots BETWEEN 1 AND 256),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per user wallet (user, asset), and one row per slot of each system account.
-- A system account's balance is the sum of its slots: spreading it over several rows lets
-- concurrent transactions lock different rows instead of queueing on one.
CREATE TABLE ledger.wallets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset_id   text NOT NULL REFERENCES ledger.assets,
    kind       ledger.wallet_kind NOT NULL,
    owner_id   text,           -- the user id; NULL for system accounts
    slot       smallint NOT NULL DEFAULT 0,
    balance    numeric NOT NULL DEFAULT 0,
    version    bigint NOT NULL DEFAULT 0,   -- +1 with every entry on this row
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT wallets_owner_matches_kind CHECK ((kind = 'user') = (owner_id IS NOT NULL)),
    CONSTRAINT wallets_owner_id_format CHECK (owner_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
    CONSTRAINT wallets_user_has_one_slot CHECK (kind <> 'user' OR slot = 0),
    CONSTRAINT wallets_slot_range CHECK (slot BETWEEN 0 AND 255),
    CONSTRAINT wallets_user_balance_not_negative CHECK (kind <> 'user' OR balance >= 0),
    CONSTRAINT wallets_version_not_negative CHECK (version >= 0),
    CONSTRAINT wallets_one_per_user_and_asset UNIQUE (owner_id, asset_id)
);
CREATE UNIQUE INDEX wallets_one_row_per_system_slot
    ON ledger.wallets (asset_id, kind, slot) WHERE kind <> 'user';

CREATE TABLE ledger.transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type            ledger.transaction_type NOT NULL,
    -- whose idempotency key this is: 'api:<key name>' for the HTTP service, 'sql:<role>' for
    -- direct SQL callers unless they name a client
    client_id       text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
    idempotency_key text NOT NULL CHECK (idempotency_key ~ '^[ -~]{1,255}$'),
    -- a spend's service description or a bonus's reason
    description     text CHECK (length(description) BETWEEN 1 AND 500),
    metadata        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_key_unique_per_client UNIQUE (client_id, idempotency_key)
);

-- amount is signed: positive credits the wallet, negative debits it.
CREATE TABLE ledger.entries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES ledger.transactions,
    wallet_id      bigint NOT NULL REFERENCES ledger.wallets,
    amount         numeric NOT NULL CHECK (amount <> 0),
    balance_after  numeric NOT NULL,
    -- the wallet row's version after this entry: orders a wallet's history exactly (ids are
    -- taken before the row lock, versions under it) and is the ledger's keyset cursor
    wallet_version bigint NOT NULL CHECK (wallet_version > 0),
    CONSTRAINT entries_one_per_wallet_version UNIQUE (wallet_id, wallet_version)
);
CREATE INDEX entries_by_transaction ON ledger.entries (transaction_id);

-- Shapes returned inside one row by the page-reading API functions (stable across migrates,
-- unlike anything in schema api's re-applied files).
CREATE TYPE ledger.ledger_line AS (
    entry_id       bigint,
    transaction_id bigint,
    type           ledger.transaction_type,
    direction      text,
    amount         numeric,
    balance_after  numeric,
    wallet_version bigint,
    description    text,
    metadata       jsonb,
    created_at     timestamptz
);

CREATE TYPE ledger.transaction_leg AS (
    entry_id      bigint,
    wallet_id     bigint,
    owner_type    text,
    user_id       text,
    account       text,
    direction     text,
    amount        numeric,
    balance_after numeric
);

-- Functions are granted one by one, right under their definitions; nothing is callable by default.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
