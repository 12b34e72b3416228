-- The invariants of the books after a mix of operations (top-ups, bonuses, spends, transfers,
-- reversals of each, strict and allow_negative, with two users left in debt, holds captured in
-- part and in full, voided, expired and left open, replays and refusals, several users, all three
-- assets, then batches of both modes), checked both through the reconciliation views and
-- independently of them; then tampering, to prove each reconciliation check can fail.
BEGIN;
\ir lib/helpers.psql
SELECT plan(45);
-- The last tests drop a CHECK constraint (rolled back with everything else). Taking that lock
-- first, before any other, makes a concurrently running test file (pg_prove -j) wait for this
-- one instead of deadlocking with it.
LOCK TABLE ledger.wallets IN ACCESS EXCLUSIVE MODE;

CREATE TEMP TABLE tap_inv_before AS
SELECT asset_id, account::text AS account, balance FROM api.system_accounts;

SELECT tap.act_as('wallet_service');
DO $$
BEGIN
    -- GOLD: issued 100 + 250.50 + 10 + 1 = 361.50; spent 35.25 + 250.50 + 0.99 + 10 = 296.74
    PERFORM api.topup('tap-inv-1', 'asset-gold-coin-001', 100, 'tap-inv-1');
    PERFORM api.topup('tap-inv-2', 'asset-gold-coin-001', 250.50, 'tap-inv-2');
    PERFORM api.grant_bonus('tap-inv-1', 'asset-gold-coin-001', 10, 'welcome', 'tap-inv-3');
    PERFORM api.spend('tap-inv-1', 'asset-gold-coin-001', 35.25, 'a shield', 'tap-inv-4');
    PERFORM api.spend('tap-inv-2', 'asset-gold-coin-001', 250.50, 'everything', 'tap-inv-5');
    PERFORM api.topup('tap-inv-3', 'asset-gold-coin-001', 1, 'tap-inv-6');
    PERFORM api.spend('tap-inv-3', 'asset-gold-coin-001', 0.99, 'a pebble', 'tap-inv-7');
    PERFORM api.spend('user-rich-001', 'asset-gold-coin-001', 10, 'a castle tax', 'tap-inv-8');
    -- DIAMOND: issued 40 + 5 = 45; spent 5 + 0.01 = 5.01
    PERFORM api.topup('tap-inv-1', 'asset-diamond-001', 40, 'tap-inv-9');
    PERFORM api.grant_bonus('tap-inv-4', 'asset-diamond-001', 5, 'contest', 'tap-inv-10');
    PERFORM api.spend('tap-inv-4', 'asset-diamond-001', 5, 'a ring', 'tap-inv-11');
    PERFORM api.spend('tap-inv-1', 'asset-diamond-001', 0.01, 'a chip', 'tap-inv-12');
    -- LOYALTY: issued 12.34 + 7 + 100 = 119.34; spent 2.34 + 99.99 = 102.33
    PERFORM api.grant_bonus('tap-inv-2', 'asset-loyalty-001', 12.34, 'survey', 'tap-inv-13');
    PERFORM api.grant_bonus('tap-inv-3', 'asset-loyalty-001', 7, 'survey', 'tap-inv-14');
    PERFORM api.spend('tap-inv-2', 'asset-loyalty-001', 2.34, 'a coupon', 'tap-inv-15');
    PERFORM api.topup('tap-inv-4', 'asset-loyalty-001', 100, 'tap-inv-16');
    PERFORM api.spend('tap-inv-4', 'asset-loyalty-001', 99.99, 'a voucher', 'tap-inv-17');
    -- a replay and a refusal move nothing
    PERFORM api.topup('tap-inv-1', 'asset-gold-coin-001', 100, 'tap-inv-1');
    BEGIN
        PERFORM api.spend('tap-inv-2', 'asset-gold-coin-001', 0.01, 'nothing left', 'tap-inv-18');
        RAISE EXCEPTION 'spend from an empty wallet was accepted';
    EXCEPTION WHEN SQLSTATE 'WFUND' THEN
        NULL;
    END;
END
$$;

