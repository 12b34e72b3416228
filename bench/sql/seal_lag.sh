#!/usr/bin/env bash
# The seal under load (issue 18): our top-ups at 32 clients (pgbench, 15 s)
# with and without a sealer beside them (service/sealer.py's seal(): passes of 1,000 until caught
# up, every 200 ms, as the service's default), ROUNDS rounds alternating on one fresh bench stack;
# for the sealed runs, the commit-to-seal lag (sealed_at - created_at) at p50, p99 and its max.
#
# Then it times api.verify_seal (what `wallet reconcile` runs to prove the chain) over all of it.
#
#   bench/sql/seal_lag.sh [ROUNDS]   default 3 (about 2 min)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: seal_lag.sh [ROUNDS]" >&2; exit 2; }
sp=
trap '[[ -n $sp ]] && kill "$sp" 2>/dev/null; scripts/stack.sh stop bench >/dev/null 2>&1 || true' EXIT
# shellcheck source=bench/lib/bench_stack.sh
. bench/lib/bench_stack.sh
fresh_bench_stack 10000 >/dev/null 2>&1
sealer='
import asyncio, os
import asyncpg
from service.sealer import seal
async def main():
    conn = await asyncpg.connect(os.environ["WALLET_DATABASE_URL"])
    while True:
        await seal(conn)
        await asyncio.sleep(0.2)
asyncio.run(main())'
echo "# our top-ups at 32 clients, 15 s, with and without a sealer; lag in ms (commit to seal)"
for r in $(seq "$rounds"); do
  for mode in without with; do
    # what the run before left unsealed (a run without a sealer: all of it), sealed in one pass
    read -r caught us < <(bench_psql -F ' ' <<'SQL'
SELECT clock_timestamp() AS t0 \gset
SELECT sealed FROM api.seal(100000) \gset
SELECT :sealed, round(extract(epoch FROM clock_timestamp() - :'t0') * 1e6 / greatest(:sealed, 1));
SQL
)
    [[ $mode == with && $caught -gt 1000 ]] && echo "  sealing the run before's $caught transactions at once: $us µs a transaction"
    if [[ $mode == with ]]; then .venv/bin/python -c "$sealer" & sp=$!; fi
    t0=$(bench_psql -c "SELECT clock_timestamp()")
    bench_psql -c CHECKPOINT
    tps=$("$bindir/pgbench" -n -M prepared -U wallet_service -j 2 -c 32 -T 15 -f bench/sql/topup.sql \
          2>/dev/null | sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
    lag=-
    if [[ $mode == with ]]; then
      sleep 1; kill "$sp"; wait "$sp" 2>/dev/null || true; sp=
      lag=$(bench_psql -F ' ' -c "SELECT 'sealed ' || count(*), 'p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric),
                 'p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric), 'max ' || round(max(ms)::numeric)
          FROM (SELECT extract(epoch FROM s.sealed_at - t.created_at) * 1000 AS ms
                FROM ledger.seals AS s JOIN ledger.transactions AS t ON t.id = s.transaction_id
                WHERE t.created_at >= '$t0') AS x")
    fi
    echo "round $r, $mode a sealer: $tps top-ups/s; lag: $lag"
  done
done
# what a reconcile's proof of the chain costs: api.verify_seal over everything sealed above
bench_psql -c "SELECT * FROM api.seal(100000)" >/dev/null
read -r checked verdict ms < <(bench_psql -F ' ' <<'SQL'
SELECT clock_timestamp() AS t0 \gset
SELECT checked, coalesce(problem, 'clean') FROM api.verify_seal() \gset
SELECT :checked, :'coalesce', round(extract(epoch FROM clock_timestamp() - :'t0') * 1000);
SQL
)
echo "api.verify_seal: $checked seals, $verdict, $ms ms ($(( ms * 1000 / (checked > 0 ? checked : 1) )) µs a seal)"
