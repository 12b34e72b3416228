"""Configuration: environment variables first, then a `.env` file in the working directory.

The defaults are those of the local stack `make run` starts, so `.venv/bin/wallet ...` run in
the checkout reaches the same PostgreSQL and Redis with no further set-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULTS: Mapping[str, str] = {
    # the service and trusted jobs: may only execute the SQL API
    "WALLET_DATABASE_URL": "postgresql://wallet_service@127.0.0.1:15432/wallet",
    # migrations, seed and API keys: the schema owner, or a superuser (then roles are created)
    "WALLET_ADMIN_DATABASE_URL": "postgresql://postgres@127.0.0.1:15432/wallet",
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
    "WALLET_IDEMPOTENCY_TTL": "86400",
    "WALLET_RATE_LIMIT_GENERAL": "100/15m",
    "WALLET_RATE_LIMIT_TRANSACTIONS": "10/1m",
    "WALLET_CORS_ORIGINS": "",
    "WALLET_OTEL_ENDPOINT": "",
    "WALLET_OTEL_SERVICE_NAME": "wallet-service",
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


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_database_url: str
    redis_url: str
    port: int
    host: str = "127.0.0.1"
    workers: int = 2
    db_pool_size: int = 8
    db_statement_cache_size: int = 100
    listen_database_url: str = ""
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 3000
    idempotency_ttl: int = 86400
    rate_limit_general: RateLimit | None = RateLimit(100, 15 * 60)
    rate_limit_transactions: RateLimit | None = RateLimit(10, 60)
    cors_origins: tuple[str, ...] = ()
    otel_endpoint: str = ""
    otel_service_name: str = "wallet-service"


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

    def number(name: str, low: int, high: int) -> int:
        text = get(name).strip()
        if not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, not {text!r}")
        return int(text)

    return Settings(
        database_url=get("WALLET_DATABASE_URL"),
        admin_database_url=get("WALLET_ADMIN_DATABASE_URL"),
        redis_url=get("WALLET_REDIS_URL"),
        port=number("WALLET_PORT", 1, 65535),
        host=get("WALLET_HOST"),
        workers=number("WALLET_WORKERS", 1, 64),
        db_pool_size=number("WALLET_DB_POOL_SIZE", 1, 200),
        db_statement_cache_size=number("WALLET_DB_STATEMENT_CACHE_SIZE", 0, 10_000),
        listen_database_url=get("WALLET_LISTEN_DATABASE_URL").strip(),
        statement_timeout_ms=number("WALLET_STATEMENT_TIMEOUT", 0, 3_600_000),
        lock_timeout_ms=number("WALLET_LOCK_TIMEOUT", 0, 3_600_000),
        idempotency_ttl=number("WALLET_IDEMPOTENCY_TTL", 60, 30 * 86400),
        rate_limit_general=RateLimit.parse(
            "WALLET_RATE_LIMIT_GENERAL", get("WALLET_RATE_LIMIT_GENERAL")
        ),
        rate_limit_transactions=RateLimit.parse(
            "WALLET_RATE_LIMIT_TRANSACTIONS", get("WALLET_RATE_LIMIT_TRANSACTIONS")
        ),
        cors_origins=tuple(o.strip() for o in get("WALLET_CORS_ORIGINS").split(",") if o.strip()),
        otel_endpoint=get("WALLET_OTEL_ENDPOINT").strip().rstrip("/"),
        otel_service_name=get("WALLET_OTEL_SERVICE_NAME"),
    )
