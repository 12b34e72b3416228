#!/usr/bin/env bash
# make bench-sql: pgbench over the SQL API on the durable bench stack (fsync on), a fresh one
# each time. Per client count it runs, in this order, our top-ups, the yardstick's top-ups
# (../shared/bench/baseline.sql, when present), the yardstick's with 64 Treasury slots
# (bench/sql/slotted_yardstick.py: the plain design's cost per call once nothing queues) and our
# spends, so that noise on the machine falls on all alike; then our transfers and reversals
# (issue 15's movements) and holds (issue 16: authorizations, and authorize-then-capture pairs),
# which have no yardstick to compare with. Prints the machine, progress
# (stderr), a table and the targets, then proves the books with `wallet reconcile`. See
# docs/performance.md.
#
#   BENCH_SECONDS  seconds per pgbench run (default 15)
#   BENCH_CLIENTS  client counts (default "4 16 32 64")
#
# Exit status: 0 when every run completed and the books balance, whether or not a target was
# met (this is a measurement, not a test); 1 when a run had errors or reconciliation failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

seconds=${BENCH_SECONDS:-15}
read -r -a clients <<<"${BENCH_CLIENTS:-4 16 32 64}"
users=10000          # bench/sql/*.sql draw from bench-user-1 .. bench-user-10000

say() { echo "$*" >&2; }
die() { echo "bench_sql.sh: $*" >&2; exit 1; }

