#!/usr/bin/env bash
# A walk through the HTTP API (the README's): with `make run` serving, in another terminal of the
# same checkout, `bash examples/http/walkthrough.sh`. API and KEY may be set in the environment.
# walkthrough.sh.out is what it printed on a freshly seeded database, ids and times masked
# (tests/examples checks it; examples/README.md says how to regenerate it).
set -euo pipefail

API=${API:-http://localhost:3000/api/v1}
KEY=${KEY:-$(cat .local/dev-api-key)}
step() { printf '\n# %s\n' "$1"; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }  # field '["a"][0]'

step "the seeded users' balances (a user without a wallet in an asset holds 0.00 there)"
curl -s -w '\n' -H "Authorization: Bearer $KEY" "$API/wallet/user-rich-001/balance"

step "top up: amounts are decimal strings; the Idempotency-Key makes a retry safe"
TOPUP=$(curl -s -X POST "$API/wallet/topup" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: order-8812' \
  -d '{"userId": "user-new-002", "assetTypeId": "asset-gold-coin-001", "amount": "100.00",
       "metadata": {"paymentProvider": "Stripe", "paymentId": "pi_123456"}}')
echo "$TOPUP"
TOPUP_ID=$(field '["transactionId"]' <<<"$TOPUP")

step 'the same request again: the same answer, "Idempotent-Replayed: true", nothing moves'
curl -si -w '\n' -X POST "$API/wallet/topup" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: order-8812' \
  -d '{"userId": "user-new-002", "assetTypeId": "asset-gold-coin-001", "amount": "100.00",
       "metadata": {"paymentProvider": "Stripe", "paymentId": "pi_123456"}}'

step "a bonus, with its reason"
curl -s -w '\n' -X POST "$API/wallet/bonus" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: referral-77' \
  -d '{"userId": "user-new-002", "assetTypeId": "asset-loyalty-001", "amount": "50.00",
       "reason": "Referral bonus", "metadata": {"campaign": "Spring2026"}}'

BEFORE_SPEND=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)  # a moment, in RFC 3339, for the reads in time below
step "a spend"
SPEND=$(curl -s -X POST "$API/wallet/spend" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: buy-sword-1' \
  -d '{"userId": "user-rich-001", "assetTypeId": "asset-gold-coin-001", "amount": "30.00",
       "serviceDescription": "Legendary Sword", "metadata": {"itemId": "item-123"}}')
echo "$SPEND"

step "a transfer, a gift from one player to another: both balances come back"
curl -s -w '\n' -X POST "$API/wallet/transfer" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: gift-301' \
  -d '{"fromUserId": "user-rich-001", "toUserId": "user-new-002",
       "assetTypeId": "asset-gold-coin-001", "amount": "25.00", "description": "Birthday gift"}'

step "a store refund of 30.00 of the top-up: the coins go back (remaining: what is left of it)"
REVERSALS="$API/transactions/$TOPUP_ID/reversals"
curl -s -w '\n' -X POST "$REVERSALS" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: refund-8812-1' \
  -d '{"amount": "30.00", "reason": "Store refund", "metadata": {"refundId": "re_1"}}'

step "then the rest: no amount is all that remains; past that, 422 reversal_exceeds_original"
curl -s -w '\n' -X POST "$REVERSALS" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: refund-8812-2' \
  -d '{"reason": "Store refund: the rest"}'
curl -s -w '\n' -X POST "$REVERSALS" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: refund-8812-3' \
  -d '{"amount": "1.00", "reason": "Store refund: once more"}'

step "more than the balance: a 422 problem with a stable code, insufficient_funds; nothing moves"
curl -s -w '\n' -X POST "$API/wallet/spend" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: buy-castle-1' \
  -d '{"userId": "user-new-002", "assetTypeId": "asset-gold-coin-001", "amount": "500.00",
       "serviceDescription": "Castle"}'

step "a wallet's ledger, newest first, a page of one entry (walletId from the balance answer)"
WALLET=$(curl -s -H "Authorization: Bearer $KEY" \
  "$API/wallet/user-rich-001/balance?assetTypeId=asset-gold-coin-001" | field '["balances"][0]["walletId"]')
PAGE=$(curl -s -H "Authorization: Bearer $KEY" "$API/wallet/$WALLET/ledger?limit=1")
echo "$PAGE"

step "the next page: the previous page's nextCursor as cursor"
CURSOR=$(field '["nextCursor"]' <<<"$PAGE")
curl -s -w '\n' -H "Authorization: Bearer $KEY" "$API/wallet/$WALLET/ledger?limit=1&cursor=$CURSOR"

step "the Gold balance as it was before the spend (?at=, RFC 3339 with its offset; no holds then)"
curl -s -w '\n' -H "Authorization: Bearer $KEY" \
  "$API/wallet/user-rich-001/balance?assetTypeId=asset-gold-coin-001&at=$BEFORE_SPEND"

step "the wallet's statement since: opening + credits - debits = closing, by type, its entries a page at a time"
curl -s -w '\n' -H "Authorization: Bearer $KEY" \
  "$API/wallet/$WALLET/statement?from=$BEFORE_SPEND&to=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"

step "the spend with both of its entries: the user's wallet and a slot of Revenue"
TRANSACTION=$(field '["transactionId"]' <<<"$SPEND")
curl -s -w '\n' -H "Authorization: Bearer $KEY" "$API/transactions/$TRANSACTION"

step "the top-up now: reversedAmount, all of it, and its two reversals"
curl -s -w '\n' -H "Authorization: Bearer $KEY" "$API/transactions/$TOPUP_ID"

step "a hold: 20.00 of user-new-002's coins reserved for 10 minutes (balance: what is left to spend)"
HOLD=$(curl -s -X POST "$API/wallet/holds" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: match-77-entry' \
  -d '{"userId": "user-new-002", "assetTypeId": "asset-gold-coin-001", "amount": "20.00",
       "description": "Tournament entry, match 77", "expiresInSeconds": 600}')
echo "$HOLD"
HOLD_ID=$(field '["holdId"]' <<<"$HOLD")

step "capture 15.00 of it (to Revenue); the other 5.00 go back; a second capture is 409 hold_not_open"
curl -s -w '\n' -X POST "$API/holds/$HOLD_ID/capture" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: match-77-result' \
  -d '{"amount": "15.00", "metadata": {"matchId": 77}}'
curl -s -w '\n' -X POST "$API/holds/$HOLD_ID/capture" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: match-77-again' -d '{}'

step "the hold now (a hold not captured nor voided is released by the service after expiresAt)"
curl -s -w '\n' -H "Authorization: Bearer $KEY" "$API/holds/$HOLD_ID"

step "the service's health and metrics (no key needed: expose them to your monitoring only)"
curl -s -w '\n' "${API%/api/v1}/health"
curl -s "${API%/api/v1}/metrics" | grep -E '^wallet_(transactions|idempotent_replays)_total' | sort

step "a batch (scope wallet:batch, a trusted job's): bonuses to three users, one new; one key for all"
curl -s -w '\n' -X POST "$API/wallet/batch" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: season-12-rewards' \
  -d '{"type": "bonus", "assetTypeId": "asset-gold-coin-001", "reason": "Season 12 rewards",
       "items": [{"userId": "user-rich-001", "amount": "50.00"},
                 {"userId": "user-new-002", "amount": "20.00", "metadata": {"rank": 7}},
                 {"userId": "player-4711", "amount": "10.00"}]}'

step 'per item ("atomic": false): each item on its own; a failed one moves nothing, the others post'
curl -s -w '\n' -X POST "$API/wallet/batch" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: season-13-pass' \
  -d '{"type": "spend", "assetTypeId": "asset-gold-coin-001", "description": "Season 13 pass",
       "atomic": false, "items": [{"userId": "user-new-002", "amount": "30.00"},
                                  {"userId": "player-4711", "amount": "5.00"},
                                  {"userId": "player-4711", "amount": "10.00"}]}'

step "all or none (the default): 422 batch_rejected naming every item that cannot be posted; nothing moves"
curl -s -w '\n' -X POST "$API/wallet/batch" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -H 'Idempotency-Key: season-13-pass-2' \
  -d '{"type": "spend", "assetTypeId": "asset-gold-coin-001", "description": "Season 13 pass",
       "items": [{"userId": "user-rich-001", "amount": "100.00"},
                 {"userId": "player-4711", "amount": "100.00"}]}'
