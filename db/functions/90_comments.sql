-- What \d+, \dT+ and \dn+ show: the comments of the schemas, the tables and their columns, the
-- types (and the attributes of the composite ones) and the domains. These objects are created by
-- the migrations, but their comments live here, applied again whenever this file changes, so
-- that one can be corrected without a migration. Functions and views carry their COMMENT right
-- under their definitions. sql_tests/00_schema_and_privileges.sql fails for any object of api
-- or ledger without one.

-- Schemas
COMMENT ON SCHEMA ledger IS
    'The books: tables, types and private helpers (ledger._*) of the double-entry ledger. Only the owner writes here, and only through the functions of schema api; wallet_auditor reads the tables (not api_keys nor webhooks). See db/CONVENTIONS.md.';
COMMENT ON SCHEMA api IS
    'The SQL API: the SECURITY DEFINER functions the HTTP service (as wallet_service) and trusted jobs (as wallet_job) call, the reconciliation views auditors read (as wallet_auditor), and API key management (owner). See docs/sql-api.md.';

-- Enums
COMMENT ON TYPE ledger.transaction_type IS
    'What a transaction is: opening_balance (a seeded or imported balance) and topup (a purchase) and bonus (with a reason) move Treasury -> user; spend (with a description) moves user -> Revenue; transfer (with a description) moves user -> another user, no system slot; reversal (with a reason) takes back all or part of the transaction named by reverses_transaction_id, mirroring its legs (api.reverse); hold (with a description) moves user -> a holds slot (api.authorize_hold); capture moves a holds slot -> Revenue and the rest -> user (api.capture_hold); release moves a holds slot -> user (api.void_hold, api.expire_holds). The three of a hold are not reversible.';
COMMENT ON TYPE ledger.wallet_kind IS
    'What a wallet row is: user (one wallet per user and asset), or a slot of a system account: treasury, the mint that top-ups, bonuses and opening balances are issued from (so its balance is minus what has been issued), revenue, the sink that spends land in, or holds, the escrow of authorized holds (its balance is the amounts of the asset''s open holds; api.reconcile checks it).';