SELECT results_eq(
    $$ SELECT u.user_id, b.asset_id, b.balance::text
       FROM unnest(ARRAY['tap-inv-1', 'tap-inv-2', 'tap-inv-3', 'tap-inv-4']) AS u (user_id),
            api.balances(u.user_id) AS b
       ORDER BY 1, 2 $$,
    $$ VALUES ('tap-inv-1', 'asset-diamond-001', '39.99'), ('tap-inv-1', 'asset-gold-coin-001', '74.75'),
              ('tap-inv-1', 'asset-loyalty-001', '0.00'),
              ('tap-inv-2', 'asset-diamond-001', '0.00'), ('tap-inv-2', 'asset-gold-coin-001', '0.00'),
              ('tap-inv-2', 'asset-loyalty-001', '10.00'),
              ('tap-inv-3', 'asset-diamond-001', '0.00'), ('tap-inv-3', 'asset-gold-coin-001', '0.01'),
              ('tap-inv-3', 'asset-loyalty-001', '7.00'),
              ('tap-inv-4', 'asset-diamond-001', '0.00'), ('tap-inv-4', 'asset-gold-coin-001', '0.00'),
              ('tap-inv-4', 'asset-loyalty-001', '0.01') $$,
    'every user ends with exactly what was credited minus what was spent');
SELECT results_eq(
    $$ SELECT balance::text FROM api.balances('user-rich-001', 'asset-gold-coin-001') $$,
    ARRAY['9990.00'],
    'the seeded user''s spend came off the seeded balance: 10000.00 - 10 = 9990.00');

-- Reversals, of their own users (tap-rinv-*), so that the invariants below run on a ledger that
-- holds every kind: a top-up, a bonus, a spend and a transfer reversed, in part and in full,
-- strict and allow_negative.
DO $$
DECLARE
    v_t1 bigint;
    v_s1 bigint;
    v_b2 bigint;
    v_t3 bigint;
    v_x3 bigint;
    v_s4 bigint;
    v_t5 bigint;
BEGIN
    -- GOLD: issued 50 + 25, 75 of it back; spent 30, 10 of it back. tap-rinv-1 spends 30 of a
    -- top-up of 50; 20 of the top-up comes back (strict, to 0), then 10 of the spend (10), then
    -- the top-up's remaining 30 (allow_negative): -20. A bonus of 25 comes back whole.
    v_t1 := (api.topup('tap-rinv-1', 'asset-gold-coin-001', 50, 'tap-rinv-1')).transaction_id;
    v_s1 := (api.spend('tap-rinv-1', 'asset-gold-coin-001', 30, 'a lamp', 'tap-rinv-2')).transaction_id;
    PERFORM api.reverse(v_t1, 20, 'partial chargeback', 'tap-rinv-3');
    PERFORM api.reverse(v_s1, 10, 'lamp broken', 'tap-rinv-4');
    PERFORM api.reverse(v_t1, NULL, 'chargeback', 'tap-rinv-5', 'allow_negative');
    v_b2 := (api.grant_bonus('tap-rinv-2', 'asset-gold-coin-001', 25, 'contest', 'tap-rinv-6')).transaction_id;
    PERFORM api.reverse(v_b2, NULL, 'contest void', 'tap-rinv-7');
    -- DIAMOND: issued 40; spent 20 + 15, 5 of it back. tap-rinv-3 gives 30 of 40 to tap-rinv-4, who
    -- spends 20; the gift comes back (allow_negative: tap-rinv-4 at -20, tap-rinv-3 at 40), then 5
    -- of the spend (strict, a credit: -15); tap-rinv-3 spends 15 (25).
    v_t3 := (api.topup('tap-rinv-3', 'asset-diamond-001', 40, 'tap-rinv-8')).transaction_id;
    v_x3 := (api.transfer('tap-rinv-3', 'tap-rinv-4', 'asset-diamond-001', 30, 'a gift', 'tap-rinv-9')).transaction_id;
    v_s4 := (api.spend('tap-rinv-4', 'asset-diamond-001', 20, 'a crown', 'tap-rinv-10')).transaction_id;
    PERFORM api.reverse(v_x3, NULL, 'gift sent by mistake', 'tap-rinv-11', 'allow_negative');
    PERFORM api.reverse(v_s4, 5, 'crown scratched', 'tap-rinv-12');
    PERFORM api.spend('tap-rinv-3', 'asset-diamond-001', 15, 'a gem', 'tap-rinv-13');
    -- LOYALTY: issued 10, 5 of it back in two reversals
    v_t5 := (api.topup('tap-rinv-5', 'asset-loyalty-001', 10, 'tap-rinv-14')).transaction_id;
    PERFORM api.reverse(v_t5, 2.50, 'points expired', 'tap-rinv-15');
    PERFORM api.reverse(v_t5, 2.50, 'points expired again', 'tap-rinv-16');
    -- a replay and two refusals move nothing
    PERFORM api.reverse(v_t5, 2.50, 'points expired', 'tap-rinv-15');
    BEGIN
        PERFORM api.reverse(v_t5, 5.01, 'more than remains', 'tap-rinv-17');
        RAISE EXCEPTION 'a reversal of more than remains was accepted';
    EXCEPTION WHEN SQLSTATE 'WREVX' THEN
        NULL;
    END;
    BEGIN
        PERFORM api.reverse(v_t3, NULL, 'spent', 'tap-rinv-18');
        RAISE EXCEPTION 'a strict reversal of coins already spent was accepted';
    EXCEPTION WHEN SQLSTATE 'WFUND' THEN
        NULL;
    END;
