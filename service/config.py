"""Configuration: environment variables first, then a `.env` file in the working directory.

Each setting is written once, in DEFAULTS (its variable and default) and _FIELDS (the Settings
field it fills and how its text is read); the Settings dataclass takes its defaults from there.
The defaults are those of the local stack `make run` starts, so `.venv/bin/wallet ...` run in
the checkout reaches the same PostgreSQL and Redis with no further set-up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from service import JOB_ROLE

DEFAULTS: Mapping[str, str] = {
    # the HTTP service: may only execute the SQL API (trusted jobs log in as wallet_job)
    "WALLET_DATABASE_URL": "postgresql://wallet_service@127.0.0.1:15432/wallet",
    # migrations, seed and API keys: the schema owner, or a superuser (then roles are created)
    "WALLET_ADMIN_DATABASE_URL": "postgresql://postgres@127.0.0.1:15432/wallet",
    # `wallet reverse` (support staff): the trusted jobs' login, wallet_job. Empty means
    # WALLET_DATABASE_URL's server and database as wallet_job, with no password
    "WALLET_JOB_DATABASE_URL": "",
    "WALLET_REDIS_URL": "redis://127.0.0.1:16379/0",
    "WALLET_PORT": "3000",
    # 127.0.0.1 keeps a development server private; containers set 0.0.0.0
    "WALLET_HOST": "127.0.0.1",
    "WALLET_WORKERS": "2",
    "WALLET_DB_POOL_SIZE": "8",
    # prepared statements asyncpg keeps per connection; 0 (none named) behind a PgBouncer older
    # than 1.21, or without max_prepared_statements, in transaction mode (docs/operations.md)
    "WALLET_DB_STATEMENT_CACHE_SIZE": "100",
    # where the service LISTENs for API key changes; empty means WALLET_DATABASE_URL. Behind a
    # pooler in transaction mode (where LISTEN cannot work) a URL straight to PostgreSQL
    "WALLET_LISTEN_DATABASE_URL": "",
    # milliseconds; a request never waits longer than this on PostgreSQL (0 = no limit)
    "WALLET_STATEMENT_TIMEOUT": "5000",
    "WALLET_LOCK_TIMEOUT": "3000",
    # `wallet migrate`: milliseconds each of its lock waits may last (a posting waits behind one
    # at most that long), and seconds from its start to retry them before it gives up (exit 1)
    "WALLET_MIGRATE_LOCK_TIMEOUT": "200",
    "WALLET_MIGRATE_DEADLINE": "300",
    "WALLET_IDEMPOTENCY_TTL": "86400",
    "WALLET_RATE_LIMIT_GENERAL": "100/15m",
    "WALLET_RATE_LIMIT_TRANSACTIONS": "10/1m",
    "WALLET_CORS_ORIGINS": "",
    # seconds between the sweeps that release expired holds (service/sweeper.py): a hold is
    # released at most about this long after it expires (0 = no sweeper in this service)
    "WALLET_HOLD_SWEEP_SECONDS": "5",
    # milliseconds between the sealer's passes (service/sealer.py): a committed transaction is
    # sealed about this long after its commit (0 = no sealer in this service)
    "WALLET_SEAL_INTERVAL_MS": "200",
    # the webhooks' delivery worker (service/webhooks.py, docs/webhooks.md): milliseconds between
    # its looks for subscriptions with events to deliver (a NOTIFY of the sealer wakes it sooner;
    # 0 = no delivery worker in this service), a delivery's timeout, the first retry's delay
    # (doubled after each consecutive failure, up to the longest), and the consecutive failures
    # after which a subscription is marked failing
    "WALLET_WEBHOOK_INTERVAL_MS": "1000",
    "WALLET_WEBHOOK_TIMEOUT_MS": "10000",
    "WALLET_WEBHOOK_BACKOFF_MS": "1000",
    "WALLET_WEBHOOK_BACKOFF_MAX_MS": "300000",
    "WALLET_WEBHOOK_FAILING_AFTER": "8",
    "WALLET_OTEL_ENDPOINT": "",
    "WALLET_OTEL_SERVICE_NAME": "wallet-service",
    # the operator console (/console, docs/console.md): minutes a session lives without a
    # request (then the operator signs in again), and the secret its cookies are signed with
    # (empty: one made at random and kept in Redis, shared by every worker and instance)
    "WALLET_CONSOLE_IDLE_MINUTES": "15",
    "WALLET_CONSOLE_SECRET": "",
}

_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` requests per fixed window of `window_seconds`."""

    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, name: str, text: str) -> RateLimit | None:
        """ "100/15m", "10/1m", "5/30s", "1000/1h", "50000/1d"; "off" disables the limit."""
        value = text.strip().lower()
        if value == "off":
            return None
        count, _, window = value.partition("/")
        amount, unit = window[:-1] or "1", window[-1:]
        if not (count.isdigit() and amount.isdigit() and unit in _WINDOW_UNITS):
            raise ValueError(f'{name} must look like "100/15m" or be "off", not {text!r}')
        limit, seconds = int(count), int(amount) * _WINDOW_UNITS[unit]
        if limit < 1 or seconds < 1:
            raise ValueError(f"{name} needs a limit and a window above zero, not {text!r}")
        return cls(limit, seconds)


