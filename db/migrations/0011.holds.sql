-- depends: 0010.holds-enum-values
-- Issue 16, holds (the SQL layer): the holds account's slots, the holds table and what the hold
-- functions return. The functions, the triggers that keep the holds table's rows to status
-- transitions, the grants and the comments are in db/functions/ (25_api_holds.sql, 00, 90).

-- The holds account of every existing asset, as many slots as its Treasury and Revenue. (A new
-- asset gets its holds slots from trigger assets_have_system_slots, db/functions/10.)
INSERT INTO ledger.wallets (asset_id, kind, slot)
SELECT a.id, 'holds', s.slot
FROM ledger.assets AS a
CROSS JOIN LATERAL generate_series(0, a.system_slots - 1) AS s (slot)
ORDER BY a.id, s.slot;

CREATE TYPE ledger.hold_status AS ENUM ('open', 'captured', 'voided', 'expired');

-- One row per authorized hold. Written once by api.authorize_hold, then changed exactly once, by
-- its resolution (capture, void or expiry: status open -> captured | voided | expired, with the
-- amounts, the resolving transaction and the time); never deleted (triggers holds_are_kept and
-- holds_change_only_by_resolution). The money itself is in the ledger: the hold's amount sits
-- in a slot of the asset's holds account until the resolution moves it out.
-- Table CHECKs are fine here: a hold is not on the top-up and spend path.
CREATE TABLE ledger.holds (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                ledger.user_id NOT NULL,
    asset_id               text COLLATE "C" NOT NULL REFERENCES ledger.assets,
    wallet_id              bigint NOT NULL REFERENCES ledger.wallets,
    amount                 numeric NOT NULL CHECK (amount > 0),
    captured               numeric NOT NULL DEFAULT 0,
    released               numeric NOT NULL DEFAULT 0,
    status                 ledger.hold_status NOT NULL DEFAULT 'open',
    expires_at             timestamptz NOT NULL,
    hold_transaction_id    bigint NOT NULL REFERENCES ledger.transactions,
    resolve_transaction_id bigint REFERENCES ledger.transactions,
    client_id              ledger.client_id NOT NULL,
    idempotency_key        ledger.idempotency_key NOT NULL,
    created_at             timestamptz NOT NULL,
    resolved_at            timestamptz,
    CONSTRAINT holds_one_per_authorization UNIQUE (hold_transaction_id),
    CONSTRAINT holds_one_per_resolution UNIQUE (resolve_transaction_id),
    CONSTRAINT holds_expire_after_creation CHECK (expires_at > created_at),
    CONSTRAINT holds_resolved_in_full CHECK (
        CASE status
            WHEN 'open' THEN captured = 0 AND released = 0 AND resolve_transaction_id IS NULL
                             AND resolved_at IS NULL
            WHEN 'captured' THEN captured > 0 AND released >= 0 AND captured + released = amount
                                 AND resolve_transaction_id IS NOT NULL AND resolved_at IS NOT NULL
            ELSE captured = 0 AND released = amount AND resolve_transaction_id IS NOT NULL
                 AND resolved_at IS NOT NULL
        END)
);
-- The expiry sweep (api.expire_holds): the open holds by expiry. Partial, so it holds only what
-- is still to sweep.
CREATE INDEX holds_open_by_expiry ON ledger.holds (expires_at, id) WHERE status = 'open';
-- A user's holds (the balance's "held"; reconciliation per asset reads the partial index above).
CREATE INDEX holds_by_wallet ON ledger.holds (wallet_id) WHERE status = 'open';

-- What api.authorize_hold, api.capture_hold, api.void_hold and api.get_hold return: the hold as
-- it stands after the call, and the call's own transaction and the user's balance after it.
CREATE TYPE ledger.hold_posting AS (
    hold_id                bigint,
    status                 ledger.hold_status,
    user_id                text,
    asset_id               text,
    wallet_id              bigint,
    amount                 numeric,
    captured               numeric,
    released               numeric,
    remaining              numeric,
    description            text,
    expires_at             timestamptz,
    hold_transaction_id    bigint,
    resolve_transaction_id bigint,
    transaction_id         bigint,
    balance                numeric,
    replayed               boolean,
    created_at             timestamptz,
    resolved_at            timestamptz
);
