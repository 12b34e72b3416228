#!/usr/bin/env bash
# make bench-instructions: the instructions one top-up costs the service's Python process, counted
# by callgrind (a count, not a time: it repeats within about 1% on a busy machine). On the bench
# stack, fresh, with 10,000 funded users, it runs bench/http/instructions.py (top-ups through the
# ASGI app in process) under valgrind twice, with SMALL and LARGE top-ups, and prints
# (large - small) / (LARGE - SMALL): start-up and warm-up cancel out.
#
#   bench/http/instructions.sh [CHECKOUT ...]   each CHECKOUT's service/ (default: this one),
#                                               measured in turn against the same stack, e.g. the
#                                               code before a change in a git worktree
#   bench/http/instructions.sh smoke            the harness once, without valgrind (make test-bench-smoke)
#   SMALL, LARGE   top-ups per run (default 100 and 400); ROUNDS (default 2) measurements each
#
# Exit status: 0 when every run answered 201 throughout; 1 otherwise. A measurement, not a test.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
say() { echo "instructions.sh: $*" >&2; }

smoke=0
if [[ ${1:-} == smoke ]]; then smoke=1; shift; fi
checkouts=("$@")
((${#checkouts[@]})) || checkouts=("$root")
small=${SMALL:-100} large=${LARGE:-400} rounds=${ROUNDS:-2}
for c in "${checkouts[@]}"; do
  [[ -x $c/.venv/bin/python && -d $c/service ]] || { say "$c: no service/ and .venv (run make install there)"; exit 2; }
done
if ((!smoke)) && ! command -v valgrind >/dev/null; then
  scripts/stack.sh install >&2
  say "installing valgrind"
  if [[ $(id -u) -eq 0 ]]; then apt-get update -q >/dev/null && apt-get install -y -q valgrind >/dev/null
  else sudo apt-get update -q >/dev/null && sudo apt-get install -y -q valgrind >/dev/null; fi
fi

source bench/lib/server.sh
trap 'scripts/stack.sh stop bench >/dev/null 2>&1 || true; rm -f "$key"' EXIT
key=$(mktemp)
fresh_stack bench
.venv/bin/wallet keys create --name "instructions-$RANDOM" --scopes wallet:topup | tail -n 1 >"$key"
psql -qAtX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT count(*) FROM generate_series(1, 10000) AS g (n),
    LATERAL api.topup('bench-user-' || g.n, 'asset-gold-coin-001', 1000000.00, 'bench-fund-' || g.n);
VACUUM ANALYZE;
SQL

if ((smoke)); then
  (cd "${checkouts[0]}" && .venv/bin/python "$root/bench/http/instructions.py" "$key" 20)
  exit 0
fi

count() {  # CHECKOUT TOP_UPS: the instructions of one run
  (cd "$1" && valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    .venv/bin/python "$root/bench/http/instructions.py" "$key" "$2" 2>&1 \
    | sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p')
}
echo "# instructions per top-up (callgrind): (a run of $large top-ups - a run of $small) / $((large - small))"
for round in $(seq "$rounds"); do
  for c in "${checkouts[@]}"; do
    a=$(count "$c" "$small"); b=$(count "$c" "$large")
    [[ -n $a && -n $b ]] || { say "$c: a run failed"; exit 1; }
    printf '%-40s round %s: %d\n' "$(cd "$c" && git log -1 --format='%h %s' | cut -c1-36)" "$round" \
      $(((b - a) / (large - small)))
  done
done
