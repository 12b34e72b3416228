"""The `wallet` command against the test stack: migrate, seed and reconcile."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from service.config import DEFAULTS, Settings, job_database_url, load_settings
from tests.support import ROOT


def wallet(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def assert_bad_usage(result: subprocess.CompletedProcess[str], says: str) -> None:
    """Bad usage, or a database out of reach: exit status 2, `says` on stderr and nothing on
    stdout, with no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier is that of `password` (RFC 5802 / RFC 7677)."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier)
    assert match, verifier
    iterations, salt, stored_key, server_key = match.groups()
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key and (
        base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server_key
    )


# every file of db/functions/ as if it had changed since it was applied
MARK_FUNCTIONS_CHANGED = "UPDATE deploy.function_files SET sha256 = repeat('0', 64)"


def test_migrate_again_applies_no_migration_and_no_function_file() -> None:
    result = wallet("migrate")
    assert result.returncode == 0, result.stderr
    assert "migrations: 0 applied" in result.stdout
    assert re.search(r"^functions: unchanged \(\d+ files\)$", result.stdout, re.M)


async def test_two_deploys_migrating_at_once_both_succeed_and_one_applies(
    admin_conn: asyncpg.Connection,
) -> None:
    """yoyo's lock and the advisory lock around the function files serialise concurrent deploys:
    the first applies the files that changed; the others, waiting for it, then find none."""
    await admin_conn.execute(MARK_FUNCTIONS_CHANGED)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "service.cli", "migrate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    applied = [out for _, out, _ in results if re.search(r"^functions: \d+ of", out, re.M)]
    assert len(applied) == 1, results


async def test_prepared_calls_keep_working_across_a_migrate(
    admin_conn: asyncpg.Connection, service_conn: asyncpg.Connection, unique: str
) -> None:
    """A running service's prepared statements survive a deploy re-applying the functions."""
    topup = await service_conn.prepare(
        "SELECT * FROM api.topup($1, 'asset-gold-coin-001', 1.00, $2)"
    )
    await topup.fetchrow(f"mig-{unique}", f"before-{unique}")
    await admin_conn.execute(MARK_FUNCTIONS_CHANGED)
    result = wallet("migrate")
    assert result.returncode == 0, result.stderr
    assert "files changed, applied: 00_privileges.sql" in result.stdout
    row = await topup.fetchrow(f"mig-{unique}", f"after-{unique}")
    assert str(row["balance"]) == "2.00"


