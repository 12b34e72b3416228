# The two commands: `make run` (local PostgreSQL and Redis with seeded data) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
STACK := scripts/stack.sh
VENV := .venv
WALLET := $(VENV)/bin/wallet
DEV_KEY := .local/dev-api-key

.PHONY: help install install-test run stop test test-sql test-py test-bench-smoke test-load-smoke test-depth-smoke \
	test-bench-sql-smoke test-faults test-faults-short faults-run psql bench bench-load bench-sql \
	bench-sql-costs bench-depth bench-http bench-instructions examples-update console-screenshots lint \
	lint-containers lock clean

help:
	@echo "make run        PostgreSQL, Redis, migrations, seed, a development key, and the API on :3000"
	@echo "make test       install what is missing, lint, then pgTAP (pg_prove), pytest and the short"
	@echo "                fault tests, each on a stack of its own"
	@echo "make test-bench-smoke  every benchmark in small (bench/README.md), so that none can rot"
	@echo "make test-faults  crashes, Redis and PostgreSQL outages, locks and 10,000 fuzzed requests"
	@echo "                against wallet serve on a stack of its own (docs/reliability.md)"
	@echo "make psql       psql on the local database of make run"
	@echo "make bench-sql  pgbench over the SQL API against the yardstick (bench/README.md)"
	@echo "make bench-sql-costs  what each guarantee costs per top-up, in µs"
	@echo "make bench      the k6 HTTP scenarios (mixed, contention, replay), 60 s each, then reconciliation"
	@echo "make bench-http  top-ups over HTTP against the yardstick app (../shared/bench/compare.sh)"
	@echo "make bench-instructions  instructions per top-up of the service's Python (callgrind)"
	@echo "make bench-depth  reads at depth: 1,000,000 wallets, 10,000,000 entries"
	@echo "make examples-update  rewrite examples/*.out from a fresh run (review them with git diff)"
	@echo "make console-screenshots  retake docs/console/*.png, the console in headless Chromium"
	@echo "make lint       ruff (service, tests, scripts, bench) and mypy --strict (service)"
	@echo "make lint-containers  hadolint on the Dockerfile, docker-compose.yml against the compose spec"
	@echo "make lock       re-lock requirements.lock and requirements-runtime.lock (the image's)"
	@echo "make stop       stop the servers make run started"

install:
	@$(STACK) install

# make install, and Chromium with its chromedriver for the console's browser tests (make run
# needs no browser)
install-test:
	@$(STACK) install browser

# Starts the local stack unless WALLET_DATABASE_URL and WALLET_REDIS_URL point elsewhere, and
# writes .env (if absent) so that .venv/bin/wallet in this checkout reaches the same stack.
run: install
	@if [[ -z "$${WALLET_DATABASE_URL:-}" || -z "$${WALLET_REDIS_URL:-}" ]]; then \
	  $(STACK) start run; \
	  [[ -f .env ]] || { $(STACK) env run | sed 's/^export //' | grep '^WALLET_' > .env; echo "wrote .env"; }; \
	fi
	@$(WALLET) migrate
	@$(WALLET) seed
	@$(WALLET) reconcile
	@key=$$($(WALLET) keys dev $(DEV_KEY) | tail -1); \
	echo "development API key (every scope, kept in $(DEV_KEY)): $$key"
	@exec $(WALLET) serve

stop:
	@$(STACK) stop run

psql:
	@$(STACK) psql run

# A throwaway stack (fresh data, fsync off) that is stopped whatever happens.
test: install-test lint lint-containers
	@trap '$(STACK) stop test >/dev/null' EXIT; \
	$(STACK) start test fresh; \
	eval "$$($(STACK) env test)"; \
	$(WALLET) migrate; \
	$(WALLET) seed; \
	$(MAKE) --no-print-directory test-sql test-py
	@$(MAKE) --no-print-directory test-faults-short

# These two expect a migrated and seeded stack in the WALLET_* / PG* environment (as make test sets).
test-sql:
	psql -qX -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pgtap'
	pg_prove --ext .sql -r sql_tests/

test-py:
	$(VENV)/bin/pytest -q

# Every benchmark in small, each on the stack it uses in full (bench/README.md), so that none can
# rot: the load scenarios, the reads at depth, make bench-sql and make bench-sql-costs.
test-bench-smoke: install
	@$(MAKE) --no-print-directory test-load-smoke test-depth-smoke test-bench-sql-smoke
	@bench/http/instructions.sh smoke >/dev/null

