"""`wallet migrate`: roles, yoyo migrations, then the files of db/functions/ that changed.

A deploy must never stop the money. Every DDL statement takes a lock on its table, and a lock
request that has to wait (for an auditor's open transaction, `wallet reconcile` on a big ledger,
pg_dump) makes every posting queue behind it. So each of migrate's sessions runs with a short
`lock_timeout` (WALLET_MIGRATE_LOCK_TIMEOUT, 200 ms): a step that meets it is rolled back, waits
with backoff and jitter, and is tried again until the deadline (WALLET_MIGRATE_DEADLINE or
`--deadline`, 300 s from the start); then migrate gives up, exit status 1, naming the lock it
waited for and the session that held it. A posting waits at most about one lock timeout per try.

And a deploy takes only the locks it needs. yoyo (9.x) runs post-apply steps only in a run that
applied a migration, so migrate applies db/functions/ itself: the files whose SHA-256 differs
from the one recorded in deploy.function_files when they were last applied, all of them after a
new migration (which may have dropped what a file made), in one transaction, under an advisory
lock so that two deploys cannot interleave. Triggers go through deploy.ensure_trigger, which
touches one only when its definition changed, so a changed file whose triggers did not change
takes no lock on the ledger's tables. Nothing changed, nothing is locked.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from yoyo import exceptions as yoyo_exceptions
from yoyo import get_backend, read_migrations

from service import OWNER_ROLE, SERVICE_ROLE, db_dir

# any constant will do; it only has to be the same in every deploy
_FUNCTIONS_LOCK = 0x57414C4C  # "WALL"
# the pause between tries after a lock timeout: doubling from the first to the last, each drawn
# between half and all of it (jitter, so that deploys and retries do not fall into step)
_FIRST_PAUSE = 0.2
_LONGEST_PAUSE = 3.0
# how often the watch looks at what migrate's sessions wait for (a wait lasts one lock timeout)
_WATCH_INTERVAL = 0.04
# a line about the waiting once the watch knows what it is, then at most this often
_SAY_WAITING_EVERY = 5.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LockPolicy:
    """How long each lock wait may last, and until when (seconds after the start) to retry."""

    lock_timeout_ms: int = 200
    deadline_seconds: float = 300


class GaveUp(Exception):  # noqa: N818 - what happened, said as the CLI says it
    """The deadline passed with a step still meeting lock timeouts; nothing of it was applied."""


@dataclass(frozen=True, slots=True)
class Wait:
    """A lock one of migrate's sessions waited for, and a session in its way."""

    lock: str
    mode: str
    pid: int | None
    user: str | None
    application: str | None
    state: str | None
    since: str | None
    query: str | None

    def describe(self) -> str:
        text = f"{self.mode} on {self.lock}"
        if self.pid is None:
            return text
        who = ", ".join(
            part
            for part in (
                f"application {self.application!r}" if self.application else "",
                f"user {self.user}" if self.user else "",
                f"{self.state} since {self.since}" if self.state and self.since else "",
                f"query: {' '.join(self.query.split())[:160]}" if self.query else "",
            )
            if part
        )
        return f"{text}, held by pid {self.pid}" + (f" ({who})" if who else "")


_WAITS = """
SELECT CASE l.locktype
           WHEN 'relation' THEN l.relation::regclass::text
           WHEN 'advisory' THEN 'an advisory lock (another wallet migrate?)'
           ELSE l.locktype END,
       l.mode, b.pid, b.usename::text, b.application_name, b.state,
       to_char(b.xact_start, 'YYYY-MM-DD HH24:MI:SS TZ'), b.query
FROM pg_catalog.pg_stat_activity AS w
JOIN pg_catalog.pg_locks AS l ON l.pid = w.pid AND NOT l.granted
LEFT JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(w.pid)) AS blocker (pid) ON true
LEFT JOIN pg_catalog.pg_stat_activity AS b ON b.pid = blocker.pid
WHERE w.application_name = %s AND w.wait_event_type = 'Lock'
"""


class _LockWatch:
    """What migrate's sessions wait for and who holds it, sampled from a connection of its own:
    the error of a lock timeout names neither. Started at the first lock timeout (a deploy that
    never waits never opens it); a failure of the watch costs only the details of the message."""

    def __init__(self, url: str, application_name: str) -> None:
        self._url = url
        self._application_name = application_name
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._latest: tuple[Wait, ...] = ()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="migrate-lock-watch")
            self._thread.daemon = True
            self._thread.start()

    def latest(self) -> tuple[Wait, ...]:
        """The waits of the last sample that saw any (the lock may have been granted since)."""
        with self._mutex:
            return self._latest

    def forget(self) -> None:
        with self._mutex:
            self._latest = ()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            with psycopg.connect(
                self._url, autocommit=True, application_name=f"{self._application_name} watch"
            ) as conn:
                while not self._stop.is_set():
                    rows = conn.execute(_WAITS, (self._application_name,)).fetchall()
                    if rows:
                        waits = tuple(Wait(*row) for row in rows)
                        with self._mutex:
                            self._latest = waits
                    self._stop.wait(_WATCH_INTERVAL)
        except psycopg.Error:
            return


