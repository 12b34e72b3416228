#!/usr/bin/env bash
# make bench-http: our top-ups over HTTP against the yardstick app, with the yardstick's own
# ../shared/bench/compare.sh (the same wrk top-up load on its baseline_app.py and on our service in
# turn, twice each after a warm-up; it prints the ratio of 2xx requests per second,
# project/baseline). On the durable bench stack, fresh: it migrates, seeds, creates an API key with
# the top-up scope and serves the API from this checkout as users run it (WALLET_WORKERS, default
# 2; every feature on, the rate limits raised out of the way as load.sh raises them), runs
# compare.sh with the yardstick on the same PostgreSQL (as the superuser) and the same Redis
# (db 15), prints its output; then bench/http/compare_batches.sh, the same approach for batches
# (items/s in atomic batches of BENCH_BATCH top-ups against the yardstick's single top-ups/s, in
# the same run); then proves the books with `wallet reconcile`. The server and the stack are
# stopped whatever happens; the server log stays in .local/bench-http/<time>/.
#
#   BENCH_SECONDS      seconds per measured wrk run (default 10)
#   BENCH_CONNECTIONS  wrk connections (default 32)
#   BENCH_BATCH        items per batch in the batch comparison (default 100; 0 skips it)
#   BASELINE_VENV      the yardstick app's Python, for compare.sh (default /tmp/wallet-baseline-venv,
#                      which it creates with pip on first use)
#
# Installs wrk with apt if it is missing. Without ../shared/bench/compare.sh it says so and exits 2.
# Exit status: 0 when compare.sh ran and the books balance, whatever the ratio (a measurement, not
# a test); compare.sh's own status when it fails; 1 when reconciliation fails; 2 on usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

say() { echo "bench_http.sh: $*" >&2; }
die() { say "$*"; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

[[ $# -eq 0 ]] || { sed -n '2,22p' "$0" >&2; exit 2; }
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
batch=${BENCH_BATCH:-100}
if ! [[ $batch =~ ^[0-9]+$ ]] || ((batch > 1000)); then say "BENCH_BATCH is 0 (no batches) to 1000"; exit 2; fi
for v in "$seconds" "$connections"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { say "BENCH_SECONDS and BENCH_CONNECTIONS must be positive integers"; exit 2; }
done
compare=$root/../shared/bench/compare.sh
if [[ ! -f $compare ]]; then
  say "no $compare: the HTTP yardstick is not there, nothing to compare with"
  exit 2
fi
yardstick_port=3900   # where compare.sh serves baseline_app.py
if (exec 3<>"/dev/tcp/127.0.0.1/$yardstick_port") 2>/dev/null; then
  die "port $yardstick_port, where compare.sh serves the yardstick app, is taken by another process"
fi

scripts/stack.sh install >&2
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  say "installing: ${need[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${need[@]}" >/dev/null
fi

out=.local/bench-http/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
source bench/lib/server.sh
trap 'stop_server; scripts/stack.sh stop bench >/dev/null 2>&1 || true' EXIT

fresh_stack bench
WALLET_API_KEY=$(.venv/bin/wallet keys create --name "bench-http-$(date -u +%H%M%S)-$RANDOM" \
  --scopes wallet:topup,wallet:batch | tail -n 1)
export WALLET_API_KEY

start_server "$out/server.log" WALLET_RATE_LIMIT_GENERAL=1000000000/1m \
  WALLET_RATE_LIMIT_TRANSACTIONS=1000000000/1m || die "the server did not start"
say "serving on $base; compare.sh, ${seconds} s per run, $connections connections (server log in $out)"

status=0
BASELINE_DATABASE_URL=$WALLET_ADMIN_DATABASE_URL BASELINE_REDIS_URL=${WALLET_REDIS_URL%/*}/15 \
  bash "$compare" "$base" "$seconds" "$connections" || status=$?
if ((status == 0 && batch > 0)); then
  echo
  echo "# batches of $batch (bench/http/compare_batches.sh)"
  BATCH=$batch BASELINE_DATABASE_URL=$WALLET_ADMIN_DATABASE_URL BASELINE_REDIS_URL=${WALLET_REDIS_URL%/*}/15 \
    bash bench/http/compare_batches.sh "$base" "$seconds" "$connections" || status=$?
fi
stop_server
if ((status != 0)); then
  say "compare.sh or compare_batches.sh failed (exit status $status)"
  exit "$status"
fi

echo
echo "# wallet reconcile"
.venv/bin/wallet reconcile || die "reconciliation failed after the load"