def _text(name: str, text: str) -> str:
    return text


def _stripped(name: str, text: str) -> str:
    return text.strip()


# The console's cookie secret: anyone who knows it can sign a cookie, so it must be worth guessing
CONSOLE_SECRET_MIN_LENGTH = 32


def _secret(name: str, text: str) -> str:
    if text and len(text) < CONSOLE_SECRET_MIN_LENGTH:
        raise ValueError(
            f"{name} must be at least {CONSOLE_SECRET_MIN_LENGTH} characters (or empty: a random "
            "one kept in Redis), e.g. the output of: openssl rand -hex 32"
        )
    return text


def _endpoint(name: str, text: str) -> str:
    return text.strip().rstrip("/")


def _origins(name: str, text: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


def _number(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, text: str) -> int:
        value = text.strip()
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        return int(value)

    return parse


# Settings field -> (variable, how its text is read). Every variable of DEFAULTS, once.
_FIELDS: Mapping[str, tuple[str, Callable[[str, str], Any]]] = {
    "database_url": ("WALLET_DATABASE_URL", _text),
    "admin_database_url": ("WALLET_ADMIN_DATABASE_URL", _text),
    "job_database_url": ("WALLET_JOB_DATABASE_URL", _stripped),
    "redis_url": ("WALLET_REDIS_URL", _text),
    "port": ("WALLET_PORT", _number(1, 65535)),
    "host": ("WALLET_HOST", _text),
    "workers": ("WALLET_WORKERS", _number(1, 64)),
    "db_pool_size": ("WALLET_DB_POOL_SIZE", _number(1, 200)),
    "db_statement_cache_size": ("WALLET_DB_STATEMENT_CACHE_SIZE", _number(0, 10_000)),
    "listen_database_url": ("WALLET_LISTEN_DATABASE_URL", _stripped),
    "statement_timeout_ms": ("WALLET_STATEMENT_TIMEOUT", _number(0, 3_600_000)),
    "lock_timeout_ms": ("WALLET_LOCK_TIMEOUT", _number(0, 3_600_000)),
    "migrate_lock_timeout_ms": ("WALLET_MIGRATE_LOCK_TIMEOUT", _number(1, 60_000)),
    "migrate_deadline_seconds": ("WALLET_MIGRATE_DEADLINE", _number(0, 86_400)),
    "idempotency_ttl": ("WALLET_IDEMPOTENCY_TTL", _number(60, 30 * 86400)),
    "rate_limit_general": ("WALLET_RATE_LIMIT_GENERAL", RateLimit.parse),
    "rate_limit_transactions": ("WALLET_RATE_LIMIT_TRANSACTIONS", RateLimit.parse),
    "cors_origins": ("WALLET_CORS_ORIGINS", _origins),
    "hold_sweep_seconds": ("WALLET_HOLD_SWEEP_SECONDS", _number(0, 3600)),
    "seal_interval_ms": ("WALLET_SEAL_INTERVAL_MS", _number(0, 60000)),
    "webhook_interval_ms": ("WALLET_WEBHOOK_INTERVAL_MS", _number(0, 60000)),
    "webhook_timeout_ms": ("WALLET_WEBHOOK_TIMEOUT_MS", _number(100, 60000)),
    "webhook_backoff_ms": ("WALLET_WEBHOOK_BACKOFF_MS", _number(10, 3_600_000)),
    "webhook_backoff_max_ms": ("WALLET_WEBHOOK_BACKOFF_MAX_MS", _number(10, 86_400_000)),
    "webhook_failing_after": ("WALLET_WEBHOOK_FAILING_AFTER", _number(1, 1000)),
    "otel_endpoint": ("WALLET_OTEL_ENDPOINT", _endpoint),
    "otel_service_name": ("WALLET_OTEL_SERVICE_NAME", _text),
    "console_idle_minutes": ("WALLET_CONSOLE_IDLE_MINUTES", _number(1, 1440)),
    "console_secret": ("WALLET_CONSOLE_SECRET", _secret),
}


# Each field's default: its variable's default text, read as the environment's would be.
_DEFAULT = {field: parse(name, DEFAULTS[name]) for field, (name, parse) in _FIELDS.items()}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_database_url: str
    redis_url: str
    job_database_url: str = _DEFAULT["job_database_url"]
    port: int = _DEFAULT["port"]
    host: str = _DEFAULT["host"]
    workers: int = _DEFAULT["workers"]
    db_pool_size: int = _DEFAULT["db_pool_size"]
    db_statement_cache_size: int = _DEFAULT["db_statement_cache_size"]
    listen_database_url: str = _DEFAULT["listen_database_url"]
    statement_timeout_ms: int = _DEFAULT["statement_timeout_ms"]
    lock_timeout_ms: int = _DEFAULT["lock_timeout_ms"]
    migrate_lock_timeout_ms: int = _DEFAULT["migrate_lock_timeout_ms"]
    migrate_deadline_seconds: int = _DEFAULT["migrate_deadline_seconds"]
    idempotency_ttl: int = _DEFAULT["idempotency_ttl"]
    rate_limit_general: RateLimit | None = _DEFAULT["rate_limit_general"]
    rate_limit_transactions: RateLimit | None = _DEFAULT["rate_limit_transactions"]
    cors_origins: tuple[str, ...] = _DEFAULT["cors_origins"]
    hold_sweep_seconds: int = _DEFAULT["hold_sweep_seconds"]
    seal_interval_ms: int = _DEFAULT["seal_interval_ms"]
    webhook_interval_ms: int = _DEFAULT["webhook_interval_ms"]
    webhook_timeout_ms: int = _DEFAULT["webhook_timeout_ms"]
    webhook_backoff_ms: int = _DEFAULT["webhook_backoff_ms"]
    webhook_backoff_max_ms: int = _DEFAULT["webhook_backoff_max_ms"]
    webhook_failing_after: int = _DEFAULT["webhook_failing_after"]
    otel_endpoint: str = _DEFAULT["otel_endpoint"]
    otel_service_name: str = _DEFAULT["otel_service_name"]
    console_idle_minutes: int = _DEFAULT["console_idle_minutes"]
    console_secret: str = _DEFAULT["console_secret"]


# The longest a request waits for a pooled connection before it is answered 503.
POOL_WAIT_SECONDS = 5
# A money request's claim on its Idempotency-Key when no statement timeout bounds a request.
UNBOUNDED_CLAIM_TTL_SECONDS = 30


def sql_call_timeout(settings: Settings) -> float | None:
    """The client's bound on one SQL call: the server cancels the statement at the statement
    timeout, the client gives up 2 s later. None: no statement timeout, no bound."""
    if not settings.statement_timeout_ms:
        return None
    return settings.statement_timeout_ms / 1000 + 2


def claim_ttl_seconds(settings: Settings) -> int:
    """How long a money request's claim on its Idempotency-Key lives in Redis: longer than the
    request can take (the wait for a connection, the SQL call's bound, 2 s for Redis), so that a
    live request never loses its claim; no longer, so that the key of a request whose worker was
    killed is free again soon (its retries answer 409 in flight until then): 14 s by default.
    Correctness never rests on it: a copy let through early goes to the ledger, whose unique key
    makes it wait for the first and answer with its transaction."""
    bound = sql_call_timeout(settings)
    if bound is None:
        return UNBOUNDED_CLAIM_TTL_SECONDS
    return math.ceil(POOL_WAIT_SECONDS + bound + 2)


def job_database_url(settings: Settings) -> str:
    """Where `wallet reverse` connects: WALLET_JOB_DATABASE_URL, else WALLET_DATABASE_URL's
    server, database and parameters with the jobs' login instead of the service's, and without
    its password (which is wallet_service's)."""
    if settings.job_database_url:
        return settings.job_database_url
    parts = urlsplit(settings.database_url)
    server = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{JOB_ROLE}@{server}"))


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments ignored; one level of quotes stripped."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip().removeprefix("export ").strip()] = value
    return values


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    env = os.environ if environ is None else environ
    file_values = read_dotenv(dotenv if dotenv is not None else Path.cwd() / ".env")

    def get(name: str) -> str:
        return env.get(name) or file_values.get(name) or DEFAULTS[name]

    return Settings(**{field: parse(name, get(name)) for field, (name, parse) in _FIELDS.items()})