class _Deploy:
    """One run of migrate: its deadline, the name its sessions carry, and the retry loop."""

    def __init__(self, admin_url: str, policy: LockPolicy, say: Callable[[str], object]) -> None:
        self.say = say
        self.policy = policy
        self.started = time.monotonic()
        # unique to this run, so that the watch sees this run's sessions and no one else's
        self.application_name = f"wallet migrate {os.getpid()}"
        self.watch = _LockWatch(admin_url, self.application_name)
        # what is being done, for the messages; an attempt may say more (which file)
        self.doing = ""

    def retrying(self, step: str, attempt: Callable[[], T]) -> T:
        """attempt() until it does not meet a lock timeout, or GaveUp once the deadline passed.
        Each attempt must be all-or-nothing (one transaction), or safe to run again."""
        pause = _FIRST_PAUSE
        tries = 0
        said_at: float | None = None
        self.watch.forget()
        while True:
            tries += 1
            self.doing = step
            try:
                return attempt()
            except psycopg.errors.LockNotAvailable as exc:
                self.watch.start()
                waited = self._what_was_waited_for(exc)
                now = time.monotonic()
                left = self.started + self.policy.deadline_seconds - now
                if left <= 0:
                    raise GaveUp(
                        f"gave up after {now - self.started:.1f} s (the deadline:"
                        f" WALLET_MIGRATE_DEADLINE or --deadline): {self.doing} met the lock"
                        f" timeout ({self.policy.lock_timeout_ms} ms) {tries} time(s), waiting"
                        f" last for {waited}. What it was applying was rolled back; end that"
                        " session, or run migrate again once it is done."
                    ) from exc
                # said once the watch knows what it is (it starts at the first timeout)
                known = bool(self.watch.latest())
                if known and (said_at is None or now - said_at >= _SAY_WAITING_EVERY):
                    said_at = now
                    self.say(
                        f"{self.doing}: waiting for {waited}; trying again for up to {left:.0f} s"
                    )
                time.sleep(min(left, random.uniform(pause / 2, pause)))  # noqa: S311 - jitter
                pause = min(pause * 2, _LONGEST_PAUSE)

    def _what_was_waited_for(self, exc: psycopg.errors.LockNotAvailable) -> str:
        waits = self.watch.latest()
        if waits:
            return "; ".join(dict.fromkeys(wait.describe() for wait in waits))
        # the watch starts at the first timeout, so it has not seen one yet: what the error says
        context = " ".join((exc.diag.context or "").split())
        return f"a lock ({context})" if context else "a lock"

    def conninfo(self, url: str) -> str:
        """`url` with this run's name and lock timeout."""
        return make_conninfo(url, **self.url_options(url))

    def url_options(self, url: str, role: str | None = None) -> dict[str, str]:
        """libpq parameters for every session of this run: its name and the lock timeout (after
        the URL's own options, if it has any), and with `role`, SET ROLE at connect."""
        options = [
            str(conninfo_to_dict(url).get("options") or ""),
            f"-c lock_timeout={self.policy.lock_timeout_ms}",
            f"-c role={role}" if role else "",
        ]
        return {
            "application_name": self.application_name,
            "options": " ".join(option for option in options if option),
        }


def _yoyo_url(url: str, options: dict[str, str]) -> str:
    """The URL for yoyo: psycopg 3, with `options` (yoyo passes query parameters to connect)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(options)
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))


def _service_password(service_url: str | None) -> str | None:
    """The password WALLET_DATABASE_URL gives wallet_service, if it names that role and one."""
    if not service_url:
        return None
    params = conninfo_to_dict(service_url)
    password = params.get("password")
    if params.get("user") != SERVICE_ROLE or not isinstance(password, str) or not password:
        return None
    return password


def _set_service_password(conn: psycopg.Connection[tuple[object, ...]], password: str) -> None:
    """Stores the SCRAM verifier that libpq computes here, so that the password itself is in no
    statement a server log could keep (as psql's \\password does)."""
    verifier = conn.pgconn.encrypt_password(
        password.encode(), SERVICE_ROLE.encode(), b"scram-sha-256"
    )
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(SERVICE_ROLE), sql.Literal(verifier.decode())
        )
    )


