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

-- Column rules as domains: PostgreSQL keeps a domain's checks parsed in its type cache and runs
-- them only on the columns a statement writes, while every table CHECK is parsed again for every
-- INSERT or UPDATE of its table (measured: 17% of a posting's CPU with table CHECKs here).
-- Identifiers compare byte by byte (COLLATE "C"): they are not words, and a locale's collation
-- would make every index probe on them slower for nothing.
CREATE DOMAIN ledger.user_id AS text COLLATE "C"
    CHECK (length(VALUE) BETWEEN 1 AND 128 AND VALUE ~ '^[A-Za-z0-9._:@-]+$');
CREATE DOMAIN ledger.client_id AS text COLLATE "C" CHECK (length(VALUE) BETWEEN 1 AND 200);
CREATE DOMAIN ledger.idempotency_key AS text COLLATE "C"
    CHECK (length(VALUE) BETWEEN 1 AND 255 AND VALUE ~ '^[ -~]+$');
CREATE DOMAIN ledger.description AS text CHECK (length(VALUE) BETWEEN 1 AND 500);
CREATE DOMAIN ledger.json_object AS jsonb CHECK (jsonb_typeof(VALUE) = 'object');
CREATE DOMAIN ledger.slot_number AS smallint CHECK (VALUE BETWEEN 0 AND 255);
CREATE DOMAIN ledger.nonzero_amount AS numeric CHECK (VALUE <> 0);
CREATE DOMAIN ledger.entry_version AS bigint CHECK (VALUE > 0);
CREATE DOMAIN ledger.wallet_version AS bigint CHECK (VALUE >= 0);

CREATE TABLE ledger.assets (
    id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    code         text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- decimal places an amount of this asset may have
    scale        smallint NOT NULL CHECK (scale BETWEEN 0 AND 8),
    -- the largest amount one transaction may move (inclusive)
    max_amount   numeric NOT NULL CHECK (max_amount > 0 AND max_amount < 'Infinity'),
    -- how many balance rows each system account of this asset is split into
    system_slots smallint NOT NULL DEFAULT 64 CHECK (system_slots BETWEEN 1 AND 256),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per user wallet (user, asset), and one row per slot of each system account.
-- A system account's balance is the sum of its slots: spreading it over several rows lets
-- concurrent transactions lock different rows instead of queueing on one.
CREATE TABLE ledger.wallets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset_id   text COLLATE "C" NOT NULL REFERENCES ledger.assets,
    kind       ledger.wallet_kind NOT NULL,
    owner_id   ledger.user_id,      -- NULL for system accounts
    slot       ledger.slot_number NOT NULL DEFAULT 0,
    balance    numeric NOT NULL DEFAULT 0,
    version    ledger.wallet_version NOT NULL DEFAULT 0,   -- +1 with every entry on this row
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The one table CHECK, as it concerns the balance every posting writes. The rules tying
    -- kind, owner and slot together are checked by trigger wallets_identity, which fires only
    -- when one of those columns is written, never on a balance update.
    CONSTRAINT wallets_user_balance_not_negative CHECK (kind <> 'user' OR balance >= 0),
    CONSTRAINT wallets_one_per_user_and_asset UNIQUE (owner_id, asset_id)
) WITH (fillfactor = 70);  -- room on each page for HOT balance updates (no index touched)
CREATE UNIQUE INDEX wallets_one_row_per_system_slot
    ON ledger.wallets (asset_id, kind, slot) WHERE kind <> 'user';

-- Transaction and entry ids come from sequences cached 64 at a time per session (no sequence
-- WAL on most postings); so ids are unique but not in commit order across sessions. A wallet's
-- history is ordered by wallet_version, never by id.
CREATE TABLE ledger.transactions (
    id              bigint GENERATED ALWAYS AS IDENTITY (CACHE 64) PRIMARY KEY,
    type            ledger.transaction_type NOT NULL,
    -- whose idempotency key this is: 'api:<key name>' for the HTTP service, 'sql:<role>' for
    -- direct SQL callers unless they name a client
    client_id       ledger.client_id NOT NULL,
    idempotency_key ledger.idempotency_key NOT NULL,
    -- a spend's service description or a bonus's reason
    description     ledger.description,
    metadata        ledger.json_object NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transactions_key_unique_per_client UNIQUE (client_id, idempotency_key)
);

-- amount is signed: positive credits the wallet, negative debits it.
CREATE TABLE ledger.entries (
    id             bigint GENERATED ALWAYS AS IDENTITY (CACHE 64),
    transaction_id bigint NOT NULL REFERENCES ledger.transactions,
    wallet_id      bigint NOT NULL REFERENCES ledger.wallets,
    amount         ledger.nonzero_amount NOT NULL,
    balance_after  numeric NOT NULL,
    -- the wallet row's version after this entry: orders a wallet's history exactly (ids are
    -- taken before the row lock, versions under it) and is the ledger's keyset cursor
    wallet_version ledger.entry_version NOT NULL,
    -- a transaction's entries are found by the key's prefix; ids are unique by their sequence,
    -- so a separate index on id alone would only cost every posting two more index inserts
    CONSTRAINT entries_pkey PRIMARY KEY (transaction_id, id),
    CONSTRAINT entries_one_per_wallet_version UNIQUE (wallet_id, wallet_version)
);

-- What every money function returns: the transaction, the user's wallet, its balance after the
-- transaction, and whether the call replayed an earlier one with the same key.
CREATE TYPE ledger.posting AS (
    transaction_id bigint,
    wallet_id      bigint,
    balance        numeric,
    replayed       boolean
);

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
