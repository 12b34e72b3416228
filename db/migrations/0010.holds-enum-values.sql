-- depends: 0009.reversals-index
-- Issue 16, holds (the SQL layer): the enum values that migration 0011 and the hold functions
-- use. ALTER TYPE ... ADD VALUE may run inside a transaction block (PostgreSQL 12+), but a new
-- value cannot be used before that transaction commits, and yoyo runs each migration in a
-- transaction of its own: so the values come here, and 0011 (the holds slots, which are rows of
-- kind 'holds', and the holds table) uses them in the next one. Catalogue changes only.
--
-- * wallet kind 'holds': the escrow account of an asset, slotted like Treasury and Revenue. An
--   authorized hold moves its amount user -> a holds slot; a capture moves it holds -> Revenue
--   (the captured part) and holds -> user (the rest); a void or an expiry moves it all back.
-- * transaction types 'hold' (the authorization), 'capture' and 'release' (a void or an expiry).
ALTER TYPE ledger.wallet_kind ADD VALUE IF NOT EXISTS 'holds';
ALTER TYPE ledger.transaction_type ADD VALUE IF NOT EXISTS 'hold';
ALTER TYPE ledger.transaction_type ADD VALUE IF NOT EXISTS 'capture';
ALTER TYPE ledger.transaction_type ADD VALUE IF NOT EXISTS 'release';
