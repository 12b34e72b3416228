# shellcheck shell=bash
# The SQL benchmarks' starting point (bench_sql.sh, posting_costs.sh). Source it from the
# checkout's root.
#
#   fresh_bench_stack USERS   wipes and starts the durable bench stack, migrates it, loads the
#                             yardstick (../shared/bench/baseline.sql) and its copy with 64
#                             Treasury slots (bench/sql/slotted_yardstick.py) when the yardstick is
#                             there, and gives bench-user-1 .. bench-user-USERS 1,000,000.00 gold
#                             coins in every design, so that all meet the same state. Exports the
#                             stack's PG* and WALLET_* variables; sets have_baseline (1 or 0).
#   bench_psql ARGS...        psql on it, quiet, stopping at the first error

baseline_sql="$PWD/../shared/bench/baseline.sql"
have_baseline=0

bench_psql() {
  "$bindir/psql" -qAtX -v ON_ERROR_STOP=1 "$@"
}

fresh_bench_stack() {
  local users=$1 design
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $bindir && -x $bindir/pgbench ]] || { echo "pgbench not found: run 'make install'" >&2; return 1; }
  [[ -x .venv/bin/wallet ]] || { echo ".venv/bin/wallet not found: run 'make install'" >&2; return 1; }
  scripts/stack.sh start bench fresh >&2
  eval "$(scripts/stack.sh env bench)"
  .venv/bin/wallet migrate >&2
  local designs=(api)
  if [[ -f $baseline_sql ]]; then
    have_baseline=1
    PGOPTIONS='-c client_min_messages=warning' bench_psql -f "$baseline_sql" >/dev/null
    .venv/bin/python bench/sql/slotted_yardstick.py "$baseline_sql" \
      | PGOPTIONS='-c client_min_messages=warning' bench_psql >/dev/null
    designs+=(baseline yardstick_slotted)
  else
    echo "no $baseline_sql: our functions only, without the yardstick" >&2
  fi
  echo "funding $users users in: ${designs[*]}" >&2
  for design in "${designs[@]}"; do
    bench_psql >/dev/null <<SQL
SELECT count(*) FROM generate_series(1, $users) AS g (n),
    LATERAL $design.topup('bench-user-' || g.n, 'asset-gold-coin-001', 1000000.00, 'bench-fund-' || g.n);
SQL
  done
  bench_psql -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
}
