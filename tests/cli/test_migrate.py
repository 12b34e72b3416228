"""`wallet migrate` during traffic: it applies only what changed, never waits behind a reader of the
ledger with postings queued behind it, and gives up at its deadline saying what it waited for.

A change to apply is made in a copy of db/ (tmp_path), which migrate is pointed at; the teardown
of `restores_functions` migrates from the checkout's db/ again, so the shared database ends as it
began. The reader is a separate session in `BEGIN; SELECT count(*) FROM ledger.transactions;`, as
an auditor's psql, `wallet reconcile` or pg_dump would be.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
import pytest
from psycopg import sql

from service.cli import build_parser
from service.config import Settings
from tests.support import GOLD, ROOT

BALANCE_TRIGGER = (
    "CREATE CONSTRAINT TRIGGER transactions_balance AFTER INSERT ON ledger.transactions "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((new.batch_id IS NULL)) EXECUTE FUNCTION "
    "ledger._check_transaction_balances()"
)
# the same trigger with a condition that holds for every transaction: a change that needs ACCESS
# EXCLUSIVE (a constraint trigger is dropped and created again) and checks a batch's items twice
# (by the batch too) but nothing less
CHANGED_WHEN = ("WHEN ((new.batch_id IS NULL))", "WHEN ((new.id IS NOT NULL))")
CHANGED_BALANCE_TRIGGER = BALANCE_TRIGGER.replace(*CHANGED_WHEN)
TRIGGER_DEF = """
SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger AS t
WHERE t.tgrelid = 'ledger.transactions'::regclass AND t.tgname = 'transactions_balance'
"""
# `wallet migrate` with db/ taken from argv[1] instead of the checkout
# (import_module: `import service.cli.migrate as m` would give the function service.cli exports)
MIGRATE_FROM = (
    "import importlib, pathlib, sys; m = importlib.import_module('service.cli.migrate'); "
    "m.db_dir = lambda: pathlib.Path(sys.argv[1]); "
    "from service.cli import main; sys.exit(main(['migrate']))"
)
# each posting's wait for a lock, as the service's (WALLET_LOCK_TIMEOUT)
SERVICE_LOCK_TIMEOUT = "3s"


def start_migrate(db: Path | None = None, **env: str) -> subprocess.Popen[str]:
    """`wallet migrate` started, from the checkout's db/ or from `db`, with `env` added."""
    command = ["-m", "service.cli", "migrate"] if db is None else ["-c", MIGRATE_FROM, str(db)]
    return subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )


async def finished(run: subprocess.Popen[str], within: float) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a run that must end within `within` seconds; it is
    killed if it does not, and the test fails."""
    deadline = time.monotonic() + within
    while run.poll() is None:
        if time.monotonic() > deadline:
            run.kill()
            out, err = run.communicate()
            pytest.fail(f"migrate still running after {within} s:\n{out}{err}")
        await asyncio.sleep(0.05)
    out, err = run.communicate()
    return run.returncode, out, err


def migrate_now(db: Path | None = None, env: dict[str, str] | None = None) -> str:
    """`wallet migrate`, nothing in its way; its stdout."""
    run = start_migrate(db, **(env or {}))
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    return out


def files_applied(out: str) -> list[str]:
    """The files a migrate's output says it applied."""
    match = re.search(r"^functions: \d+ of \d+ files changed, applied: (.*)$", out, re.M)
    return match.group(1).split(", ") if match else []


@pytest.fixture
def restores_functions() -> Iterator[None]:
    """Migrates from the checkout's db/ at the end, undoing what a copy of db/ applied."""
    yield
    migrate_now()


@pytest.fixture
def changed_trigger_db(tmp_path: Path, restores_functions: None) -> Path:
    """A copy of db/ in which the double-entry trigger changed (CHANGED_BALANCE_TRIGGER)."""
    db = shutil.copytree(ROOT / "db", tmp_path / "db")
    path = db / "functions" / "10_ledger_private.sql"
    text = path.read_text()
    assert text.count(CHANGED_WHEN[0]) == 1
    path.write_text(text.replace(*CHANGED_WHEN))
    return db


