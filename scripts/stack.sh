#!/usr/bin/env bash
# Local PostgreSQL and Redis for development, tests and benchmarks, kept inside the checkout.
#
#   stack.sh install [browser]   install what is missing (apt) and the Python environment (.venv);
#                                "browser": Chromium and chromedriver too (the console's tests)
#   stack.sh start NAME [fresh]  start stack NAME (run | test | bench | dev1..dev3 | faults), or
#                                whichever of its servers is down; "fresh" wipes its data
#   stack.sh stop NAME [WHAT]    stop it; WHAT: all (default) | redis | postgres | postgres-crash
#                                (the fault tests stop one server; postgres-crash is an immediate
#                                shutdown, recovered from the WAL on the next start)
#   stack.sh env NAME            print the WALLET_* variables that point at it (for eval)
#   stack.sh psql NAME [ARGS]    psql on its database, as the superuser
#
# REDIS_MAXMEMORY (default 256mb, as in docker-compose.yml) bounds a Redis when it starts.
#
# PostgreSQL refuses to run as root, so as root the servers run as the system user "walletpg".
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
PG_USER_NAME=walletpg

die() { echo "stack.sh: $*" >&2; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Below 32768, outside Linux's ephemeral range (32768-60999): a port in that range can be taken
# for a while by some client connection's local end (or a self-connection of the readiness probe),
# and the server then cannot bind it. That happened to the Redis of a stack started under load.
ports() {
  case $1 in
    run)   PG_PORT=15432 REDIS_PORT=16379 DURABLE=1 ;;
    test)  PG_PORT=15433 REDIS_PORT=16380 DURABLE=0 ;;
    bench) PG_PORT=15434 REDIS_PORT=16381 DURABLE=1 ;;
    # spare throwaway stacks, so that several checkouts or people can test side by side
    dev1)  PG_PORT=15435 REDIS_PORT=16382 DURABLE=0 ;;
    dev2)  PG_PORT=15436 REDIS_PORT=16383 DURABLE=0 ;;
    dev3)  PG_PORT=15437 REDIS_PORT=16384 DURABLE=0 ;;
    # the fault tests restart and stop these servers on purpose, so they get a stack of their own;
    # durable, because they prove that nothing acknowledged is lost when PostgreSQL restarts
    faults) PG_PORT=15438 REDIS_PORT=16385 DURABLE=1 ;;
    *) die "unknown stack '$1' (run, test, bench, dev1, dev2, dev3 or faults)" ;;
  esac
}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/postgres ]] || return 1
  echo "$dir"
}

