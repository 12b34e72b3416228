-- depends: 0015.seal
-- Issue 18, webhooks: subscriptions to the event stream (api.events), each delivered in sequence
-- order by the service's delivery worker (service/webhooks.py) through the functions of
-- db/functions/29_webhooks.sql, at least once.
--
-- * after_sequence is the subscription's cursor: every event up to it was delivered (or skipped:
--   not of its types). It only moves forward, by api.webhook_delivered, after the receiver
--   answered 2xx.
-- * A worker leases a subscription (lease_owner, lease_until) instead of holding its row lock
--   through an HTTP request: a transaction left open for seconds would hold the snapshot xmin
--   back, and with it the sealer (api.seal seals only below it). A killed worker's lease expires
--   and the next worker resumes from the cursor.
-- * The secret signs deliveries (HMAC-SHA256), so it is kept as given: the owner's only, like
--   the API keys' table; api.webhooks() lists the subscriptions without it.

CREATE TABLE ledger.webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text NOT NULL CONSTRAINT webhooks_url_check
                        CHECK (url ~ '^https?://[^[:space:]]+$' AND octet_length(url) <= 2048),
    event_types     ledger.transaction_type[] CONSTRAINT webhooks_event_types_check
                        CHECK (event_types IS NULL OR (cardinality(event_types) > 0 AND array_ndims(event_types) = 1)),
    secret          text NOT NULL CONSTRAINT webhooks_secret_check CHECK (octet_length(secret) BETWEEN 16 AND 256),
    status          text NOT NULL DEFAULT 'active'
                        CONSTRAINT webhooks_status_check CHECK (status IN ('active', 'failing', 'disabled')),
    after_sequence  bigint NOT NULL CONSTRAINT webhooks_after_sequence_check CHECK (after_sequence >= 0),
    delivered       bigint NOT NULL DEFAULT 0,
    failures        integer NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner     uuid,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
CREATE INDEX webhooks_due ON ledger.webhooks (next_attempt_at) WHERE status <> 'disabled';