@asynccontextmanager
async def reading(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """`conn` holds ACCESS SHARE on ledger.transactions, in an open transaction, until the end."""
    reader = conn.transaction()
    await reader.start()
    try:
        await conn.fetchval("SELECT count(*) FROM ledger.transactions")
        yield
    finally:
        await reader.rollback()


@asynccontextmanager
async def locked(conn: asyncpg.Connection, mode: str, *relations: str) -> AsyncIterator[None]:
    """`conn` holds `mode` on `relations` until the end."""
    holder = conn.transaction()
    await holder.start()
    try:
        await conn.execute(f"LOCK TABLE {', '.join(relations)} IN {mode} MODE")
        yield
    finally:
        await holder.rollback()


async def waits_for(watcher: asyncpg.Connection, holder: asyncpg.Connection, within: float) -> None:
    """Returns once a session waits for a lock that `holder` holds. Asked on a connection not in
    a transaction: a transaction sees pg_stat_activity as it was at its first look."""
    holder_pid = holder.get_server_pid()
    waiting = (
        "SELECT count(*) FROM pg_catalog.pg_stat_activity"
        " WHERE pg_catalog.pg_blocking_pids(pid) @> ARRAY[$1::int]"
    )
    deadline = time.monotonic() + within
    while not await watcher.fetchval(waiting, holder_pid):
        assert time.monotonic() < deadline, f"nothing waited for the reader within {within} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def reader(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """An auditor's session, as the owner or superuser, with an application_name to be named by."""
    conn = await asyncpg.connect(
        settings.admin_database_url, server_settings={"application_name": "auditor-psql"}
    )
    try:
        yield conn
    finally:
        await conn.close()


async def postings(
    conn: asyncpg.Connection, user: str, *, count: int = 0, seconds: float = 0.0
) -> tuple[list[float], list[str]]:
    """Top-ups one after the other, `count` of them or for `seconds`: (each one's time, errors)."""
    await conn.execute(f"SET lock_timeout = '{SERVICE_LOCK_TIMEOUT}'")
    times: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    while len(times) < count or time.monotonic() < until:
        started = time.monotonic()
        try:
            await conn.fetchrow(
                "SELECT * FROM api.topup($1, $2, 1.00, $3)", user, GOLD, uuid.uuid4().hex
            )
        except asyncpg.PostgresError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        times.append(time.monotonic() - started)
    return times, errors


# ----------------------------------------------------------------------------------------------
# Nothing changed, nothing locked
# ----------------------------------------------------------------------------------------------
async def test_migrate_with_nothing_changed_applies_nothing_and_locks_no_ledger_table(
    admin_conn: asyncpg.Connection, reader: asyncpg.Connection
) -> None:
    """Every table and view of ledger and api held in ACCESS EXCLUSIVE (which conflicts with every
    lock there is) from another session: a migrate with nothing to apply finishes all the same."""
    migrate_now()  # whatever an earlier test left, the checkout's db/ is applied
    relations = await admin_conn.fetch(
        "SELECT c.oid::regclass::text AS name FROM pg_catalog.pg_class AS c"
        " WHERE c.relnamespace IN ('ledger'::regnamespace, 'api'::regnamespace)"
        "   AND c.relkind IN ('r', 'v')"
    )
    assert len(relations) >= 10
    async with locked(reader, "ACCESS EXCLUSIVE", *(r["name"] for r in relations)):
        code, out, err = await finished(start_migrate(), within=15)
    assert code == 0, out + err
    assert "migrations: 0 applied" in out
    assert re.search(r"^functions: unchanged \(\d+ files\)$", out, re.M), out


async def test_a_changed_file_whose_triggers_did_not_change_locks_no_ledger_table_against_readers(
    tmp_path: Path, reader: asyncpg.Connection, restores_functions: None
) -> None:
    """10_ledger_private.sql changed (a comment), its triggers did not: with the ledger's tables
    held in EXCLUSIVE mode (which leaves only ACCESS SHARE free, the readers' lock, and so stops
    any trigger from being created, replaced or dropped), migrate applies the file at once."""
    db = shutil.copytree(ROOT / "db", tmp_path / "db")
    path = db / "functions" / "10_ledger_private.sql"
    path.write_text(path.read_text() + "\n-- a comment changes the file, not its triggers\n")
    tables = ("ledger.transactions", "ledger.entries", "ledger.wallets")
    async with locked(reader, "EXCLUSIVE", *tables):
        code, out, err = await finished(start_migrate(db), within=15)
    assert code == 0, out + err
    assert files_applied(out) == ["10_ledger_private.sql"], out
    assert "trigger" not in out


# ----------------------------------------------------------------------------------------------
# Something to apply, and a reader in the way
# ----------------------------------------------------------------------------------------------
async def test_postings_go_on_while_migrate_waits_for_a_reader_and_it_applies_once_the_reader_ends(
    admin_conn: asyncpg.Connection,
    service_conn: asyncpg.Connection,
    reader: asyncpg.Connection,
    changed_trigger_db: Path,
    unique: str,
) -> None:
    """The issue's reproduction: a reader holds ACCESS SHARE on ledger.transactions and migrate
    must drop and create the double-entry trigger there (ACCESS EXCLUSIVE). Postings go on while
    migrate waits, none more than half a second slower than usual (each of migrate's tries holds
    them up for at most its lock timeout, 200 ms); when the reader ends, migrate applies."""
    user = f"migrate-{unique}"
    usual, errors = await postings(service_conn, user, count=20)
    assert not errors
    async with reading(reader):
        run = start_migrate(changed_trigger_db, WALLET_MIGRATE_DEADLINE="60")
        try:
            await waits_for(admin_conn, reader, within=15)
            during, errors = await postings(service_conn, user, seconds=2.5)
            assert run.poll() is None, "migrate did not wait for the reader"
        finally:
            if run.poll() is None and errors:
                run.kill()
    code, out, err = await finished(run, within=30)
    assert not errors, errors
    assert len(during) >= 20, f"only {len(during)} postings in 2.5 s"
    slowest, typical = max(during), statistics.median(usual)
    assert slowest < typical + 0.5, f"a posting took {slowest:.3f} s (usually {typical:.3f} s)"
    assert code == 0, out + err
    assert "waiting for AccessExclusiveLock on ledger.transactions" in out, out
    assert files_applied(out) == ["10_ledger_private.sql"], out
    assert await admin_conn.fetchval(TRIGGER_DEF) == CHANGED_BALANCE_TRIGGER


async def test_migrate_gives_up_at_its_deadline_naming_the_lock_and_the_session_holding_it(
    admin_conn: asyncpg.Connection,
    service_conn: asyncpg.Connection,
    reader: asyncpg.Connection,
    changed_trigger_db: Path,
    unique: str,
) -> None:
    """The reader lasts longer than migrate's deadline (2 s here): migrate exits 1 soon after it,
    says what it waited for and who held it, and leaves the database as it was."""
    async with reading(reader):
        started = time.monotonic()
        run = start_migrate(changed_trigger_db, WALLET_MIGRATE_DEADLINE="2")
        try:
            code, out, err = await finished(run, within=15)
        finally:
            if run.poll() is None:
                run.kill()
        elapsed = time.monotonic() - started
        reader_pid = reader.get_server_pid()
    assert code == 1, out + err
    assert elapsed < 8, f"gave up after {elapsed:.1f} s"
    assert "gave up after" in err, err
    assert "functions (10_ledger_private.sql)" in err, err
    assert "AccessExclusiveLock on ledger.transactions" in err, err
    assert f"held by pid {reader_pid}" in err, err
    assert "application 'auditor-psql'" in err and "idle in transaction" in err, err
    assert await admin_conn.fetchval(TRIGGER_DEF) == BALANCE_TRIGGER
    _, errors = await postings(service_conn, f"after-{unique}", count=3)
    assert not errors


def test_deadline_option_takes_seconds_from_0_to_a_day() -> None:
    parser = build_parser()
    assert parser.parse_args(["migrate", "--deadline", "2.5"]).deadline == 2.5
    assert parser.parse_args(["migrate"]).deadline is None
    for wrong in ("-1", "nan", "86401", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["migrate", "--deadline", wrong])


# ----------------------------------------------------------------------------------------------
# What gets applied: every file on a fresh database or after a new migration, else what changed
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_database(settings: Settings) -> Iterator[dict[str, str]]:
    """The environment of a new, empty database (dropped at the end): what migrations are tried
    on, since one applied to the shared database would stay there."""
    name = f"wallet_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {
            "WALLET_ADMIN_DATABASE_URL": settings.admin_database_url.rsplit("/", 1)[0] + f"/{name}",
            "WALLET_DATABASE_URL": settings.database_url.rsplit("/", 1)[0] + f"/{name}",
        }
    finally:
        with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_a_fresh_database_gets_every_file_then_nothing_until_a_migration_comes(
    fresh_database: dict[str, str], tmp_path: Path
) -> None:
    env = fresh_database
    every_file = sorted(path.name for path in (ROOT / "db" / "functions").glob("*.sql"))
    first = migrate_now(env=env)
    assert files_applied(first) == every_file, first
    with psycopg.connect(env["WALLET_ADMIN_DATABASE_URL"]) as conn:
        triggers = conn.execute(
            "SELECT count(*) FROM pg_catalog.pg_trigger AS t"
            " WHERE t.tgrelid::regclass::text LIKE 'ledger.%' AND NOT t.tgisinternal"
        ).fetchone()
    assert triggers is not None and triggers[0] >= 4
    assert "functions: unchanged" in migrate_now(env=env)

    # a new migration may drop what a file made (a view in a column's way): all again
    db = shutil.copytree(ROOT / "db", tmp_path / "db")
    (db / "migrations" / "9999.nothing.sql").write_text("SELECT 1;\n")
    after = migrate_now(db, env=env)
    assert "migrations: 1 applied" in after
    assert files_applied(after) == every_file, after
    assert "functions: unchanged" in migrate_now(db, env=env)


