-- One chunk of the depth fixture (make bench-depth, docs/performance.md): Gold Coin wallets for
-- the users :'prefix'<lo> .. :'prefix'<hi>, each given :per_user top-ups from Treasury, written
-- in bulk instead of one api.topup call at a time, so that 10 million entries take minutes and
-- not an hour. Run it as the superuser inside one transaction (psql -1), which the bulk insert
-- needs anyway: the deferred double-entry trigger checks every transaction written here at
-- commit, and `wallet reconcile` proves the books afterwards.
--
-- It writes what api.topup writes, row for row: a transaction with a client and a key, the
-- user's entry and a Treasury slot's entry, each with the balance and wallet version after it
-- in the order of the transaction ids, and the wallet rows' balances and versions brought up to
-- date, and posted_at. One difference, not seen by the reads measured: the Treasury slot is the
-- transaction id modulo the slot count rather than a hash of the key. The times (created_at and
-- posted_at, equal) are one microsecond apart in the order of the transaction ids, from the
-- clock or just after the newest entry of any wallet the chunk writes to, whichever is later: so
-- that, as with the functions' postings, posted_at never decreases along a wallet's versions
-- (balances in time rely on it: db/functions/32_balances_in_time.sql).
--
--   psql -1 -v prefix=depth-user- -v lo=1 -v hi=100000 -v per_user=4 -f bench/depth/depth_fixture.sql
--
-- A chunk may add top-ups to wallets written by an earlier chunk (the whale of bench-depth gets
-- its million entries 100,000 at a time): entries continue from the wallet's version and balance.

\set ON_ERROR_STOP on
\set asset 'asset-gold-coin-001'

INSERT INTO ledger.wallets (asset_id, kind, owner_id)
SELECT :'asset', 'user', :'prefix' || u
FROM generate_series(:lo::bigint, :hi::bigint) AS u
ON CONFLICT (owner_id, asset_id) DO NOTHING;

-- Reserve the chunk's transaction ids before using them: every id another session holds in its
-- identity cache (64) lies at or below the sequence's last value, so ids above it plus 64 are free.
SELECT setval('ledger.transactions_id_seq',
              last_value + 64 + (:hi::bigint - :lo::bigint + 1) * :per_user::bigint)
       - (:hi::bigint - :lo::bigint + 1) * :per_user::bigint AS first_id
FROM ledger.transactions_id_seq \gset

-- The chunk's first moment: after the newest entry of the Treasury slots and of the chunk's
-- wallets (a whale's earlier chunks), and not before the clock.
SELECT greatest(clock_timestamp(), max(coalesce(e.posted_at, t.created_at)) + interval '1 microsecond') AS first_at
FROM ledger.wallets AS w
JOIN ledger.entries AS e ON e.wallet_id = w.id AND e.wallet_version = w.version
JOIN ledger.transactions AS t ON t.id = e.transaction_id
WHERE w.asset_id = :'asset'
  AND (w.kind = 'treasury'
       OR w.owner_id IN (SELECT :'prefix' || u FROM generate_series(:lo::bigint, :hi::bigint) AS u)) \gset

CREATE TEMPORARY TABLE fixture_topups ON COMMIT DROP AS
SELECT :first_id::bigint - 1 + row_number() OVER (ORDER BY u, k) AS transaction_id,
       w.id AS wallet_id,
       -- 0.01 .. 100.00, varied so that balances are not all alike
       ((u * 7919 + k * 104729) % 10000 + 1) / 100.0 AS amount,
       :'first_at'::timestamptz + (row_number() OVER (ORDER BY u, k) - 1) * interval '1 microsecond' AS posted_at
FROM generate_series(:lo::bigint, :hi::bigint) AS u
CROSS JOIN generate_series(1, :per_user::bigint) AS k
JOIN ledger.wallets AS w ON w.owner_id = :'prefix' || u AND w.asset_id = :'asset';

INSERT INTO ledger.transactions (id, type, client_id, idempotency_key, metadata, created_at)
OVERRIDING SYSTEM VALUE
SELECT f.transaction_id, 'topup', 'sql:depth-fixture', 'depth-' || f.transaction_id,
       '{"source": "depth-fixture"}', f.posted_at
FROM fixture_topups AS f;

-- The user's side and Treasury's side: each wallet's entries continue its version and balance.
WITH legs AS (
    SELECT f.transaction_id, f.wallet_id, f.amount, f.posted_at FROM fixture_topups AS f
    UNION ALL
    SELECT f.transaction_id, s.id, -f.amount, f.posted_at
    FROM fixture_topups AS f
    JOIN ledger.assets AS a ON a.id = :'asset'
    JOIN ledger.wallets AS s
      ON s.asset_id = a.id AND s.kind = 'treasury' AND s.slot = f.transaction_id % a.system_slots
)
INSERT INTO ledger.entries (transaction_id, wallet_id, amount, balance_after, wallet_version, posted_at)
SELECT l.transaction_id, l.wallet_id, l.amount,
       w.balance + sum(l.amount) OVER running,
       w.version + row_number() OVER running,
       l.posted_at
FROM legs AS l
JOIN ledger.wallets AS w ON w.id = l.wallet_id
WINDOW running AS (PARTITION BY l.wallet_id ORDER BY l.transaction_id);

UPDATE ledger.wallets AS w
SET balance = w.balance + d.total, version = w.version + d.entries, updated_at = now()
FROM (
    SELECT e.wallet_id, sum(e.amount) AS total, count(*) AS entries
    FROM ledger.entries AS e
    WHERE e.transaction_id BETWEEN :first_id::bigint
                               AND :first_id::bigint - 1 + (:hi::bigint - :lo::bigint + 1) * :per_user::bigint
    GROUP BY e.wallet_id
) AS d
WHERE w.id = d.wallet_id;

DROP TABLE fixture_topups;  -- so that several chunks can run in one transaction