END
$$;

-- Holds, of their own user (tap-hinv-1, GOLD): issued 100; a hold of 30 captured for 10 (20
-- back), one of 20 captured whole, one of 15 voided, one of 5 expired by the sweep, one of 25 left
-- open: Revenue +30, the holds account 25, the user 100 - 30 - 25 = 45.
DO $$
DECLARE
    v_h bigint;
BEGIN
    PERFORM api.topup('tap-hinv-1', 'asset-gold-coin-001', 100, 'tap-hinv-1');
    v_h := (api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 30, 'a match', 'tap-hinv-2')).hold_id;
    PERFORM api.capture_hold(v_h, 10, 'tap-hinv-3');
    v_h := (api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 20, 'a pull', 'tap-hinv-4')).hold_id;
    PERFORM api.capture_hold(v_h, NULL, 'tap-hinv-5');
    v_h := (api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 15, 'an item', 'tap-hinv-6')).hold_id;
    PERFORM api.void_hold(v_h, 'tap-hinv-7');
    PERFORM api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 5, 'a bid', 'tap-hinv-8', '1 second');
    PERFORM api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 25, 'a match', 'tap-hinv-9');
    -- a refused hold moves nothing
    BEGIN
        PERFORM api.authorize_hold('tap-hinv-1', 'asset-gold-coin-001', 50.01, 'too much', 'tap-hinv-10');
        RAISE EXCEPTION 'a hold above the balance was accepted';
    EXCEPTION WHEN SQLSTATE 'WFUND' THEN
        NULL;
    END;
END
$$;
SELECT pg_sleep(1.1);
SELECT tap.act_as('wallet_job');
SELECT is(api.expire_holds(), 1, 'the sweep releases the one hold past its expiry');
SELECT tap.act_as('wallet_service');

SELECT results_eq(
    $$ SELECT u.user_id, b.asset_id, b.balance::text
       FROM (VALUES ('tap-rinv-1', 'asset-gold-coin-001'), ('tap-rinv-2', 'asset-gold-coin-001'),
                    ('tap-rinv-3', 'asset-diamond-001'), ('tap-rinv-4', 'asset-diamond-001'),
                    ('tap-rinv-5', 'asset-loyalty-001')) AS u (user_id, asset_id),
            api.balances(u.user_id, u.asset_id) AS b
       ORDER BY 1 $$,
    $$ VALUES ('tap-rinv-1', 'asset-gold-coin-001', '-20.00'), ('tap-rinv-2', 'asset-gold-coin-001', '0.00'),
              ('tap-rinv-3', 'asset-diamond-001', '25.00'), ('tap-rinv-4', 'asset-diamond-001', '-15.00'),
              ('tap-rinv-5', 'asset-loyalty-001', '5.00') $$,
    'the users of the reversals end with what was credited, minus what was spent and taken back, plus what was given back: two of them in debt');

-- ---------------------------------------------------------------------------------------------
-- The reconciliation views, as the auditor
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT check_name, ok, problems FROM api.reconcile() $$,
    $$ VALUES ('entries and balances sum to zero per asset', true, 0::bigint),
              ('wallet balances and versions match their entries', true, 0::bigint),
              ('no user balance is negative but by a reversal', true, 0::bigint),
              ('every transaction is one balanced double entry', true, 0::bigint),
              ('each holds account equals its open holds', true, 0::bigint) $$,
    'api.reconcile(): every check is ok, the two debts explained by their reversals, the open holds in their holds account');
SELECT is_empty($$ SELECT * FROM api.wallet_drift $$, 'api.wallet_drift is empty');
SELECT is_empty($$ SELECT * FROM api.unbalanced_transactions $$, 'api.unbalanced_transactions is empty');
SELECT is_empty($$ SELECT * FROM api.negative_user_balances $$, 'api.negative_user_balances is empty');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", balanced, entries_total, balances_total FROM api.trial_balance $$,
    $$ VALUES ('asset-diamond-001', true, 0::numeric, 0::numeric),
              ('asset-gold-coin-001', true, 0::numeric, 0::numeric),
              ('asset-loyalty-001', true, 0::numeric, 0::numeric) $$,
    'api.trial_balance: every asset is balanced, entries and balances each totalling zero');