# The last landed version's db/: a database it migrated, with money in it, must upgrade to the
# checkout's db/ (a fresh database proves nothing about views and functions that already exist:
# CREATE OR REPLACE cannot change a view's column types or collations, nor a function's result).
# Move it forward when a version lands whose schema this one must upgrade from.
UPGRADE_FROM = "14ac520"  # issue 17 (batches) as it landed, the version before the seal


def test_a_database_of_the_last_landed_version_with_money_in_it_upgrades(
    fresh_database: dict[str, str], tmp_path: Path
) -> None:
    env = fresh_database
    git = shutil.which("git")
    assert git is not None, "git is needed to read the last landed version's db/"
    archive = subprocess.run(
        [git, "archive", UPGRADE_FROM, "db"], cwd=ROOT, capture_output=True, check=False
    )
    assert archive.returncode == 0, (
        f"git archive {UPGRADE_FROM} failed (a clone without history?): {archive.stderr!r}"
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():  # our own files: plain files and their folders
            source = tar.extractfile(member) if member.isfile() else None
            if source is not None:
                target = tmp_path / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read())
    migrate_now(tmp_path / "db", env=env)
    admin = env["WALLET_ADMIN_DATABASE_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SET ROLE wallet_owner")
        before = conn.execute(
            "SELECT (api.topup('up-1', %s, 10.00, 'up-topup')).transaction_id", (GOLD,)
        ).fetchone()
        conn.execute("SELECT api.spend('up-1', %s, 4.00, 'sword', 'up-spend')", (GOLD,))
    assert before is not None

    after = migrate_now(env=env)
    pending = {p.name for p in (ROOT / "db" / "migrations").glob("*.sql")} - {
        p.name for p in (tmp_path / "db" / "migrations").glob("*.sql")
    }
    assert f"migrations: {len(pending)} applied" in after, after

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SET ROLE wallet_owner")
        # an entry from before the upgrade (posted_at NULL) is reversed like any other
        row = conn.execute(
            "SELECT balance, remaining FROM api.reverse(%s, NULL, 'store refund', 'up-rev', "
            "'allow_negative')",
            before,
        ).fetchone()
        assert row == (Decimal("-4.00"), Decimal("0.00"))
        # a wallet from before the upgrade holds, and is held to limits set after it
        conn.execute("SELECT api.topup('up-1', %s, 10.00, 'up-topup-2')", (GOLD,))
        conn.execute("SELECT api.set_user_limits('up-1', %s, NULL, NULL, 5.00)", (GOLD,))
        hold = conn.execute(
            "SELECT hold_id, balance FROM api.authorize_hold('up-1', %s, 5.00, 'match', 'up-hold')",
            (GOLD,),
        ).fetchone()
        assert hold is not None and hold[1] == Decimal("1.00")
        with pytest.raises(psycopg.Error) as refused:
            conn.execute("SELECT api.spend('up-1', %s, 0.50, 'potion', 'up-spend-2')", (GOLD,))
        assert refused.value.sqlstate == "WVLIM"
        assert conn.execute(
            "SELECT balance, held FROM api.balances('up-1', %s)", (GOLD,)
        ).fetchone() == (Decimal("1.00"), Decimal("5.00"))
        failed = conn.execute("SELECT check_name FROM api.reconcile() WHERE NOT ok").fetchall()
        assert failed == []
    assert "functions: unchanged" in migrate_now(env=env)