apt_install() {
  echo "installing: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

install_system() {
  local need=()
  pg_bindir >/dev/null || need+=(postgresql postgresql-contrib)
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v pg_prove >/dev/null || need+=(libtap-parser-sourcehandler-pgtap-perl)
  python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
  [[ ${#need[@]} -eq 0 ]] || apt_install "${need[@]}"
  local bindir version
  bindir=$(pg_bindir) || die "PostgreSQL server binaries not found after installing"
  version=$(basename "$(dirname "$bindir")")
  if ! ls /usr/share/postgresql/"$version"/extension/pgtap.control >/dev/null 2>&1; then
    apt_install "postgresql-$version-pgtap"
  fi
}

# The console's browser tests (tests/console/) drive Debian's Chromium through its chromedriver:
# what make test needs besides, not make run
install_browser() {
  local need=()
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  [[ ${#need[@]} -eq 0 ]] || apt_install "${need[@]}"
}

install_python() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed (python3 is $(python3 --version))"
  local stamp=.venv/.installed
  if [[ -f $stamp && $stamp -nt requirements.lock && $stamp -nt pyproject.toml ]]; then
    return
  fi
  echo "installing the Python environment in .venv from requirements.lock"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  touch "$stamp"
}

# Where a stack keeps its data: .local/NAME in the checkout, unless the unprivileged server user
# cannot reach the checkout (e.g. under /root), then a directory of its own under /var/tmp.
state_dir() {
  local base="$here/.local"
  if [[ $(id -u) -eq 0 ]] && ! runuser -u "$PG_USER_NAME" -- test -x "$here" 2>/dev/null; then
    base="/var/tmp/wallet-service-$(printf '%s' "$here" | md5sum | cut -c1-12)"
  fi
  echo "$base/$1"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

run_pg() {  # run a PostgreSQL program as the server's user
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$PG_USER_NAME" -- "$@"; else "$@"; fi
}

start() {
  local name=$1 fresh=${2:-}
  ports "$name"
  local bindir dir
  bindir=$(pg_bindir) || die "PostgreSQL is not installed: run 'make install' or 'stack.sh install'"
  if [[ $(id -u) -eq 0 ]] && ! id "$PG_USER_NAME" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER_NAME"
  fi
  dir=$(state_dir "$name")
  if [[ $fresh == fresh ]]; then
    stop "$name" >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  mkdir -p "$dir/redis"
  if [[ ! -f $dir/pg/PG_VERSION ]]; then
    mkdir -p "$dir/pg"
    [[ $(id -u) -eq 0 ]] && chown "$PG_USER_NAME" "$dir" "$dir/pg"
    chmod 700 "$dir/pg"
    run_pg "$bindir/initdb" -D "$dir/pg" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log"
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $PG_PORT"
      echo "unix_socket_directories = '$dir/pg'"
      echo "max_connections = 300"
      echo "shared_buffers = 256MB"
      echo "log_min_messages = warning"
      if [[ $DURABLE == 0 ]]; then  # throwaway test data: speed over crash safety
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } | run_pg tee -a "$dir/pg/postgresql.conf" >/dev/null
  fi
  if ! run_pg "$bindir/pg_ctl" -D "$dir/pg" status >/dev/null 2>&1; then
    port_free "$PG_PORT" || die "port $PG_PORT (PostgreSQL of stack $name) is taken by another process,
  perhaps the same stack of another checkout: stop it there with 'scripts/stack.sh stop $name'"
    run_pg "$bindir/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$dir/pg/server.log" >&2; die "PostgreSQL ($name) did not start"; }
  fi
  "$bindir/psql" -qAt -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
      -c "SELECT 1 FROM pg_database WHERE datname = 'wallet'" | grep -q 1 \
    || "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres wallet
  if [[ -f $dir/redis/redis.pid ]] && kill -0 "$(cat "$dir/redis/redis.pid")" 2>/dev/null; then
    :  # this stack's Redis is already up
  else
    port_free "$REDIS_PORT" || die "port $REDIS_PORT (Redis of stack $name) is taken by another process,
  perhaps the same stack of another checkout: stop it there with 'scripts/stack.sh stop $name'"
    # a cache: the database holds the truth, so nothing is persisted; bounded as the compose file
    # bounds its Redis, evicting the least recently used keys when full (old answers nobody
    # repeats, whose repeats the ledger then answers): unbounded, a day of answers at this
    # machine's rate is tens of GB (docs/operations.md, "Sizing Redis")
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir/redis" --daemonize yes \
      --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" \
      --save '' --appendonly no \
      --maxmemory "${REDIS_MAXMEMORY:-256mb}" --maxmemory-policy allkeys-lru >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$REDIS_PORT" ping >/dev/null || die "Redis ($name) did not start"
  fi
  echo "stack $name: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (data in $dir)"
}

stop_redis() {  # this stack's Redis only, never another on the port
  local dir=$1 pid
  [[ -f $dir/redis/redis.pid ]] || return 0
  pid=$(cat "$dir/redis/redis.pid")
  kill "$pid" 2>/dev/null || true
  # wait until it has let go of its port: a restart right after (start NAME fresh) binds it
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$dir/redis/redis.pid"
}

stop_pg() {  # mode: fast (clients disconnected, checkpoint) or immediate (as a crash)
  local dir=$1 mode=$2 bindir
  if bindir=$(pg_bindir) && [[ -f $dir/pg/PG_VERSION ]]; then
    run_pg "$bindir/pg_ctl" -D "$dir/pg" -m "$mode" -w stop >/dev/null 2>&1 || true
  fi
}

stop() {
  local name=$1 what=${2:-all}
  ports "$name"
  local dir
  dir=$(state_dir "$name")
  case $what in
    all) stop_redis "$dir"; stop_pg "$dir" fast ;;
    redis) stop_redis "$dir" ;;
    postgres) stop_pg "$dir" fast ;;
    postgres-crash) stop_pg "$dir" immediate ;;
    *) die "stop $name: unknown '$what' (all, redis, postgres or postgres-crash)" ;;
  esac
  if [[ $what == all ]]; then echo "stack $name: stopped"; else echo "stack $name: $what stopped"; fi
}

print_env() {
  ports "$1"
  echo "export WALLET_DATABASE_URL=postgresql://wallet_service@127.0.0.1:$PG_PORT/wallet"
  echo "export WALLET_ADMIN_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/wallet"
  echo "export WALLET_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres PGDATABASE=wallet"
}

case ${1:-} in
  install) install_system; install_python; [[ ${2:-} != browser ]] || install_browser ;;
  start) start "${2:?stack name}" "${3:-}" ;;
  stop) stop "${2:?stack name}" "${3:-all}" ;;
  env) print_env "${2:?stack name}" ;;
  psql) ports "${2:?stack name}"; shift 2
        exec "$(pg_bindir)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d wallet "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
