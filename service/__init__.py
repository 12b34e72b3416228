"""The wallet service: the `wallet` command (service.cli) and the HTTP API (service.http) in front
of the ledger's SQL functions (db/)."""

from __future__ import annotations

from pathlib import Path

# The database's roles (db/roles.sql): the owner of the schemas, the service's login, and the
# trusted jobs' login (`wallet reverse` among them).
OWNER_ROLE = "wallet_owner"
SERVICE_ROLE = "wallet_service"
JOB_ROLE = "wallet_job"


def db_dir() -> Path:
    """db/ of a checkout (editable install), or the copy shipped inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "db", here.parent / "db"):
        if (candidate / "migrations").is_dir():
            return candidate
    raise FileNotFoundError("cannot find the db/ directory with migrations and functions")