async def test_a_migration_waits_for_no_lock_longer_than_the_lock_timeout_either(
    fresh_database: dict[str, str], tmp_path: Path
) -> None:
    """yoyo's sessions run with the same lock timeout: a migration that needs ACCESS EXCLUSIVE on
    a table a reader holds is rolled back and tried again, and given up at the deadline."""
    env = fresh_database
    migrate_now(env=env)
    db = shutil.copytree(ROOT / "db", tmp_path / "db")
    (db / "migrations" / "9999.probe.sql").write_text(
        "ALTER TABLE ledger.assets ADD COLUMN probe integer;\n"
    )
    reader = await asyncpg.connect(env["WALLET_ADMIN_DATABASE_URL"])
    watcher = await asyncpg.connect(env["WALLET_ADMIN_DATABASE_URL"])
    try:
        async with reading(reader):
            await reader.fetchval("SELECT count(*) FROM ledger.assets")
            code, out, err = await finished(
                start_migrate(db, WALLET_MIGRATE_DEADLINE="1", **env), within=15
            )
        assert code == 1, out + err
        assert "migrations (9999.probe) met the lock timeout" in err, err
        assert "AccessExclusiveLock on ledger.assets" in err, err
        assert f"held by pid {reader.get_server_pid()}" in err, err

        async with reading(reader):
            await reader.fetchval("SELECT count(*) FROM ledger.assets")
            run = start_migrate(db, WALLET_MIGRATE_DEADLINE="60", **env)
            await waits_for(watcher, reader, within=15)
        code, out, err = await finished(run, within=30)
        assert code == 0, out + err
        assert "migrations: 1 applied" in out
    finally:
        await reader.close()
        await watcher.close()


