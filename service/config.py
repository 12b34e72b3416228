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
    "WALLET_DATABASE_URL": "postgresql://wallet_service@127.0.0.1:55432/wallet",
    # migrations, seed and API keys: the schema owner, or a superuser (then roles are created)
    "WALLET_ADMIN_DATABASE_URL": "postgresql://postgres@127.0.0.1:55432/wallet",
    "WALLET_REDIS_URL": "redis://127.0.0.1:56379/0",
    "WALLET_PORT": "3000",
}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    admin_database_url: str
    redis_url: str
    port: int


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

    port_text = get("WALLET_PORT")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"WALLET_PORT must be a TCP port number, not {port_text!r}")
    return Settings(
        database_url=get("WALLET_DATABASE_URL"),
        admin_database_url=get("WALLET_ADMIN_DATABASE_URL"),
        redis_url=get("WALLET_REDIS_URL"),
        port=int(port_text),
    )