def _roles(deploy: _Deploy, admin_url: str, root: Path, service_password: str | None) -> list[str]:
    """Roles (when this login may create them) and the database's owner; what to say."""
    said: list[str] = []
    with psycopg.connect(deploy.conninfo(admin_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolsuper OR rolcreaterole, current_database()"
            " FROM pg_catalog.pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row is not None
        superuser, can_create_roles, database = row
        if can_create_roles:
            conn.execute((root / "roles.sql").read_text(encoding="utf-8"))
            said.append("roles: wallet_owner, wallet_service, wallet_job, wallet_auditor present")
            if service_password is not None:
                _set_service_password(conn, service_password)
                said.append("roles: wallet_service's password set from WALLET_DATABASE_URL")
        elif service_password is not None:
            said.append(
                "roles: wallet_service's password left as it is (this login cannot alter roles)"
            )
        if superuser:
            # the owner creates yoyo's tables in schema public, which belongs to the db owner
            conn.execute(f'ALTER DATABASE "{database}" OWNER TO {OWNER_ROLE}')
    return said


def _migrations(deploy: _Deploy, admin_url: str, root: Path) -> tuple[int, list[str]]:
    """Applies the pending migrations, each in a transaction; (how many, every migration's id)."""
    backend = get_backend(_yoyo_url(admin_url, deploy.url_options(admin_url, OWNER_ROLE)))
    try:
        migrations = read_migrations(str(root / "migrations"))
        left = deploy.started + deploy.policy.deadline_seconds - time.monotonic()
        try:
            # yoyo's own lock (a row in yoyo_lock), polled until the deadline
            with backend.lock(timeout=max(left, 0.5)):
                pending = backend.to_apply(migrations)
                if pending:
                    deploy.doing = f"migrations ({', '.join(m.id for m in pending)})"
                backend.apply_migrations(pending)
        except yoyo_exceptions.LockTimeout as exc:
            raise GaveUp(f"gave up waiting for another migrate: {exc}") from exc
        return len(pending), [migration.id for migration in migrations]
    finally:
        backend.connection.close()


@dataclass(frozen=True, slots=True)
class _FunctionFile:
    name: str
    text: str
    sha256: str


def _function_files(root: Path) -> list[_FunctionFile]:
    files = []
    for path in sorted((root / "functions").glob("*.sql")):
        data = path.read_bytes()
        files.append(
            _FunctionFile(path.name, data.decode("utf-8"), hashlib.sha256(data).hexdigest())
        )
    return files


def _migrations_digest(ids: list[str]) -> str:
    """The SHA-256 of the migrations' ids: when it changes, every function file is applied."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _apply_functions(
    deploy: _Deploy, admin_url: str, files: list[_FunctionFile], migrations: str
) -> tuple[list[str], list[str]]:
    """One try: the files that changed, in one transaction; (files applied, notices)."""
    notices: list[str] = []
    with psycopg.connect(deploy.conninfo(admin_url)) as conn:
        conn.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
        conn.execute(f"SET ROLE {OWNER_ROLE}")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_FUNCTIONS_LOCK,))
        # read under the advisory lock: a deploy that waited for another sees what it applied
        applied: dict[str, str] = {
            file: digests
            for file, digests in conn.execute(
                "SELECT file, sha256 || migrations FROM deploy.function_files"
            )
        }
        changed = [f for f in files if applied.get(f.name) != f.sha256 + migrations]
        for file in changed:
            deploy.doing = f"functions ({file.name})"
            conn.execute(file.text.encode())
        for file in changed:
            conn.execute(
                "INSERT INTO deploy.function_files (file, sha256, migrations) VALUES (%s, %s, %s)"
                " ON CONFLICT (file) DO UPDATE SET sha256 = excluded.sha256,"
                " migrations = excluded.migrations, applied_at = now()",
                (file.name, file.sha256, migrations),
            )
        conn.execute(
            "DELETE FROM deploy.function_files WHERE file <> ALL (%s)", ([f.name for f in files],)
        )
        conn.commit()
    return [f.name for f in changed], notices


def migrate(
    admin_url: str,
    say: Callable[[str], object] = print,
    service_url: str | None = None,
    policy: LockPolicy | None = None,
) -> None:
    """Roles (when allowed), migrations, functions. With `service_url` (WALLET_DATABASE_URL)
    naming wallet_service and a password, and a connection allowed to create roles, that
    password becomes wallet_service's: the service's URL is the one place it is written.
    Raises GaveUp when a step still met lock timeouts at the deadline."""
    root = db_dir()
    deploy = _Deploy(admin_url, policy or LockPolicy(), say)
    service_password = _service_password(service_url)
    try:
        for line in deploy.retrying(
            "roles", lambda: _roles(deploy, admin_url, root, service_password)
        ):
            say(line)
        applied, ids = deploy.retrying("migrations", lambda: _migrations(deploy, admin_url, root))
        say(f"migrations: {applied} applied, {len(ids)} in all")
        files = _function_files(root)
        changed, notices = deploy.retrying(
            "functions",
            lambda: _apply_functions(deploy, admin_url, files, _migrations_digest(ids)),
        )
    finally:
        deploy.watch.close()
    for notice in notices:
        say(f"functions: {notice}")
    if not changed:
        say(f"functions: unchanged ({len(files)} files)")
    else:
        say(
            f"functions: {len(changed)} of {len(files)} files changed, applied: "
            + ", ".join(changed)
        )