def test_every_trigger_of_db_functions_goes_through_ensure_trigger() -> None:
    """A bare CREATE [OR REPLACE] TRIGGER or DROP TRIGGER would lock its table on every deploy
    that applies its file (db/functions/01_deploy.sql says why and how to write one)."""
    bare = []
    for path in sorted((ROOT / "db" / "functions").glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        text = re.sub(r"deploy\.ensure_trigger\(\s*(?:'(?:[^']|'')*'\s*)+\)", "", text)
        statement = r"^\s*(CREATE\s+(OR\s+REPLACE\s+)?(CONSTRAINT\s+)?|DROP\s+)TRIGGER\b"
        for match in re.finditer(statement, text, re.I | re.M):
            bare.append(f"{path.name}: {match.group(0)}")
    assert not bare, bare


async def test_ensure_trigger_creates_or_changes_a_trigger_only_when_missing_different_or_disabled(
    admin_conn: asyncpg.Connection, unique: str
) -> None:
    """On a table of its own, dropped at the end."""
    table = f"public.migrate_probe_{unique}"
    plain = (
        f"CREATE TRIGGER probe BEFORE INSERT OR UPDATE OF a ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION ledger._check_wallet_identity()"
    )
    other = plain.replace("INSERT OR UPDATE OF a", "INSERT")
    deferred = (
        f"CREATE CONSTRAINT TRIGGER probe AFTER INSERT ON {table}"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION"
        " ledger._check_transaction_balances()"
    )

    async def ensure(definition: str) -> tuple[str, int]:
        """What ensure_trigger did, and how many locks on the table it took to do it."""
        async with admin_conn.transaction():
            await admin_conn.execute("SET LOCAL ROLE wallet_owner")
            done = await admin_conn.fetchval("SELECT deploy.ensure_trigger($1)", definition)
            locks = await admin_conn.fetchval(
                "SELECT count(*) FROM pg_catalog.pg_locks"
                " WHERE pid = pg_backend_pid() AND relation = $1::regclass",
                table,
            )
        return done, locks

    async with admin_conn.transaction():
        await admin_conn.execute("SET LOCAL ROLE wallet_owner")
        await admin_conn.execute(f"CREATE TABLE {table} (a int)")
    try:
        assert (await ensure(plain))[0] == "created"
        assert await ensure(plain) == ("unchanged", 0)
        assert (await ensure(other))[0] == "replaced"
        assert await ensure(other) == ("unchanged", 0)
        await admin_conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER probe")
        assert (await ensure(other))[0] == "replaced"
        assert await ensure(other) == ("unchanged", 0)
        assert (await ensure(deferred))[0] == "dropped and created again"
        assert await ensure(deferred) == ("unchanged", 0)
        assert (await ensure(plain))[0] == "dropped and created again"
        # the same trigger written otherwise would never compare equal: refused, with the form
        with pytest.raises(asyncpg.RaiseError) as refused:
            await ensure(plain.replace("INSERT OR UPDATE OF a", "UPDATE OF a OR INSERT"))
        assert "not written as PostgreSQL prints it" in str(refused.value)
        assert refused.value.hint == f"write it as: {plain}"
        assert await ensure(plain) == ("unchanged", 0)
    finally:
        await admin_conn.execute(f"DROP TABLE {table}")
