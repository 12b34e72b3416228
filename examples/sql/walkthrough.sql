-- A walk through the SQL API (the README's), on a freshly migrated and seeded database, as the
-- superuser taking a job's identity, then an auditor's, then the job's again (batches): with
-- `make run` serving, `make psql < examples/sql/walkthrough.sql`. Its transcript
-- (psql -X -a) with ids and times masked is walkthrough.sql.out, checked by tests/examples.

-- money moves as a trusted job moves it, logged in as wallet_job (the superuser takes its identity)
SET SESSION AUTHORIZATION wallet_job;

-- the seeded users
SELECT asset_code, balance FROM api.balances('user-rich-001');

-- top up, grant a bonus, spend: each returns (transaction_id, wallet_id, balance, replayed, ...)
SELECT * FROM api.topup('user-new-002', 'asset-gold-coin-001', 100.00, 'order-1',
                        '{"paymentProvider": "Stripe", "paymentId": "pi_123456"}');
SELECT * FROM api.grant_bonus('user-new-002', 'asset-loyalty-001', 50.00, 'Referral bonus', 'ref-1');
SELECT * FROM api.spend('user-rich-001', 'asset-gold-coin-001', 30.00, 'Legendary Sword', 'buy-1');

-- the same key again: the same transaction, replayed = true, nothing moves
SELECT * FROM api.spend('user-rich-001', 'asset-gold-coin-001', 30.00, 'Legendary Sword', 'buy-1');

-- a gift between players: the sender's debit and the recipient's credit, no system account
SELECT * FROM api.transfer('user-rich-001', 'user-new-002', 'asset-gold-coin-001', 25.00,
                           'Gift for the raid', 'gift-1');

-- the store refunds 30.00 of the top-up, then the rest (no amount: all that remains); the
-- top-up's id comes from a replay of it, which moves nothing
SELECT transaction_id AS order_1 FROM api.topup('user-new-002', 'asset-gold-coin-001', 100.00, 'order-1',
                        '{"paymentProvider": "Stripe", "paymentId": "pi_123456"}') \gset
SELECT transaction_id, user_id, balance, amount, remaining
FROM api.reverse(:order_1, 30.00, 'Store refund', 'refund-1');
SELECT transaction_id, user_id, balance, amount, remaining
FROM api.reverse(:order_1, NULL, 'Store refund', 'refund-2');
SELECT type, amount, reversed_amount, reversals FROM api.get_transaction(:order_1);

-- a wallet's ledger, newest first
SELECT * FROM api.wallet_entries((SELECT wallet_id FROM api.balances('user-rich-001', 'asset-gold-coin-001')));

-- the books, as people reconciling them read them (wallet_auditor, which can change nothing)
SET SESSION AUTHORIZATION wallet_auditor;
SELECT * FROM api.trial_balance;
SELECT * FROM api.reconcile();
SELECT * FROM api.negative_balances();   -- users in debt after a refund of coins already spent

-- batches: up to 1,000 top-ups, bonuses or spends of one asset in one call, with one key, each
-- item a transaction of its own; a job's tool (season rewards), so as the job again
SET SESSION AUTHORIZATION wallet_job;
SELECT item_index, user_id, status, transaction_id, balance
FROM api.post_batch('bonus', 'asset-gold-coin-001', ARRAY['user-rich-001', 'user-new-002', 'player-4711'],
                    ARRAY[50.00, 20.00, 10.00], 'Season 12 rewards', 'season-12');

-- per item (p_atomic => false): each item on its own, in order per user; a failed one moves nothing
SELECT item_index, user_id, status, balance, code, detail
FROM api.post_batch('spend', 'asset-gold-coin-001', ARRAY['user-new-002', 'player-4711', 'player-4711'],
                    ARRAY[30.00, 5.00, 10.00], 'Season 13 pass', 'season-13-pass', p_atomic => false);

-- all or none (the default): an error naming every item that cannot be posted, and nothing moves,
-- not even item 0 (user-rich-001 still has 9995.00); psql goes on, without the error's PL/pgSQL context
\set ON_ERROR_STOP off
\set SHOW_CONTEXT never
SELECT * FROM api.post_batch('spend', 'asset-gold-coin-001', ARRAY['user-rich-001', 'player-4711'],
                             ARRAY[100.00, 100.00], 'Season 13 pass', 'season-13-pass-2');
SELECT balance FROM api.balances('user-rich-001', 'asset-gold-coin-001');
