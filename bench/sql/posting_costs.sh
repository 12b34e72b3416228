#!/usr/bin/env bash
# make bench-sql-costs: what each of our guarantees costs per top-up, in µs of one backend, against
# the yardstick with one and with 64 Treasury rows (bench/sql/posting_costs.py says how). Uses a
# fresh bench stack and changes its tables (drops constraints): never point it at data you keep.
#
#   bench/sql/posting_costs.sh [ROUNDS] [CALLS]  default 5 rounds of 3000 calls per step (~3 min)
#   bench/sql/posting_costs.sh smoke             1 round of 30 calls: proves it still runs
#                                                (make test-bench-smoke)
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ ${1:-} == smoke ]]; then rounds=1 calls=30; else rounds=${1:-5} calls=${2:-3000}; fi
[[ $rounds =~ ^[1-9][0-9]*$ && $calls =~ ^[1-9][0-9]*$ ]] \
  || { echo "usage: posting_costs.sh [ROUNDS] [CALLS] | smoke" >&2; exit 2; }

trap 'scripts/stack.sh stop bench >/dev/null 2>&1 || true' EXIT
# shellcheck source=bench/lib/bench_stack.sh
. bench/lib/bench_stack.sh
fresh_bench_stack 10000
compare=()
((have_baseline)) || compare=(no-yardstick)   # the ladder alone, nothing to compare it with
PSQL="$bindir/psql" .venv/bin/python bench/sql/posting_costs.py "$rounds" "$calls" "${compare[@]}"