SELECT is_empty(
    $$ SELECT asset_id FROM api.trial_balance
       WHERE treasury_balance <> -(user_balances + revenue_balance + holds_balance) $$,
    'per asset the Treasury is exactly minus what users, Revenue and the holds account hold');

-- ---------------------------------------------------------------------------------------------
-- The same invariants, computed here from the tables (not trusting the views)
-- ---------------------------------------------------------------------------------------------
SELECT is((SELECT count(*) FROM ledger.wallets WHERE owner_id LIKE 'tap-inv-%'), 8::bigint,
    'the operations opened the 8 expected user wallets');
SELECT results_eq(
    $$ SELECT count(*), count(*) FILTER (WHERE reversal_mode = 'allow_negative'),
              count(DISTINCT reverses_transaction_id)
       FROM ledger.transactions WHERE type = 'reversal' $$,
    $$ VALUES (8::bigint, 2::bigint, 6::bigint) $$,
    'the ledger holds 8 reversals (2 of them allow_negative) of 6 transactions: the invariants below see reversals');
SELECT is_empty(
    $$ SELECT w.id
       FROM ledger.wallets AS w
       CROSS JOIN LATERAL (SELECT coalesce(sum(e.amount), 0) AS total, count(*) AS n,
                                  max(e.wallet_version) AS top
                           FROM ledger.entries AS e WHERE e.wallet_id = w.id) AS s
       LEFT JOIN LATERAL (SELECT e.balance_after FROM ledger.entries AS e
                          WHERE e.wallet_id = w.id ORDER BY e.wallet_version DESC LIMIT 1) AS latest ON true
       WHERE w.balance <> s.total OR w.version <> s.n
          OR (s.n > 0 AND (latest.balance_after <> w.balance OR s.top <> s.n)) $$,
    'every wallet''s balance = the sum of its entries = its latest entry''s balance_after, and version = entry count');
SELECT is_empty(
    $$ SELECT e.id
       FROM (SELECT e.*, lag(e.balance_after, 1, 0::numeric) OVER h AS before,
                    lag(e.wallet_version, 1, 0::bigint) OVER h AS prev_version
             FROM ledger.entries AS e
             WINDOW h AS (PARTITION BY e.wallet_id ORDER BY e.wallet_version)) AS e
       WHERE e.balance_after <> e.before + e.amount OR e.wallet_version <> e.prev_version + 1 $$,
    'every wallet''s history is a chain: versions 1, 2, 3 ... and each balance_after = the one before + amount');
-- what balances in time rely on (db/functions/32_balances_in_time.sql): a moment splits every
-- wallet's history into a prefix of its versions, found by binary search over them
SELECT is_empty(
    $$ SELECT e.id
       FROM (SELECT e.id, e.posted_at, lag(coalesce(e.posted_at, t.created_at)) OVER h AS time_before,
                    lag(e.posted_at IS NULL) OVER h AS before_is_old
             FROM ledger.entries AS e
             JOIN ledger.transactions AS t ON t.id = e.transaction_id
             WINDOW h AS (PARTITION BY e.wallet_id ORDER BY e.wallet_version)) AS e
       WHERE (e.posted_at IS NULL AND e.before_is_old = false) OR e.posted_at < e.time_before $$,
    'along every wallet''s versions posted_at never decreases, and entries from before migration 0008 (posted_at NULL) come first, each before the first posted_at');
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       LEFT JOIN ledger.entries AS e ON e.transaction_id = t.id
       LEFT JOIN ledger.wallets AS w ON w.id = e.wallet_id
       WHERE t.type NOT IN ('transfer', 'reversal', 'hold', 'capture', 'release')
       GROUP BY t.id, t.type
       HAVING count(e.id) <> 2 OR sum(e.amount) <> 0 OR count(DISTINCT w.asset_id) <> 1
           OR count(*) FILTER (WHERE w.kind = 'user') <> 1
           OR count(*) FILTER (WHERE w.kind = CASE WHEN t.type = 'spend' THEN 'revenue'::ledger.wallet_kind
                                                   ELSE 'treasury'::ledger.wallet_kind END) <> 1
           OR bool_or(w.kind = 'user' AND (e.amount > 0) <> (t.type <> 'spend')) $$,
    'every transaction but transfers, reversals and holds'' is two entries in one asset summing to zero: spends move user -> Revenue, the rest Treasury -> user');
