# shellcheck shell=bash
# A fresh stack, and the API served from it in the background, for the measurement scripts
# (load.sh, bench_http.sh, bench_depth.sh). Source it from the checkout's root.
#
#   fresh_stack NAME                    wipes and starts stack NAME, exports its WALLET_* and PG*
#                                       variables, migrates and seeds it
#   start_server LOG [NAME=VALUE ...]   serve on a free port with the settings given (as `env`
#                                       takes them); sets server (its pid) and base (its URL), and
#                                       returns once /health answers 200, or fails with LOG's tail
#   stop_server                         SIGTERM, then SIGKILL after 10 s; safe to call twice

server=
base=

fresh_stack() {
  scripts/stack.sh start "$1" fresh >&2
  eval "$(scripts/stack.sh env "$1")"
  .venv/bin/wallet migrate >&2
  .venv/bin/wallet seed >&2
}

start_server() {
  local log=$1 port
  shift
  port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  env WALLET_HOST=127.0.0.1 WALLET_PORT="$port" "$@" .venv/bin/wallet serve >"$log" 2>&1 &
  server=$!
  base=http://127.0.0.1:$port
  .venv/bin/python - "$base/health" <<'PY' || { tail -n 20 "$log" >&2; echo "the server did not become healthy" >&2; return 1; }
import sys, time, urllib.request
for _ in range(300):
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}

stop_server() {
  if [[ -n $server ]] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
  fi
  if [[ -n $server ]]; then wait "$server" 2>/dev/null || true; fi
  server=
}
