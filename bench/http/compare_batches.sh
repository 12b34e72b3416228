#!/usr/bin/env bash
# Items per second in HTTP batches against the yardstick app's single top-ups per second, in one
# run: compare.sh's approach (../shared/bench/compare.sh: the yardstick's baseline_app.py served by
# Granian on :3900, wrk with one thread, a warm-up each, then two measured runs each, in turn), with
# our side posting atomic batches of BATCH top-ups (bench/http/batch.lua) where the yardstick posts
# single top-ups (the yardstick's topup.lua). Both credit 1.00 gold to random users of the same
# 10,000. Prints the RESULT lines, then items/s on each side and their ratio, ours/yardstick.
#
# usage: compare_batches.sh PROJECT_URL [SECONDS] [CONNECTIONS]
#   PROJECT_URL            a running service (its rate limits raised for the run)
#   WALLET_API_KEY         a key of the service's with the wallet:batch scope
#   BATCH                  items per batch (default 100)
#   BASELINE_DATABASE_URL  a PostgreSQL the yardstick may create schema "baseline" in
#   BASELINE_REDIS_URL     default redis://127.0.0.1:6379/15
#   BASELINE_VENV          the yardstick app's Python (default /tmp/wallet-baseline-venv, as compare.sh)
# make bench-http runs it after compare.sh (bench/http/bench_http.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
yardstick=$(cd "$here/../../../shared/bench" 2>/dev/null && pwd) || {
  echo "compare_batches.sh: no ../shared/bench beside the checkout: no yardstick" >&2; exit 2; }
project=${1:?usage: compare_batches.sh PROJECT_URL [SECONDS] [CONNECTIONS]}
secs=${2:-10}
conns=${3:-32}
export BATCH=${BATCH:-100}
: "${BASELINE_DATABASE_URL:?set BASELINE_DATABASE_URL}"
: "${WALLET_API_KEY:?set WALLET_API_KEY (a key with wallet:batch)}"
export BASELINE_REDIS_URL=${BASELINE_REDIS_URL:-redis://127.0.0.1:6379/15}
venv=${BASELINE_VENV:-/tmp/wallet-baseline-venv}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
if [[ ! -x $venv/bin/granian ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q litestar asyncpg redis msgspec granian uvloop
fi
psql -q -v ON_ERROR_STOP=1 "$BASELINE_DATABASE_URL" -f "$yardstick/baseline.sql" >/dev/null 2>&1
(cd "$yardstick" && exec setsid "$venv/bin/granian" --interface asgi --workers 2 --loop uvloop \
  --host 127.0.0.1 --port 3900 baseline_app:app >/tmp/wallet-baseline.log 2>&1) &
pid=$!
trap 'kill -- "-$pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:3900/ && break; sleep 0.2; done
# run URL SECONDS LABEL SCRIPT
run() { wrk -t1 -c"$conns" -d"$2"s -s "$4" "$1" | grep '^RESULT' | sed "s#^RESULT#$3#"; }
run http://127.0.0.1:3900 3 warmup-baseline "$yardstick/topup.lua" >/dev/null
run "$project" 3 warmup-project "$here/batch.lua" >/dev/null
out=$( { run http://127.0.0.1:3900 "$secs" baseline "$yardstick/topup.lua"
         run "$project" "$secs" "batches-of-$BATCH" "$here/batch.lua"
         run http://127.0.0.1:3900 "$secs" baseline "$yardstick/topup.lua"
         run "$project" "$secs" "batches-of-$BATCH" "$here/batch.lua"; } )
echo "$out"
# rps counts 2xx answers only; an error in any run is reported beside the ratio
echo "$out" | awk -v batch="$BATCH" '{ split($2, a, "="); s[$1] += a[2]; n[$1]++; split($5, e, "="); err[$1] += e[2] }
  END { b = s["baseline"] / n["baseline"]; k = "batches-of-" batch; p = s[k] / n[k] * batch;
        printf "ratio items/s project/baseline = %.2f (project %.0f items/s in %.1f batches/s of %d, baseline %.0f top-ups/s; errors project %d, baseline %d)\n",
               p / b, p, p / batch, batch, b, err[k], err["baseline"] }'