async def test_migrate_sets_wallet_service_password_from_wallet_database_url(
    settings: Settings, admin_conn: asyncpg.Connection
) -> None:
    """What docker-compose.yml relies on: the service's URL is the one place its password is
    written. The statement carries libpq's verifier, never the password."""
    password = "s3cret/with@odd:chars é"  # noqa: S105 - a test password
    stored = "SELECT rolpassword FROM pg_authid WHERE rolname = 'wallet_service'"
    try:
        url = _with_password(settings.database_url, password)
        result = wallet("migrate", WALLET_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert "wallet_service's password set from WALLET_DATABASE_URL" in result.stdout
        verifier = await admin_conn.fetchval(stored)
        assert _scram_matches(verifier, password)
        assert not _scram_matches(verifier, password + "x")

        # a URL without a password leaves the password alone
        result = wallet("migrate", WALLET_DATABASE_URL=settings.database_url)
        assert result.returncode == 0, result.stderr
        assert "password" not in result.stdout
        assert await admin_conn.fetchval(stored) == verifier
    finally:
        await admin_conn.execute("ALTER ROLE wallet_service PASSWORD NULL")


def test_seed_again_changes_nothing() -> None:
    result = wallet("seed")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    assert all(line.endswith("already seeded") for line in lines)


def test_reconcile_reports_clean_books_with_exit_status_0() -> None:
    result = wallet("reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "books balance" in result.stdout
    assert "FAIL" not in result.stdout


async def test_reconcile_exits_1_when_a_balance_was_tampered_with(
    admin_conn: asyncpg.Connection, service_conn: asyncpg.Connection, unique: str
) -> None:
    user = f"tamper-{unique}"
    row = await service_conn.fetchrow(
        "SELECT * FROM api.topup($1, 'asset-diamond-001', 5.00, $2)", user, f"k-{unique}"
    )
    update = "UPDATE ledger.wallets SET balance = balance + $2 WHERE id = $1"
    await admin_conn.execute(update, row["wallet_id"], 1)
    try:
        result = wallet("reconcile")
    finally:
        await admin_conn.execute(update, row["wallet_id"], -1)
    assert result.returncode == 1
    assert "FAIL wallet balances and versions match their entries" in result.stdout
    assert "FAIL entries and balances sum to zero per asset" in result.stdout
    assert wallet("reconcile").returncode == 0


async def test_reconcile_shows_what_is_held_and_each_assets_row_sums_to_zero(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    """The trial balance's row: what the Treasury issued is in Revenue, in the holds account or
    with the users, so the four columns sum to zero; an open hold shows in "held"."""
    user = f"held-{unique}"
    await service_conn.fetchrow(
        "SELECT * FROM api.topup($1, 'asset-diamond-001', 7.00, $2)", user, f"t-{unique}"
    )
    before = _trial_row(wallet("reconcile").stdout, "DIAMOND")
    hold = await service_conn.fetchrow(
        "SELECT * FROM api.authorize_hold($1, 'asset-diamond-001', 3.00, 'match', $2)",
        user,
        f"h-{unique}",
    )
    result = wallet("reconcile")
    after = _trial_row(result.stdout, "DIAMOND")
    await service_conn.fetchrow(
        "SELECT * FROM api.void_hold($1, $2)", hold["hold_id"], f"v-{unique}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   each holds account equals its open holds" in result.stdout
    assert sum(after) == 0
    assert after[2] - before[2] == Decimal("3.00")  # the hold, from the users to "held"
    assert after[3] - before[3] == Decimal("-3.00")


def _trial_row(report: str, code: str) -> list[Decimal]:
    """treasury, revenue, held and users of the asset's row of `wallet reconcile`."""
    header = report.splitlines()[0].split()
    assert header == ["asset", "treasury", "revenue", "held", "users", "wallets"]
    row = next(line.split() for line in report.splitlines() if line.startswith(code + " "))
    return [Decimal(v) for v in row[1:5]]


def test_unreachable_database_is_a_clear_error_with_exit_status_2() -> None:
    env = dict(os.environ, WALLET_ADMIN_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "reconcile"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 2
    assert "cannot reach PostgreSQL" in result.stderr


def test_environment_wins_over_dotenv_which_wins_over_defaults(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\nWALLET_REDIS_URL='redis://from-dotenv:1/0'\nWALLET_PORT=4000\n"
        "export WALLET_DATABASE_URL=postgresql://dotenv/db\n"
    )
    settings = load_settings({"WALLET_PORT": "5000"}, dotenv)
    assert settings == Settings(
        database_url="postgresql://dotenv/db",
        admin_database_url="postgresql://postgres@127.0.0.1:15432/wallet",
        redis_url="redis://from-dotenv:1/0",
        port=5000,
    )


def test_the_jobs_url_is_the_services_as_wallet_job_without_its_password_unless_set() -> None:
    service = "postgresql://wallet_service:s3cret@db.internal:5432/wallet?sslmode=require"
    derived = load_settings({"WALLET_DATABASE_URL": service}, Path("/nonexistent"))
    assert (
        job_database_url(derived)
        == "postgresql://wallet_job@db.internal:5432/wallet?sslmode=require"
    )
    own = "postgresql://wallet_job:other@db.internal/wallet"
    given = load_settings(
        {"WALLET_DATABASE_URL": service, "WALLET_JOB_DATABASE_URL": own}, Path("/nonexistent")
    )
    assert job_database_url(given) == own


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert listed == dict(DEFAULTS)