-- the shapes of a hold's transactions, read against its row: hold user -> holds slot (the amount);
-- capture holds slot -> Revenue (captured) and -> user (released, if any); release holds slot -> user
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       JOIN ledger.holds AS h ON t.id IN (h.hold_transaction_id, h.resolve_transaction_id)
       WHERE t.type IN ('hold', 'capture', 'release')
         AND (SELECT array_agg(w.kind::text || ' ' || e.amount::text ORDER BY w.kind::text, e.amount)
              FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
              WHERE e.transaction_id = t.id AND w.asset_id = h.asset_id
                AND (w.kind <> 'user' OR w.id = h.wallet_id))
             IS DISTINCT FROM
             (SELECT array_agg(l.leg ORDER BY l.leg)
              FROM (SELECT x.kind || ' ' || x.amount::text AS leg, x.kind, x.amount
                    FROM (VALUES ('user', CASE t.type WHEN 'hold' THEN -h.amount ELSE h.released END),
                                 ('holds', CASE t.type WHEN 'hold' THEN h.amount ELSE -h.amount END),
                                 ('revenue', CASE t.type WHEN 'capture' THEN h.captured ELSE 0 END))
                         AS x (kind, amount)
                    WHERE x.amount <> 0) AS l)
          OR (SELECT count(*) FROM ledger.entries AS e WHERE e.transaction_id = t.id)
             <> 2 + (t.type = 'capture' AND h.released > 0)::int
          OR (t.type = 'hold') <> (t.id = h.hold_transaction_id)
          OR (t.type = 'capture' AND h.status <> 'captured')
          OR (t.type = 'release' AND h.status NOT IN ('voided', 'expired')) $$,
    'a hold''s transactions have its shapes: hold user -> holds, capture holds -> Revenue and the rest -> user, release holds -> user, each with the hold''s amounts');
SELECT is_empty(
    $$ SELECT t.id FROM ledger.transactions AS t
       WHERE t.type IN ('hold', 'capture', 'release')
         AND NOT EXISTS (SELECT FROM ledger.holds AS h WHERE t.id IN (h.hold_transaction_id, h.resolve_transaction_id)) $$,
    'every hold, capture and release transaction belongs to a hold');
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       LEFT JOIN ledger.entries AS e ON e.transaction_id = t.id
       LEFT JOIN ledger.wallets AS w ON w.id = e.wallet_id
       WHERE t.type = 'transfer'
       GROUP BY t.id
       HAVING count(e.id) <> 2 OR sum(e.amount) <> 0 OR count(DISTINCT w.asset_id) <> 1
           OR count(*) FILTER (WHERE w.kind = 'user') <> 2
           OR count(DISTINCT w.owner_id) <> 2
           OR count(*) FILTER (WHERE e.amount > 0) <> 1 $$,
    'every transfer is two user entries in one asset, of two users, one debit and one credit, summing to zero');
-- a reversal's legs, against its original's: a user leg by its wallet, a system leg by its
-- account (kind and asset: any slot of it), each with its sign
SELECT is_empty(
    $$ WITH legs AS (
           SELECT e.transaction_id, abs(e.amount) AS amount,
                  CASE WHEN w.kind = 'user' THEN 'wallet ' || w.id ELSE w.kind || ' of ' || w.asset_id END AS leg,
                  sign(e.amount)::integer AS sign
           FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id)
       SELECT r.id
       FROM ledger.transactions AS r
       WHERE r.type = 'reversal'
         AND ((SELECT array_agg(l.leg || ' ' || l.sign ORDER BY l.leg || ' ' || l.sign)
               FROM legs AS l WHERE l.transaction_id = r.id)
              IS DISTINCT FROM
              (SELECT array_agg(l.leg || ' ' || -l.sign ORDER BY l.leg || ' ' || -l.sign)
               FROM legs AS l WHERE l.transaction_id = r.reverses_transaction_id)
              OR (SELECT count(DISTINCT l.amount) FROM legs AS l WHERE l.transaction_id = r.id) <> 1) $$,
    'every reversal mirrors what it reverses: the same user wallets and the same kinds of system account, each with the opposite sign, every leg of one amount');
SELECT is_empty(
    $$ SELECT t.id
       FROM ledger.transactions AS t
       LEFT JOIN ledger.transactions AS o ON o.id = t.reverses_transaction_id
       WHERE (t.type = 'reversal') <> (t.reverses_transaction_id IS NOT NULL)
          OR (t.type = 'reversal') <> (t.reversal_mode IS NOT NULL)
          OR (t.type = 'reversal' AND (o.id IS NULL OR o.type NOT IN ('topup', 'bonus', 'spend', 'transfer'))) $$,
    'a reversal, and only a reversal, names a transaction and a mode; what it names is a top-up, bonus, spend or transfer');