[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer, not '$seconds'"
[[ ${#clients[@]} -gt 0 ]] || die "BENCH_CLIENTS is empty"
for c in "${clients[@]}"; do
  [[ $c =~ ^[1-9][0-9]*$ ]] || die "BENCH_CLIENTS must be positive integers, not '$c'"
done
logs=$(mktemp -d)
trap 'scripts/stack.sh stop bench >/dev/null 2>&1 || true; rm -rf "$logs"' EXIT
# shellcheck source=bench/lib/bench_stack.sh
. bench/lib/bench_stack.sh
fresh_bench_stack "$users"
psql=(bench_psql)

# Enough connections for the largest run (superuser_reserved_connections are not for pgbench).
max_clients=$(printf '%s\n' "${clients[@]}" | sort -n | tail -n 1)
room=$("${psql[@]}" -c "SELECT current_setting('max_connections')::int
                              - current_setting('superuser_reserved_connections')::int")
((max_clients + 2 <= room)) || die "$max_clients clients need more than max_connections allows ($room)"

echo "# machine"
echo "cpus:       $(nproc) x $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "memory:     $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "postgresql: $("${psql[@]}" -c 'SHOW server_version')," \
     "$("${psql[@]}" -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
                          FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit',
                               'shared_buffers', 'max_connections')")"
echo "load:       pgbench -n -M prepared -j 2 -c N -T $seconds, $users users, same host;" \
     "ours as wallet_service, the yardsticks as $PGUSER"
echo

# The funding top-ups, for the reversals to reverse (wallet_service cannot read ledger tables).
"${psql[@]}" <<'SQL'
CREATE TABLE public.bench_originals AS
SELECT substr(t.idempotency_key, length('bench-fund-') + 1)::int AS n, t.id AS transaction_id
FROM ledger.transactions AS t
WHERE t.client_id = 'sql:' || current_user AND t.idempotency_key LIKE 'bench-fund-%';
ALTER TABLE public.bench_originals ADD PRIMARY KEY (n);
GRANT SELECT ON public.bench_originals TO wallet_service;
SQL

runs_per=$((have_baseline ? 10 : 8))
total=$((${#clients[@]} * runs_per))
step=0
errors=0
declare -A tps   # tps[RUN,CLIENTS]: tx/s, or "error"

# bench RUN CLIENTS SCRIPT [LOGIN]: one pgbench run, from a fresh checkpoint, as LOGIN (default
# the stack's superuser, who owns the yardstick's schemas)
bench() {
  local run=$1 c=$2 script=$3 login=${4:-$PGUSER} out value
  step=$((step + 1))
  out="$logs/$run-$c"
  say "[$step/$total] ${run/-/ } c=$c ..."
  "${psql[@]}" -c CHECKPOINT
  "$bindir/pgbench" -n -M prepared -U "$login" -j $((c < 2 ? c : 2)) -c "$c" -T "$seconds" -f "$script" \
    >"$out.out" 2>"$out.err" || true
  value=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out.out")
  if [[ -n $value ]] && ! grep -q -e '^number of failed transactions: [1-9]' -e 'aborted' \
       "$out.out" "$out.err"; then
    tps[$run,$c]=$value
    say "[$step/$total] ${run/-/ } c=$c: $value tx/s"
  else
    tps[$run,$c]=error
    errors=$((errors + 1))
    say "[$step/$total] ${run/-/ } c=$c FAILED:"
    sed -E 's/client [0-9]+/client N/g' "$out.err" | sort | uniq -c | sort -rn | head -n 5 >&2
    grep -E '^number of (transactions actually processed|failed)' "$out.out" >&2 || true
  fi
}

# Our functions as the HTTP service calls them: logged in as wallet_service (which skips what
# only sessions that can write the tables themselves pay for, e.g. entries_of_new_transactions).
for c in "${clients[@]}"; do
  bench topup-ours "$c" bench/sql/topup.sql wallet_service
  if ((have_baseline)); then
    bench topup-baseline "$c" bench/sql/baseline_topup.sql
    bench topup-slotted "$c" bench/sql/slotted_topup.sql
  fi
  bench spend-ours "$c" bench/sql/spend.sql wallet_service
  bench transfer-ours "$c" bench/sql/transfer.sql wallet_service
  bench reversal-ours "$c" bench/sql/reversal.sql wallet_service
  bench hold-ours "$c" bench/sql/hold.sql wallet_service
  bench capture-ours "$c" bench/sql/capture.sql wallet_service
  bench batch100-ours "$c" bench/sql/batch100.sql wallet_service
  bench batch1000-ours "$c" bench/sql/batch1000.sql wallet_service
done

number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
whole() { if number "$1"; then printf '%.0f' "$1"; else echo "$1"; fi; }
quotient() {  # quotient A B DIGITS -> A / B, or "-" when either is not a number
  if number "$1" && number "$2"; then awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.*f", d, a / b }'
  else echo -; fi
}
# verdict VALUE TARGET: PASS when VALUE >= TARGET (VALUE unrounded)
verdict() {
  if ! number "$1"; then echo "n/a"
  elif awk -v v="$1" -v t="$2" 'BEGIN { exit !(v >= t) }'; then echo PASS
  else echo MISS; fi
}

echo "# tx/s, $seconds s per run"
printf '%7s | %15s | %19s | %5s | %20s | %12s | %15s\n' clients "ours topup tx/s" \
  "baseline topup tx/s" ratio "slotted yardstick tx/s" "ours/slotted" "ours spend tx/s"
for c in "${clients[@]}"; do
  ours=${tps[topup-ours,$c]} base=${tps[topup-baseline,$c]:--} slotted=${tps[topup-slotted,$c]:--}
  spend=${tps[spend-ours,$c]}
  ratio=$(quotient "$ours" "$base" 1)
  [[ $ratio == - ]] || ratio+=x
  of_slotted=$(quotient "$ours" "$slotted" 2)
  [[ $of_slotted == - ]] || of_slotted+=x
  printf '%7s | %15s | %19s | %5s | %20s | %12s | %15s\n' "$c" "$(whole "$ours")" "$(whole "$base")" \
    "$ratio" "$(whole "$slotted")" "$of_slotted" "$(whole "$spend")"
done
echo
printf '%7s | %18s | %18s | %20s | %26s\n' clients "ours transfer tx/s" "ours reversal tx/s" \
  "holds authorized/s" "holds authorized+captured/s"
for c in "${clients[@]}"; do
  printf '%7s | %18s | %18s | %20s | %26s\n' "$c" "$(whole "${tps[transfer-ours,$c]}")" \
    "$(whole "${tps[reversal-ours,$c]}")" "$(whole "${tps[hold-ours,$c]}")" \
    "$(whole "${tps[capture-ours,$c]}")"
done
echo
# batches (issue 17): items/s = batches/s x items, against the yardstick's single top-ups/s
times() {  # times A N -> A x N, or A when it is not a number
  if number "$1"; then awk -v a="$1" -v n="$2" 'BEGIN { printf "%.0f", a * n }'; else echo "$1"; fi
}
printf '%7s | %22s | %23s | %26s\n' clients "batches of 100, items/s" "batches of 1000, items/s" \
  "x baseline top-ups (100, 1000)"
for c in "${clients[@]}"; do
  i100=$(times "${tps[batch100-ours,$c]}" 100) i1000=$(times "${tps[batch1000-ours,$c]}" 1000)
  x100=$(quotient "$i100" "${tps[topup-baseline,$c]:--}" 1) x1000=$(quotient "$i1000" "${tps[topup-baseline,$c]:--}" 1)
  printf '%7s | %22s | %23s | %26s\n' "$c" "$i100" "$i1000" "${x100}x, ${x1000}x"
done
echo

has() { [[ " ${clients[*]} " == *" $1 "* ]]; }
echo "# targets"
label="our top-ups at 32 clients / the baseline's (>= 3.0x):"
if has 32 && ((have_baseline)); then
  exact=$(quotient "${tps[topup-ours,32]}" "${tps[topup-baseline,32]}" 4)
  shown=$(quotient "${tps[topup-ours,32]}" "${tps[topup-baseline,32]}" 1)
  [[ $shown == - ]] || shown+=x
  printf '%-56s %6s  %s\n' "$label" "$shown" "$(verdict "$exact" 3.0)"
else
  printf '%-56s %6s  %s\n' "$label" - "not measured"
fi
for run in topup spend; do
  label="our ${run/topup/top-up}s at 64 clients / ours at 4 (>= 0.90):"
  if has 4 && has 64; then
    exact=$(quotient "${tps[$run-ours,64]}" "${tps[$run-ours,4]}" 4)
    shown=$(quotient "${tps[$run-ours,64]}" "${tps[$run-ours,4]}" 2)
    printf '%-56s %6s  %s\n' "$label" "$shown" "$(verdict "$exact" 0.90)"
  else
    printf '%-56s %6s  %s\n' "$label" - "not measured"
  fi
done
echo

echo "# reconciliation after the load (wallet reconcile)"
reconciled=0
.venv/bin/wallet reconcile || reconciled=$?
if ((have_baseline)); then
  # the yardsticks did the same work: their balances sum to zero and each matches its entries
  for design in baseline yardstick_slotted; do
    "${psql[@]}" <<SQL
SELECT CASE WHEN sum(w.balance) = 0 AND bool_and(w.balance = coalesce(e.total, 0))
            THEN '$design books balance' ELSE '$design books DO NOT balance' END
FROM $design.wallets AS w
LEFT JOIN (SELECT wallet_id, sum(amount) AS total FROM $design.entries GROUP BY wallet_id) AS e
       ON e.wallet_id = w.id;
SQL
  done
fi

if ((errors)); then
  say "bench_sql.sh: $errors pgbench run(s) had errors (above); their figures are not valid"
  exit 1
fi
if ((reconciled != 0)); then
  say "bench_sql.sh: reconciliation failed after the load"
  exit 1
fi