-- Domains: the column rules. PostgreSQL keeps a domain's checks parsed in its type cache and
-- runs them only on the columns a statement writes, while every table CHECK is parsed again for
-- every INSERT or UPDATE of its table (measured: 17% of a posting's CPU with table CHECKs).
COMMENT ON DOMAIN ledger.user_id IS
    'A user id: 1 to 128 characters of letters, digits and ._:@-. The data guard of rule ledger._valid_user_id (the functions check the rule first and raise WUSER). Compared byte by byte (COLLATE "C"): an id is not a word. A domain, not a table CHECK: checked only when the column is written.';
COMMENT ON DOMAIN ledger.client_id IS
    'Whose idempotency key: 1 to 200 characters. The data guard of rule ledger._valid_client_id (WCLNT). COLLATE "C".';
COMMENT ON DOMAIN ledger.idempotency_key IS
    'An idempotency key: 1 to 255 printable ASCII characters. The data guard of rule ledger._valid_idempotency_key (WIKEY). COLLATE "C".';
COMMENT ON DOMAIN ledger.description IS
    'A spend''s description or a bonus''s reason: 1 to 500 characters (ledger._description_max_length()). The functions also refuse a blank one (WDESC).';
COMMENT ON DOMAIN ledger.json_object IS
    'A JSON object (not an array, string, number or null). Its size limit, ledger._metadata_max_bytes(), is checked by the functions (WMETA).';
COMMENT ON DOMAIN ledger.slot_number IS
    'Which slot of a system account a wallet row is: 0 to 255; a user wallet is slot 0.';
COMMENT ON DOMAIN ledger.nonzero_amount IS
    'An entry''s signed amount, never 0: positive credits the wallet, negative debits it.';
COMMENT ON DOMAIN ledger.entry_version IS
    'A wallet''s version right after an entry: 1 or more.';
COMMENT ON DOMAIN ledger.wallet_version IS
    'A wallet''s version: 0 before its first entry, +1 with every entry.';

-- ledger.assets
COMMENT ON TABLE ledger.assets IS
    'The currencies: how many decimal places an amount may have, the most one transaction may move, and how many slots each system account is split into. Reference data, written by migrations.';
COMMENT ON COLUMN ledger.assets.id IS
    'The asset''s id, as the API takes it (asset-gold-coin-001): a lower-case letter or digit, then up to 63 of those and -.';
COMMENT ON COLUMN ledger.assets.code IS 'The code people read (GOLD_COIN): unique, upper case.';
COMMENT ON COLUMN ledger.assets.name IS 'The name shown to people (Gold Coins).';
COMMENT ON COLUMN ledger.assets.scale IS
    'Decimal places an amount of this asset may have (0 to 8); more is WAMNT. Amounts and balances are shown rounded to them.';
COMMENT ON COLUMN ledger.assets.max_amount IS
    'The largest amount one transaction may move, inclusive; above it is WAMNT.';
COMMENT ON COLUMN ledger.assets.system_slots IS
    'How many wallet rows each system account (Treasury, Revenue) of this asset is split into (1 to 256, default 64), so that concurrent postings lock different rows instead of queueing on one.';
COMMENT ON COLUMN ledger.assets.created_at IS 'When the asset was added.';
COMMENT ON COLUMN ledger.assets.has_limits IS
    'True when the asset has a limit or any user has an override for it (kept by api.set_asset_limits, api.set_user_limits, api.clear_user_limits): ledger._post and api.transfer check and count limits only then, so an asset without limits pays one boolean test.';
COMMENT ON COLUMN ledger.assets.max_balance IS
    'The most a user wallet of this asset may hold after a credit (top-up, bonus, transfer received); NULL: none. Above it is WBLIM. A user''s override (ledger.user_limits) replaces it.';
COMMENT ON COLUMN ledger.assets.daily_earn_limit IS
    'The most a user may earn in a day (top-ups, bonuses, transfers received); NULL: none. Above it is WVLIM. Opening balances and reversals are exempt.';
COMMENT ON COLUMN ledger.assets.daily_spend_limit IS
    'The most a user may spend in a day (spends, transfers sent); NULL: none. Above it is WVLIM. Reversals are exempt.';
COMMENT ON COLUMN ledger.assets.day_time_zone IS
    'The time zone (IANA name, default UTC) whose calendar day the daily limits count: usage resets at its midnight.';

-- ledger.user_limits
COMMENT ON TABLE ledger.user_limits IS
    'One user''s limits for one asset (api.set_user_limits), which replace the asset''s three limits for that user; NULL is no limit. Read by ledger._check_limits only when the asset has_limits.';
COMMENT ON COLUMN ledger.user_limits.user_id IS 'The user the override is for.';
COMMENT ON COLUMN ledger.user_limits.asset_id IS 'The asset the override is for.';
COMMENT ON COLUMN ledger.user_limits.max_balance IS 'The user''s maximum balance of the asset; NULL: none (WBLIM above it).';
COMMENT ON COLUMN ledger.user_limits.daily_earn_limit IS 'The user''s daily earn limit; NULL: none (WVLIM above it).';
COMMENT ON COLUMN ledger.user_limits.daily_spend_limit IS 'The user''s daily spend limit; NULL: none (WVLIM above it).';
COMMENT ON COLUMN ledger.user_limits.updated_at IS 'When the override was last set.';

-- ledger.wallets
COMMENT ON TABLE ledger.wallets IS
    'One row per user wallet (user, asset) and one per slot of each system account; a system account''s balance is the sum of its slots (api.system_accounts). Balances change only through ledger._post. Trigger wallets_identity: asset, kind, owner and slot fit the kind and never change. Fillfactor 70 leaves room for HOT balance updates.';
COMMENT ON COLUMN ledger.wallets.id IS 'The wallet id the API shows (walletId).';
COMMENT ON COLUMN ledger.wallets.asset_id IS 'The asset this wallet holds.';
COMMENT ON COLUMN ledger.wallets.kind IS 'user, or the system account (treasury, revenue, holds) this row is a slot of.';
COMMENT ON COLUMN ledger.wallets.owner_id IS 'The user who owns the wallet; NULL for a system slot. One wallet per user and asset.';
COMMENT ON COLUMN ledger.wallets.slot IS
    'Which slot of its system account the row is (0 to the asset''s system_slots - 1); 0 for a user wallet.';
COMMENT ON COLUMN ledger.wallets.balance IS
    'The balance now: the sum of the wallet''s entries and its latest entry''s balance_after (api.wallet_drift proves it). Never below zero for a user wallet (CHECK wallets_user_balance_not_negative); the Treasury''s is minus what was issued.';
COMMENT ON COLUMN ledger.wallets.version IS
    '+1 with every entry on this row: its number of entries, and the wallet_version of its latest.';
COMMENT ON COLUMN ledger.wallets.created_at IS 'When the row was made (a user wallet: at its first credit).';
COMMENT ON COLUMN ledger.wallets.updated_at IS 'When the balance last changed.';
COMMENT ON COLUMN ledger.wallets.usage_day IS
    'The day (in the asset''s day_time_zone) that earned_today and spent_today count; NULL until the wallet''s first posting under limits. Written only by ledger._check_limits, under the wallet''s row lock; a posting on another day starts both from zero.';
COMMENT ON COLUMN ledger.wallets.earned_today IS
    'What the user earned (top-ups, bonuses, transfers received) on usage_day while the asset had limits; NULL: nothing counted yet.';
COMMENT ON COLUMN ledger.wallets.spent_today IS
    'What the user spent (spends, transfers sent) on usage_day while the asset had limits; NULL: nothing counted yet.';

-- ledger.transactions
COMMENT ON TABLE ledger.transactions IS
    'One row per money movement; its entries are in ledger.entries. (client_id, idempotency_key) is unique: the durable record that makes each call exactly-once. Written once (trigger transactions_are_immutable: WIMUT) and balanced at commit (deferred constraint trigger transactions_balance: WUNBL).';
COMMENT ON COLUMN ledger.transactions.id IS
    'From a sequence cached 64 at a time per session: unique, but not in commit order across sessions.';
COMMENT ON COLUMN ledger.transactions.type IS 'What the transaction is: topup, bonus, spend or opening_balance.';
COMMENT ON COLUMN ledger.transactions.client_id IS
    'Whose idempotency key this is: api:<key name> for the HTTP service (login wallet_service only), sql:<login role> for a direct SQL caller that names no client (that login only), any other for a client a job names (never the service). Rule ledger._valid_client_namespace (WCLNS).';
COMMENT ON COLUMN ledger.transactions.idempotency_key IS
    'The caller''s key, unique per client: the same key again with the same arguments replays this transaction, with others is WIDEM.';
COMMENT ON COLUMN ledger.transactions.description IS
    'A spend''s service description or a bonus''s reason; NULL for top-ups and opening balances.';
COMMENT ON COLUMN ledger.transactions.metadata IS 'The caller''s JSON object, kept as given (at most 4096 bytes).';
COMMENT ON COLUMN ledger.transactions.created_at IS 'When the transaction was made (what a replay returns too).';
COMMENT ON COLUMN ledger.transactions.reverses_transaction_id IS
    'For a reversal: the transaction it reverses (index transactions_reversals finds a transaction''s reversals); NULL for every other type.';
COMMENT ON COLUMN ledger.transactions.reversal_mode IS
    'For a reversal: strict (it could not take a user below zero) or allow_negative (it took the whole amount back, below zero if need be); NULL for every other type.';

-- ledger.entries
COMMENT ON TABLE ledger.entries IS
    'The double entry: two or more rows per transaction whose signed amounts sum to zero, each with its wallet''s balance and version right after it, so history is audited without recomputation. Written once (trigger entries_are_immutable: WIMUT), and only in the database transaction that created their transaction (trigger entries_of_new_transactions: WIMUT), so the double-entry check sees every entry. Keyed by (transaction_id, id): a transaction''s entries are found by the key''s prefix.';
COMMENT ON COLUMN ledger.entries.id IS
    'From a sequence cached 64 at a time per session: unique, not in commit order; a wallet''s history is ordered by wallet_version, never by id.';
COMMENT ON COLUMN ledger.entries.transaction_id IS 'The transaction this entry is part of.';
COMMENT ON COLUMN ledger.entries.wallet_id IS 'The wallet (a user''s, or a system slot) this entry moves.';
COMMENT ON COLUMN ledger.entries.amount IS 'Signed: positive credits the wallet, negative debits it; never 0.';
COMMENT ON COLUMN ledger.entries.balance_after IS 'The wallet''s balance right after this entry.';
COMMENT ON COLUMN ledger.entries.wallet_version IS
    'The wallet''s version right after this entry: orders a wallet''s history exactly (ids are taken before the row lock, versions under it) and is the ledger''s keyset cursor (next_cursor, p_before_version). Unique per wallet.';
COMMENT ON COLUMN ledger.entries.posted_at IS
    'When the entry was posted: one clock reading per transaction, taken after all its locks, so it never decreases along a wallet''s versions. NULL for entries posted before migration 0008: their time is their transaction''s created_at.';

-- ledger.api_keys
COMMENT ON TABLE ledger.api_keys IS
    'API keys of the HTTP service, managed by the owner (wallet keys create|list|revoke). Only a key''s SHA-256 digest is stored; the key is shown once, when created. No role but the owner reads this table: the service loads the active keys through api.active_api_keys(), auditors list them through api.list_api_keys(). Rows are never deleted and change only by their revocation (triggers api_keys_are_kept, api_keys_change_only_by_revocation: WIMUT), since a name scopes idempotency keys. Table CHECKs are fine here: keys are written by people, not on the posting path.';
COMMENT ON COLUMN ledger.api_keys.id IS 'Row id.';
COMMENT ON COLUMN ledger.api_keys.name IS
    'The key''s name: 1 to 64 of letters, digits and ._- (ledger._valid_api_key_name). Never reused, not even after a revocation: the service scopes its clients'' idempotency keys by api:<name>, so a new key with an old name would replay the old key''s requests.';
COMMENT ON COLUMN ledger.api_keys.key_hash IS 'The SHA-256 digest of the key (32 bytes); unique.';
COMMENT ON COLUMN ledger.api_keys.key_prefix IS 'The key''s first characters, so that people can tell keys apart in listings.';
COMMENT ON COLUMN ledger.api_keys.scopes IS
    'What the key may do: one or more of ledger._api_scopes() (wallet:audit, wallet:bonus, wallet:hold, wallet:read, wallet:refund, wallet:spend, wallet:topup, wallet:transfer), de-duplicated and sorted.';
COMMENT ON COLUMN ledger.api_keys.created_at IS 'When the key was created.';
COMMENT ON COLUMN ledger.api_keys.revoked_at IS 'When the key was revoked (the first time); NULL while it is active. The only column that changes, once (WIMUT otherwise).';

-- ledger.holds and ledger.hold_status: holds (migration 0011, db/functions/25_api_holds.sql)
COMMENT ON TYPE ledger.hold_status IS
    'Where a hold stands: open (its amount is in the holds account), captured (api.capture_hold), voided (api.void_hold) or expired (released by api.expire_holds). Only open -> one of the other three, once.';
COMMENT ON TABLE ledger.holds IS
    'One row per authorized hold (api.authorize_hold). Changes only by its one resolution, open -> captured | voided | expired, and is never deleted (triggers holds_are_kept, holds_change_only_by_resolution: WIMUT). The money is in the ledger: the hold transaction moved the amount user -> a holds slot, the resolving transaction moves it out. Index holds_open_by_expiry serves the sweep.';
COMMENT ON COLUMN ledger.holds.id IS 'The hold id the API shows (holdId).';
COMMENT ON COLUMN ledger.holds.user_id IS 'The user whose balance is held.';
COMMENT ON COLUMN ledger.holds.asset_id IS 'The asset held.';
COMMENT ON COLUMN ledger.holds.wallet_id IS 'The user''s wallet the amount came from and the rest goes back to.';
COMMENT ON COLUMN ledger.holds.amount IS 'The amount held, > 0.';
COMMENT ON COLUMN ledger.holds.captured IS 'What the capture moved to Revenue; 0 unless captured.';
COMMENT ON COLUMN ledger.holds.released IS 'What went back to the user (the rest of a capture, all of a void or expiry); 0 while open. captured + released = amount once resolved (CHECK holds_resolved_in_full).';
COMMENT ON COLUMN ledger.holds.status IS 'open, captured, voided or expired.';
COMMENT ON COLUMN ledger.holds.expires_at IS 'When the hold expires: from then on it can no longer be captured nor voided (WHEXP), and api.expire_holds releases it. created_at + 1 second to 30 days.';
COMMENT ON COLUMN ledger.holds.hold_transaction_id IS 'The hold transaction that moved the amount into the holds account (its description is the hold''s).';
COMMENT ON COLUMN ledger.holds.resolve_transaction_id IS 'The capture or release transaction that resolved it; NULL while open.';
COMMENT ON COLUMN ledger.holds.client_id IS 'The client of the authorization''s idempotency key (as its transaction''s).';
COMMENT ON COLUMN ledger.holds.idempotency_key IS 'The authorization''s idempotency key (as its transaction''s).';
COMMENT ON COLUMN ledger.holds.created_at IS 'When the hold was authorized: the posted_at of its entries.';
COMMENT ON COLUMN ledger.holds.resolved_at IS 'When it was captured, voided or expired: the posted_at of the resolving entries; NULL while open.';
COMMENT ON COLUMN ledger.holds.spend_day IS 'The day (in the asset''s day_time_zone) the authorization was counted in the wallet''s spent_today, the asset having limits then (migration 0013); NULL if it was not counted. What the resolution releases on that day is taken off spent_today again.';

-- ledger.hold_posting: what the hold functions return
COMMENT ON TYPE ledger.hold_posting IS
    'What api.authorize_hold, api.capture_hold, api.void_hold and api.get_hold return: the hold after the call, the call''s transaction, the user''s balance after it, and whether it was a replay.';
COMMENT ON COLUMN ledger.hold_posting.hold_id IS 'The hold.';
COMMENT ON COLUMN ledger.hold_posting.status IS 'open, captured, voided or expired (a replay of the authorization: open, as first answered).';
COMMENT ON COLUMN ledger.hold_posting.user_id IS 'The user whose balance is held.';
COMMENT ON COLUMN ledger.hold_posting.asset_id IS 'The asset.';
COMMENT ON COLUMN ledger.hold_posting.wallet_id IS 'The user''s wallet.';
COMMENT ON COLUMN ledger.hold_posting.amount IS 'The amount held.';
COMMENT ON COLUMN ledger.hold_posting.captured IS 'What was captured (to Revenue).';
COMMENT ON COLUMN ledger.hold_posting.released IS 'What went back to the user.';
COMMENT ON COLUMN ledger.hold_posting.remaining IS 'What is still held: the amount while open, 0 once resolved.';
COMMENT ON COLUMN ledger.hold_posting.description IS 'The authorization''s description.';
COMMENT ON COLUMN ledger.hold_posting.expires_at IS 'When the hold expires.';
COMMENT ON COLUMN ledger.hold_posting.hold_transaction_id IS 'The authorization''s transaction.';
COMMENT ON COLUMN ledger.hold_posting.resolve_transaction_id IS 'The capture or release transaction; NULL while open.';
COMMENT ON COLUMN ledger.hold_posting.transaction_id IS 'This call''s transaction (on a replay: the original''s); NULL for api.get_hold.';
COMMENT ON COLUMN ledger.hold_posting.balance IS 'The user''s balance right after this call''s transaction; NULL when it has no user leg (a capture of the whole hold) and for api.get_hold.';
COMMENT ON COLUMN ledger.hold_posting.replayed IS 'true when the key had been used with the same arguments: nothing moved; NULL for api.get_hold.';
COMMENT ON COLUMN ledger.hold_posting.created_at IS 'When the hold was authorized.';
COMMENT ON COLUMN ledger.hold_posting.resolved_at IS 'When it was resolved; NULL while open.';

-- ledger.posting: what every money function returns
COMMENT ON TYPE ledger.posting IS
    'What every money function returns, one row: the transaction, the user''s wallet and its balance after the transaction, whether the call replayed an earlier one with the same key, the amount and the creation time (the original''s on a replay, so that a replayed answer is the first one).';
COMMENT ON COLUMN ledger.posting.transaction_id IS 'The transaction (on a replay: the original).';
COMMENT ON COLUMN ledger.posting.wallet_id IS 'The user''s wallet.';
COMMENT ON COLUMN ledger.posting.balance IS 'The user''s balance right after the transaction (on a replay: after the original).';
COMMENT ON COLUMN ledger.posting.replayed IS 'true when the key had been used with the same arguments: nothing moved.';
COMMENT ON COLUMN ledger.posting.amount IS 'The amount moved, at the asset''s decimal places.';
COMMENT ON COLUMN ledger.posting.created_at IS 'When the transaction was made (on a replay: the original''s time).';

-- ledger.transfer_posting: what api.transfer returns
COMMENT ON TYPE ledger.transfer_posting IS
    'What api.transfer returns, one row: the transaction, both users'' wallets and balances after it, whether the call replayed an earlier one with the same key, the amount and the creation time (the original''s on a replay).';
COMMENT ON COLUMN ledger.transfer_posting.transaction_id IS 'The transaction (on a replay: the original).';
COMMENT ON COLUMN ledger.transfer_posting.from_wallet_id IS 'The sender''s wallet.';
COMMENT ON COLUMN ledger.transfer_posting.from_balance IS 'The sender''s balance right after the transfer (on a replay: after the original).';
COMMENT ON COLUMN ledger.transfer_posting.to_wallet_id IS 'The recipient''s wallet (created by the transfer if it was the first credit).';
COMMENT ON COLUMN ledger.transfer_posting.to_balance IS 'The recipient''s balance right after the transfer (on a replay: after the original).';
COMMENT ON COLUMN ledger.transfer_posting.replayed IS 'true when the key had been used with the same arguments: nothing moved.';
COMMENT ON COLUMN ledger.transfer_posting.amount IS 'The amount moved, at the asset''s decimal places.';
COMMENT ON COLUMN ledger.transfer_posting.created_at IS 'When the transaction was made (on a replay: the original''s time).';

-- ledger.reversal_mode and ledger.reversal_posting: api.reverse
COMMENT ON TYPE ledger.reversal_mode IS
    'How a reversal treats a user who has already spent the coins: strict refuses (WFUND), allow_negative takes the whole amount back and leaves the balance below zero (the one way below zero, trigger wallets_negative_only_by_reversal).';
COMMENT ON TYPE ledger.reversal_posting IS
    'What api.reverse returns, one row: the reversal, its user side (the debited user, else the credited one) and, for a transfer''s reversal, the other user, the amount, what remains to reverse of the original, whether the call replayed an earlier one, the creation time.';
COMMENT ON COLUMN ledger.reversal_posting.transaction_id IS 'The reversal (on a replay: the original reversal).';
COMMENT ON COLUMN ledger.reversal_posting.reverses_transaction_id IS 'The transaction it reverses.';
COMMENT ON COLUMN ledger.reversal_posting.user_id IS 'The user it takes coins from (a top-up''s or bonus''s user, a transfer''s recipient), else the one it gives them to (a spend''s user).';
COMMENT ON COLUMN ledger.reversal_posting.asset_id IS 'The asset.';
COMMENT ON COLUMN ledger.reversal_posting.wallet_id IS 'That user''s wallet.';
COMMENT ON COLUMN ledger.reversal_posting.balance IS 'That user''s balance right after the reversal (below zero after an allow_negative reversal of coins already spent).';
COMMENT ON COLUMN ledger.reversal_posting.counterparty_user_id IS 'For a transfer''s reversal: the sender, who gets the coins back; NULL otherwise.';
COMMENT ON COLUMN ledger.reversal_posting.counterparty_wallet_id IS 'For a transfer''s reversal: the sender''s wallet; NULL otherwise.';
COMMENT ON COLUMN ledger.reversal_posting.counterparty_balance IS 'For a transfer''s reversal: the sender''s balance right after it; NULL otherwise.';
COMMENT ON COLUMN ledger.reversal_posting.amount IS 'The amount reversed, at the asset''s decimal places.';
COMMENT ON COLUMN ledger.reversal_posting.remaining IS 'What could still be reversed of the original right after this reversal.';
COMMENT ON COLUMN ledger.reversal_posting.replayed IS 'true when the key had been used with the same arguments: nothing moved.';
COMMENT ON COLUMN ledger.reversal_posting.created_at IS 'When the reversal was made (on a replay: the original reversal''s time).';

-- ledger.ledger_line: one line of a wallet's ledger (a type in ledger, stable across migrates)
COMMENT ON TYPE ledger.ledger_line IS
    'One entry of a wallet''s ledger as api.wallet_entries, api.ledger_page and api.statement return it. In schema ledger, not api, so that it stays put while api''s re-applied files change.';
COMMENT ON COLUMN ledger.ledger_line.entry_id IS 'The entry.';
COMMENT ON COLUMN ledger.ledger_line.transaction_id IS 'Its transaction.';
COMMENT ON COLUMN ledger.ledger_line.type IS 'The transaction''s type.';
COMMENT ON COLUMN ledger.ledger_line.direction IS 'credit or debit, for this wallet.';
COMMENT ON COLUMN ledger.ledger_line.amount IS 'The amount, unsigned, at the asset''s decimal places.';
COMMENT ON COLUMN ledger.ledger_line.balance_after IS 'The wallet''s balance right after the entry.';
COMMENT ON COLUMN ledger.ledger_line.wallet_version IS 'The wallet''s version after the entry: pass the last one seen as p_before_version for the next page.';
COMMENT ON COLUMN ledger.ledger_line.description IS 'The transaction''s description or reason, if any.';
COMMENT ON COLUMN ledger.ledger_line.metadata IS 'The transaction''s metadata.';
COMMENT ON COLUMN ledger.ledger_line.created_at IS 'When the transaction was made.';

-- ledger.transaction_leg: one entry of a transaction
COMMENT ON TYPE ledger.transaction_leg IS
    'One entry of a transaction as api.transaction_entries and api.get_transaction return it.';
COMMENT ON COLUMN ledger.transaction_leg.entry_id IS 'The entry.';
COMMENT ON COLUMN ledger.transaction_leg.wallet_id IS 'The wallet it moves.';
COMMENT ON COLUMN ledger.transaction_leg.owner_type IS 'user or system.';
COMMENT ON COLUMN ledger.transaction_leg.user_id IS 'The user, for a user wallet; NULL for a system slot.';
COMMENT ON COLUMN ledger.transaction_leg.account IS 'The system account and slot (treasury#3, revenue#0); NULL for a user wallet.';
COMMENT ON COLUMN ledger.transaction_leg.direction IS 'credit or debit, for this wallet.';
COMMENT ON COLUMN ledger.transaction_leg.amount IS 'The amount, unsigned, at the asset''s decimal places.';
COMMENT ON COLUMN ledger.transaction_leg.balance_after IS 'The wallet''s balance right after the entry.';

-- ledger.batches and ledger.transactions.batch_id: batches (migration 0014, db/functions/26_api_batches.sql)
COMMENT ON TABLE ledger.batches IS
    'One row per batch of api.post_batch: claimed by its (client_id, idempotency_key) before anything moves; its items are the transactions whose batch_id is its id (client ledger:batch, key ''<batch id>:<index>'').';
COMMENT ON COLUMN ledger.batches.id IS 'The batch id the API shows (batchId).';
COMMENT ON COLUMN ledger.batches.client_id IS 'Whose idempotency key the batch''s is (as a transaction''s).';
COMMENT ON COLUMN ledger.batches.idempotency_key IS 'The batch''s idempotency key: one for all its items.';
COMMENT ON COLUMN ledger.batches.type IS 'topup, bonus or spend: every item''s type.';
COMMENT ON COLUMN ledger.batches.asset_id IS 'The asset of every item.';
COMMENT ON COLUMN ledger.batches.description IS 'A spend''s description or a bonus''s reason, every item''s.';
COMMENT ON COLUMN ledger.batches.atomic IS 'true: all items or none; false: each item on its own.';
COMMENT ON COLUMN ledger.batches.items IS 'How many items the batch had (1 to 1000).';
COMMENT ON COLUMN ledger.batches.fingerprint IS 'md5 of what a replay must repeat (type, asset, text, mode, every item: amounts as numbers); another batch under the key is WIDEM.';
COMMENT ON COLUMN ledger.batches.results IS 'The items that failed, by index (from 0): [code, detail]; NULL when none did. What completed is in the ledger.';
COMMENT ON COLUMN ledger.batches.created_at IS 'When the batch was posted.';
COMMENT ON COLUMN ledger.transactions.batch_id IS 'The batch this transaction is an item of (ledger.batches.id); NULL for a single call. No foreign key (single calls would pay for it); sql_tests/80_invariants.sql checks it.';

-- The seal (migration 0015, db/functions/27_seal.sql; issue 18)
COMMENT ON TABLE ledger.seals IS
    'One row per sealed transaction, written by api.seal only: its place in the one gap-free order and the SHA-256 hash chained to the previous seal''s (api.verify_seal recomputes it). Immutable.';
COMMENT ON COLUMN ledger.seals.sequence IS 'The transaction''s place in the seal order: 1, 2, 3... with no gap.';
COMMENT ON COLUMN ledger.seals.transaction_id IS 'The sealed transaction; each is sealed once.';
COMMENT ON COLUMN ledger.seals.hash IS 'SHA-256 of the previous seal''s hash, the sequence and the transaction''s canonical form (ledger._seal_forms, version 1).';
COMMENT ON COLUMN ledger.seals.sealed_at IS 'When the sealer sealed it (its lag: sealed_at minus the transaction''s created_at).';
COMMENT ON TABLE ledger.seal_state IS
    'Where the sealer stopped (one row, locked by the sealing pass: two sealers take turns).';
COMMENT ON COLUMN ledger.seal_state.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN ledger.seal_state.legacy_last_id IS 'The rows written before migration 0015 (commit_xid NULL) are sealed first, in id order, up to this id.';
COMMENT ON COLUMN ledger.seal_state.legacy_done IS 'true once every row written before migration 0015 is sealed.';
COMMENT ON COLUMN ledger.seal_state.frontier_xid IS 'With frontier_id: every transaction at or before (commit_xid, id) = (frontier_xid, frontier_id) is sealed.';
COMMENT ON COLUMN ledger.seal_state.frontier_id IS 'See frontier_xid.';
COMMENT ON COLUMN ledger.seal_state.last_sequence IS 'The chain''s head: the last sequence given (0 before the first).';
COMMENT ON COLUMN ledger.seal_state.last_hash IS 'The chain''s head: the last seal''s hash (32 zero bytes before the first).';
COMMENT ON COLUMN ledger.seal_state.sealed_at IS 'When the last pass sealed anything.';
COMMENT ON COLUMN ledger.transactions.commit_xid IS 'The top-level transaction id (xid8) that wrote the row, by its default: the sealer seals a row once its commit_xid is below a snapshot''s xmin (its writer has ended). NULL for rows written before migration 0015.';

-- Webhooks (migration 0016, db/functions/29_webhooks.sql)
COMMENT ON TABLE ledger.webhooks IS
    'Webhook subscriptions to the event stream, managed as wallet_job (wallet webhooks add|list|disable|enable) and delivered by the service''s delivery worker in sequence order, at least once. The owner''s only (the secrets sign deliveries): api.webhooks() lists them without the secret.';
COMMENT ON COLUMN ledger.webhooks.id IS 'The subscription''s id, named by wallet webhooks disable|enable and sent in the Wallet-Webhook-Id header.';
COMMENT ON COLUMN ledger.webhooks.url IS 'Where deliveries are POSTed: http:// or https://.';
COMMENT ON COLUMN ledger.webhooks.event_types IS 'The transaction types delivered (NULL: every type); the others are skipped.';
COMMENT ON COLUMN ledger.webhooks.secret IS 'The shared secret of the Wallet-Signature HMAC-SHA256 (16 to 256 bytes), kept as given since it signs.';
COMMENT ON COLUMN ledger.webhooks.status IS 'active; failing (consecutive failures reached the worker''s bound: still retried at the longest backoff); disabled (not delivered).';
COMMENT ON COLUMN ledger.webhooks.after_sequence IS 'The cursor: every event up to this sequence was delivered (2xx) or skipped. Only moves forward.';
COMMENT ON COLUMN ledger.webhooks.delivered IS 'Events delivered so far (each counted once per 2xx; a redelivery after a lost answer counts again).';
COMMENT ON COLUMN ledger.webhooks.failures IS 'Consecutive failed deliveries (0 after a success).';
COMMENT ON COLUMN ledger.webhooks.last_error IS 'Why the last delivery failed (cleared by a success).';
COMMENT ON COLUMN ledger.webhooks.last_attempt_at IS 'When a worker last took the subscription to deliver.';
COMMENT ON COLUMN ledger.webhooks.delivered_at IS 'When events were last delivered.';
COMMENT ON COLUMN ledger.webhooks.next_attempt_at IS 'Not taken before this moment (the backoff after a failure).';
COMMENT ON COLUMN ledger.webhooks.lease_owner IS 'The worker delivering it now (a random id per worker), until lease_until.';
COMMENT ON COLUMN ledger.webhooks.lease_until IS 'When the lease ends unless renewed: a worker that died loses it then, and the next resumes from the cursor.';
COMMENT ON COLUMN ledger.webhooks.created_at IS 'When it was added.';
COMMENT ON COLUMN ledger.webhooks.disabled_at IS 'When it was disabled (NULL unless disabled).';