SELECT is_empty(
    $$ SELECT o.id, e.wallet_id
       FROM ledger.transactions AS o
       JOIN ledger.entries AS e ON e.transaction_id = o.id
       JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
       WHERE abs(e.amount) < (SELECT coalesce(sum(abs(re.amount)), 0)
                              FROM ledger.transactions AS r
                              JOIN ledger.entries AS re ON re.transaction_id = r.id AND re.wallet_id = e.wallet_id
                              WHERE r.reverses_transaction_id = o.id) $$,
    'the reversals of a transaction never add up to more than it, on any of its user wallets');
SELECT is_empty(
    $$ SELECT e.id
       FROM ledger.entries AS e
       JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
       JOIN ledger.transactions AS t ON t.id = e.transaction_id
       WHERE e.amount < 0 AND e.balance_after < 0
         AND (t.type <> 'reversal' OR t.reversal_mode IS DISTINCT FROM 'allow_negative') $$,
    'no user entry took a balance below zero, or lower below it, but an allow_negative reversal''s debit');
SELECT set_eq(
    $$ SELECT n.wallet_id FROM api.negative_balances() AS n WHERE cardinality(n.reversals) > 0 $$,
    $$ SELECT w.id FROM ledger.wallets AS w WHERE w.kind = 'user' AND w.balance < 0 $$,
    'every user wallet below zero (there are two) is in api.negative_balances with the reversals that explain it');
SELECT is_empty(
    $$ SELECT n.wallet_id, r.id
       FROM api.negative_balances() AS n
       CROSS JOIN LATERAL unnest(n.reversals) AS r (id)
       WHERE NOT EXISTS (SELECT FROM ledger.transactions AS t
                         JOIN ledger.entries AS e ON e.transaction_id = t.id AND e.wallet_id = n.wallet_id
                         WHERE t.id = r.id AND t.type = 'reversal' AND t.reversal_mode = 'allow_negative'
                           AND e.amount < 0 AND e.balance_after < 0) $$,
    'each reversal api.negative_balances names is an allow_negative reversal that debited that wallet below zero');
SELECT is(
    (SELECT count(*) FROM api.negative_balances()), 2::bigint,
    'the two users in debt, and no one else, are in api.negative_balances');
-- a reversal counts as the kind of transaction it reverses, with the opposite sign
SELECT is_empty(
    $$ SELECT a.asset_id
       FROM api.system_accounts AS a
       LEFT JOIN (SELECT w.asset_id,
                         sum(e.amount) FILTER (WHERE coalesce(o.type, t.type) NOT IN ('spend', 'transfer', 'hold', 'capture', 'release')) AS issued,
                         -sum(e.amount) FILTER (WHERE coalesce(o.type, t.type) = 'spend') AS spent
                  FROM ledger.entries AS e
                  JOIN ledger.transactions AS t ON t.id = e.transaction_id
                  LEFT JOIN ledger.transactions AS o ON o.id = t.reverses_transaction_id
                  JOIN ledger.wallets AS w ON w.id = e.wallet_id AND w.kind = 'user'
                  GROUP BY w.asset_id) AS u ON u.asset_id = a.asset_id
       WHERE (a.account = 'treasury' AND a.balance <> -coalesce(u.issued, 0))
          OR (a.account = 'revenue'
              AND a.balance <> coalesce(u.spent, 0) + (SELECT coalesce(sum(h.captured), 0) FROM ledger.holds AS h
                                                       WHERE h.asset_id = a.asset_id))
          OR (a.account = 'holds'
              AND a.balance <> (SELECT coalesce(sum(h.amount), 0) FROM ledger.holds AS h
                                WHERE h.asset_id = a.asset_id AND h.status = 'open')) $$,
    'per asset, the Treasury (sum of its slots) = minus everything issued and not reversed, Revenue = everything spent and not reversed plus what holds captured, the holds account = the open holds'' amounts');
SELECT tap.act_as_superuser();
SELECT results_eq(
    $$ SELECT a.asset_id COLLATE "default", a.account::text, a.balance - b.balance
       FROM api.system_accounts AS a JOIN tap_inv_before AS b USING (asset_id)
       WHERE b.account = a.account::text ORDER BY 1, 2 $$,
    $$ VALUES ('asset-diamond-001', 'holds', 0.00), ('asset-diamond-001', 'revenue', 35.01),
              ('asset-diamond-001', 'treasury', -85.00),
              ('asset-gold-coin-001', 'holds', 25.00), ('asset-gold-coin-001', 'revenue', 346.74),
              ('asset-gold-coin-001', 'treasury', -461.50),
              ('asset-loyalty-001', 'holds', 0.00), ('asset-loyalty-001', 'revenue', 102.33),
              ('asset-loyalty-001', 'treasury', -124.34) $$,
    'the operations moved the Treasury by minus what they issued, Revenue by what they spent and captured, net of the reversals, and the holds account by the open holds, per asset (GOLD: 75 issued and 75 back, 30 spent and 10 back; 100 issued, 30 captured, 25 held; DIAMOND: 40 issued, 35 spent and 5 back; LOYALTY: 10 issued, 5 back)');

