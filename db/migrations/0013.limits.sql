-- depends: 0012.hold-scope
-- Issue 16, limits: per asset, with per-user overrides, a maximum balance, a daily earn limit
-- (top-ups, bonuses, transfers received) and a daily spend limit (spends, transfers sent, hold
-- authorizations). Opening balances (imports) and reversals (a refund is never blocked by a cap) are
-- exempt: they neither are refused nor count.
--
-- Where the cost goes (docs/performance.md: on ledger._post's path every extra statement costs
-- about a row update):
-- * ledger.assets.has_limits: _post already reads the asset's whole row (SELECT * INTO v_asset),
--   so an asset without limits pays one boolean test and nothing else. It is true when the asset
--   has a limit or any user has an override for it (api.set_asset_limits, api.set_user_limits and
--   api.clear_user_limits keep it so).
-- * The day's usage lives on the user's wallet row (usage_day, earned_today, spent_today), not in
--   a table of (wallet, day) counters: the posting already holds that row's lock (its balance
--   UPDATE), so the counters are read and written under the same lock as the balance, and no
--   concurrency can exceed a limit; a counters table would cost an extra row (an index probe and
--   insert per wallet and day) and an extra lock. The columns are nullable without a default, so
--   adding them rewrites nothing and a wallet that never posted under limits stores them as
--   NULL bits only; no index covers them, so their updates stay HOT like the balance's. The
--   counters reset themselves: a posting whose day (in the asset's day_time_zone) is not
--   usage_day starts again from zero. Only a posting of an asset with limits writes them.
-- * Overrides are a small table read only when has_limits is true (a primary-key probe).
--
-- Nothing here scans or rewrites a table: nullable columns and a constant default are catalogue
-- changes (PostgreSQL 11+), and the new table is empty.

ALTER TABLE ledger.assets
    ADD COLUMN has_limits        boolean NOT NULL DEFAULT false,
    ADD COLUMN max_balance       numeric CONSTRAINT assets_max_balance_positive
        CHECK (max_balance > 0 AND max_balance < 'Infinity'),
    ADD COLUMN daily_earn_limit  numeric CONSTRAINT assets_daily_earn_limit_positive
        CHECK (daily_earn_limit > 0 AND daily_earn_limit < 'Infinity'),
    ADD COLUMN daily_spend_limit numeric CONSTRAINT assets_daily_spend_limit_positive
        CHECK (daily_spend_limit > 0 AND daily_spend_limit < 'Infinity'),
    -- the day of the daily limits: midnight to midnight in this zone (an IANA name)
    ADD COLUMN day_time_zone     text NOT NULL DEFAULT 'UTC';

-- A user's limits for one asset replace the asset's limits for that user, all three together
-- (NULL: no limit for this user, so a VIP can be freed of a cap the asset has).
CREATE TABLE ledger.user_limits (
    user_id           ledger.user_id NOT NULL,
    asset_id          text COLLATE "C" NOT NULL REFERENCES ledger.assets,
    max_balance       numeric CONSTRAINT user_limits_max_balance_positive
        CHECK (max_balance > 0 AND max_balance < 'Infinity'),
    daily_earn_limit  numeric CONSTRAINT user_limits_daily_earn_limit_positive
        CHECK (daily_earn_limit > 0 AND daily_earn_limit < 'Infinity'),
    daily_spend_limit numeric CONSTRAINT user_limits_daily_spend_limit_positive
        CHECK (daily_spend_limit > 0 AND daily_spend_limit < 'Infinity'),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_limits_one_per_user_and_asset PRIMARY KEY (user_id, asset_id)
);

ALTER TABLE ledger.wallets
    ADD COLUMN usage_day    date,
    ADD COLUMN earned_today numeric,
    ADD COLUMN spent_today  numeric;

-- The day a hold's authorization was counted as spent (NULL: its asset had no limits then). A
-- release of the hold on that same day gives the released amount back to the day's spending, so
-- that money reserved and then returned (a void, an expiry, the rest of a partial capture) does
-- not use up the daily spend limit; only what is captured stays spent.
ALTER TABLE ledger.holds
    ADD COLUMN spend_day date;