# A few seconds of the replay storm against a server and stack of its own (LOAD_STACK, default
# dev1), then reconciliation.
test-load-smoke:
	@bench/http/load.sh replay smoke

# make bench-depth in small (the bench stack, about 30 s).
test-depth-smoke:
	@bench/depth/bench_depth.sh smoke

# make bench-sql and make bench-sql-costs in small (the bench stack, about a minute).
test-bench-sql-smoke:
	@BENCH_SECONDS=1 BENCH_CLIENTS=2 bench/sql/bench_sql.sh >/dev/null
	@bench/sql/posting_costs.sh smoke >/dev/null

# The fault tests (tests/faults/) stop and start the servers of a stack of their own, FAULTS_STACK
# (default faults: durable, as they prove that nothing acknowledged is lost), started fresh and
# stopped whatever happens. make test runs the short size; each test prints its figures.
FAULTS_STACK ?= faults
test-faults: install
	@$(MAKE) --no-print-directory faults-run FAULTS_SIZE=full

test-faults-short: install
	@$(MAKE) --no-print-directory faults-run FAULTS_SIZE=short

faults-run:
	@trap '$(STACK) stop $(FAULTS_STACK) >/dev/null' EXIT; \
	$(STACK) start $(FAULTS_STACK) fresh; \
	eval "$$($(STACK) env $(FAULTS_STACK))"; \
	$(WALLET) migrate >/dev/null; \
	$(WALLET) seed >/dev/null; \
	FAULTS_STACK=$(FAULTS_STACK) FAULTS_SIZE=$(FAULTS_SIZE) $(VENV)/bin/pytest -q -s tests/faults

# The benchmarks (bench/README.md says what each measures and how long it takes; the figures are
# in docs/performance.md).
bench-sql: install
	@bench/sql/bench_sql.sh

bench-sql-costs: install
	@bench/sql/posting_costs.sh

# Rewrites the expected outputs of examples/ from a run of each example on a throwaway stack
# (tests/examples compares them in make test); review the change with git diff examples/.
EXAMPLES_STACK ?= test
examples-update: install
	@trap '$(STACK) stop $(EXAMPLES_STACK) >/dev/null' EXIT; \
	$(STACK) start $(EXAMPLES_STACK) fresh; \
	eval "$$($(STACK) env $(EXAMPLES_STACK))"; \
	UPDATE_EXAMPLES=1 $(VENV)/bin/pytest -q -p no:cacheprovider tests/examples

# Retakes the console's screenshots (docs/console/*.png) with its browser tests, on a throwaway
# stack (EXAMPLES_STACK) with the seeded data; review them before committing.
console-screenshots: install-test
	@trap '$(STACK) stop $(EXAMPLES_STACK) >/dev/null' EXIT; \
	$(STACK) start $(EXAMPLES_STACK) fresh; \
	eval "$$($(STACK) env $(EXAMPLES_STACK))"; \
	$(WALLET) migrate >/dev/null; \
	$(WALLET) seed >/dev/null; \
	CONSOLE_SCREENSHOTS=docs/console $(VENV)/bin/pytest -q -p no:cacheprovider tests/console/test_browser.py

bench bench-load: install
	@bench/http/load.sh all full

# BENCH_SECONDS (default 10) and BENCH_CONNECTIONS (default 32) pass through to compare.sh.
# Instructions per top-up of the service's process (callgrind; CHECKOUTS: other checkouts to
# measure against the same stack, e.g. the code before a change in a git worktree)
bench-instructions: install
	@bench/http/instructions.sh $(CHECKOUTS)

bench-http: install
	@bench/http/bench_http.sh

bench-depth: install
	@bench/depth/bench_depth.sh

lint: install
	$(VENV)/bin/ruff check service tests scripts bench
	$(VENV)/bin/ruff format --check service tests scripts bench
	$(VENV)/bin/mypy service

# No Docker engine runs on the development machines: the Dockerfile is linted and the compose file
# validated against the compose spec (tests/containers/test_containers.py checks what a schema cannot).
lint-containers: install
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# Both lock files from pyproject.toml: everything (.venv), and the runtime part (the image).
UV ?= uv
lock:
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -o requirements.lock
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements-runtime.lock

clean: stop
	rm -rf .local