-- ---------------------------------------------------------------------------------------------
-- Batches: each item a transaction of its own, as a single call writes it, and of its batch
-- ---------------------------------------------------------------------------------------------
SELECT tap.act_as('wallet_service');
SELECT lives_ok(
    $$ SELECT * FROM api.post_batch('bonus', 'asset-loyalty-001', ARRAY['tap-invb-1', 'tap-invb-2', 'tap-invb-1'],
                                    ARRAY[3, 4, 5]::numeric[], 'season', 'tap-invb-1') $$,
    'an atomic bonus batch of three items');
SELECT lives_ok(
    $$ SELECT * FROM api.post_batch('spend', 'asset-loyalty-001', ARRAY['tap-invb-1', 'tap-invb-2', 'tap-invb-3'],
                                    ARRAY[8, 5, 1]::numeric[], 'shop', 'tap-invb-2', false) $$,
    'a per-item spend batch, two of its three items failing');
SELECT tap.act_as_superuser();
SELECT is_empty(
    $$ SELECT t.id FROM ledger.transactions AS t
       WHERE (t.client_id = 'ledger:batch') <> (t.batch_id IS NOT NULL) $$,
    'a transaction has a batch id exactly when it is the ledger''s batch item (client ledger:batch)');
SELECT is_empty(
    $$ SELECT t.id FROM ledger.transactions AS t LEFT JOIN ledger.batches AS b ON b.id = t.batch_id
       WHERE t.batch_id IS NOT NULL
         AND (b.id IS NULL OR t.type <> b.type OR t.idempotency_key NOT LIKE b.id || ':%'
              OR split_part(t.idempotency_key, ':', 2)::integer NOT BETWEEN 0 AND b.items - 1
              OR t.description IS DISTINCT FROM b.description) $$,
    'every batch item names a batch of its type and text, its key <batch>:<index> inside the batch');
SELECT is_empty(
    $$ SELECT b.id FROM ledger.batches AS b
       WHERE b.items <> (SELECT count(*) FROM ledger.transactions AS t WHERE t.batch_id = b.id)
                        + (SELECT count(*) FROM jsonb_object_keys(coalesce(b.results, '{}')))
          OR (b.atomic AND b.results IS NOT NULL) $$,
    'each batch''s items are its transactions and its stored failures, all of them (an atomic batch has no failures)');
SELECT is_empty(
    $$ SELECT t.id FROM ledger.transactions AS t JOIN ledger.batches AS b ON b.id = t.batch_id
       WHERE NOT (SELECT count(*) = 2 AND sum(e.amount) = 0 AND bool_and(w.asset_id = b.asset_id)
                         AND count(*) FILTER (WHERE w.kind = 'user' AND (e.amount > 0) = (b.type::text <> 'spend')) = 1
                         AND count(*) FILTER (WHERE w.kind::text = CASE b.type::text WHEN 'spend' THEN 'revenue'
                                                                               ELSE 'treasury' END) = 1
                  FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id
                  WHERE e.transaction_id = t.id) $$,
    'every batch item is a single call''s two legs: the user''s wallet and the Treasury (credits) or Revenue (spends), in the batch''s asset');
SELECT is((SELECT count(*) FROM api.reconcile() WHERE NOT ok), 0::bigint, 'the books reconcile after the batches');

-- The double-entry checks run at commit, which a test file never reaches (it ends in ROLLBACK):
-- forced here, before the tampering below writes a transaction without entries on purpose.
SELECT lives_ok($$ SET CONSTRAINTS ledger.transactions_balance, ledger.batches_balance IMMEDIATE $$,
    'every transaction of the mix, reversals and batch items included, passes the deferred double-entry checks when they are forced');
SET CONSTRAINTS ledger.transactions_balance, ledger.batches_balance DEFERRED;

