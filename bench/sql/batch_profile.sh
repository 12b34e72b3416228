#!/usr/bin/env bash
# Where a batch's time goes, statement by statement: the per-item cost ladder of api.post_batch.
# On a fresh bench stack (durable, as make bench-sql's) with pg_stat_statements loaded and
# tracking nested statements (track = all), one client posts BATCHES atomic batches of SIZE
# top-ups to random funded users with pgbench (after a warm-up of 20), then prints:
#   - the wall time per item as pgbench saw it (the call, its commit and WAL flush, the round trip),
#   - each statement's µs per item (total execution time / items), largest first: the function's
#     own statements, and those of the triggers they fire (a trigger's statements are also inside
#     the time of the statement that fired them, and the function's in the call's: the rows are
#     not a sum; PL/pgSQL's own loops and assignments run no statement the extension sees, so
#     they are in the call's row only).
#
#   bench/sql/batch_profile.sh [SIZE] [BATCHES]   default 100 items, 300 batches (about 1.5 min)
# docs/performance.md ("Batches") reads this output. A measurement, not a test; it changes the
# bench stack's configuration, which the next fresh start of that stack wipes.
set -euo pipefail
cd "$(dirname "$0")/../.."

size=${1:-100} batches=${2:-300}
[[ $size =~ ^[1-9][0-9]*$ && $size -le 1000 && $batches =~ ^[1-9][0-9]*$ ]] \
  || { echo "usage: batch_profile.sh [SIZE 1..1000] [BATCHES]" >&2; exit 2; }
script=$(mktemp)
trap 'scripts/stack.sh stop bench >/dev/null 2>&1 || true; rm -f "$script"' EXIT
# shellcheck source=bench/lib/bench_stack.sh
. bench/lib/bench_stack.sh
fresh_bench_stack 10000
bench_psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
scripts/stack.sh stop bench >/dev/null
scripts/stack.sh start bench >&2
# its settings exist once the library is loaded
bench_psql -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' \
  -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" \
  -c "ALTER SYSTEM SET pg_stat_statements.track_utility = off" -c 'SELECT pg_reload_conf()' >/dev/null
cat >"$script" <<SQL
SELECT count(*) FROM api.post_batch('topup', 'asset-gold-coin-001',
    ARRAY(SELECT 'bench-user-' || (1 + floor(random() * 10000))::int FROM generate_series(1, $size)),
    array_fill(0.01::numeric, ARRAY[$size]), NULL, gen_random_uuid()::text);
SQL
pgbench=("$bindir/pgbench" -n -M prepared -U wallet_service -c 1 -f "$script")
"${pgbench[@]}" -t 20 >/dev/null
bench_psql -c 'SELECT pg_stat_statements_reset()' -c CHECKPOINT >/dev/null
tps=$("${pgbench[@]}" -t "$batches" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p')
[[ -n $tps ]] || { echo "batch_profile.sh: pgbench gave no figure" >&2; exit 1; }
items=$((size * batches))
echo "# api.post_batch: $batches atomic batches of $size top-ups, one client, $(nproc) cpus, $("$bindir/postgres" --version)"
awk -v t="$tps" -v n="$size" 'BEGIN { printf "wall per item (pgbench: call, commit, round trip): %.1f µs (%.1f batches/s, %.0f items/s)\n", 1e6 / t / n, t, t * n }'
echo
echo "# µs per item by statement (total execution time / $items items), largest first"
bench_psql -F ' | ' <<SQL
SELECT to_char(s.total_exec_time * 1000 / $items, '99990.0') AS us_per_item,
       to_char(s.calls::numeric / $batches, '9990.0') AS per_batch,
       left(regexp_replace(s.query, '\s+', ' ', 'g'), 110)
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query NOT LIKE '%pg_stat_statements%'
ORDER BY s.total_exec_time DESC
LIMIT 25;
SQL