-- ---------------------------------------------------------------------------------------------
-- Tampering: reconciliation must notice
-- ---------------------------------------------------------------------------------------------
SELECT id AS tampered FROM ledger.wallets WHERE owner_id = 'tap-inv-1' AND asset_id = 'asset-gold-coin-001' \gset
SELECT tap.act_as('wallet_owner');
UPDATE ledger.wallets SET balance = balance + 1 WHERE id = :tampered;
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT check_name, ok, problems FROM api.reconcile() $$,
    $$ VALUES ('entries and balances sum to zero per asset', false, 1::bigint),
              ('wallet balances and versions match their entries', false, 1::bigint),
              ('no user balance is negative but by a reversal', true, 0::bigint),
              ('every transaction is one balanced double entry', true, 0::bigint),
              ('each holds account equals its open holds', true, 0::bigint) $$,
    'after one wallet''s balance is edited directly, api.reconcile() reports the drift and the unbalanced asset');
SELECT results_eq(
    $$ SELECT wallet_id, owner_id COLLATE "default", balance, entries_sum, latest_balance_after
       FROM api.wallet_drift $$,
    format($$ VALUES (%s::bigint, 'tap-inv-1', 75.75::numeric, 74.75::numeric, 74.75::numeric) $$, :tampered),
    'api.wallet_drift lists exactly the edited wallet: balance 75.75 against entries of 74.75');
SELECT results_eq(
    $$ SELECT asset_id COLLATE "default", balanced FROM api.trial_balance $$,
    $$ VALUES ('asset-diamond-001', true), ('asset-gold-coin-001', false), ('asset-loyalty-001', true) $$,
    'api.trial_balance shows GOLD, and only GOLD, out of balance');

-- a balance-neutral edit (1 moved between two users) still leaves the trial balance whole
SELECT tap.act_as('wallet_owner');
UPDATE ledger.wallets SET balance = balance - 1
WHERE owner_id = 'tap-inv-3' AND asset_id = 'asset-loyalty-001';
UPDATE ledger.wallets SET balance = balance + 1
WHERE owner_id = 'tap-inv-2' AND asset_id = 'asset-loyalty-001';
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT owner_id COLLATE "default" FROM api.wallet_drift WHERE asset_id = 'asset-loyalty-001'
       ORDER BY owner_id $$,
    ARRAY['tap-inv-2', 'tap-inv-3'],
    'moving balance between users behind the ledger''s back is caught by api.wallet_drift even though the totals still match');

-- a transaction written without its entries (the deferred double-entry check would refuse it at
-- commit, see 60_immutability.sql; reconciliation must see it all the same)
SELECT tap.act_as('wallet_owner');
INSERT INTO ledger.transactions (type, client_id, idempotency_key) VALUES ('topup', 'tap:inv', 'tap-inv-bare');
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT u.type::text, u.entries FROM api.unbalanced_transactions AS u
       JOIN ledger.transactions AS t ON t.id = u.transaction_id WHERE t.idempotency_key = 'tap-inv-bare' $$,
    $$ VALUES ('topup', 0::bigint) $$,
    'api.unbalanced_transactions lists a transaction that has no entries');
SELECT results_eq(
    $$ SELECT ok, problems FROM api.reconcile() WHERE check_name = 'every transaction is one balanced double entry' $$,
    $$ VALUES (false, 1::bigint) $$,
    'api.reconcile() reports it');

-- a negative user balance that no reversal explains, possible only once the trigger is gone
SELECT tap.act_as('wallet_owner');
DROP TRIGGER wallets_negative_only_by_reversal ON ledger.wallets;
UPDATE ledger.wallets SET balance = -5 WHERE owner_id = 'tap-inv-4' AND asset_id = 'asset-diamond-001';
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT user_id COLLATE "default", asset_id COLLATE "default", balance
       FROM api.negative_user_balances $$,
    $$ VALUES ('tap-inv-4', 'asset-diamond-001', -5::numeric) $$,
    'api.negative_user_balances lists a user wallet below zero that no reversal took there');
-- a holds slot edited behind the ledger's back: the holds account no longer equals the open holds
SELECT tap.act_as('wallet_owner');
UPDATE ledger.wallets SET balance = balance + 1
WHERE asset_id = 'asset-loyalty-001' AND kind = 'holds' AND slot = 0;
SELECT tap.act_as('wallet_auditor');
SELECT results_eq(
    $$ SELECT ok, problems, detail FROM api.reconcile() WHERE check_name = 'each holds account equals its open holds' $$,
    $$ VALUES (false, 1::bigint, 'asset-loyalty-001: holds account 1, open holds 0') $$,
    'api.reconcile() reports a holds account that does not equal its open holds');
SELECT results_eq(
    $$ SELECT ok FROM api.reconcile() $$,
    ARRAY[false, false, false, false, false],
    'with all five kinds of damage, every api.reconcile() check fails');
SELECT tap.act_as_superuser();

SELECT * FROM finish();
ROLLBACK;
