"""`wallet migrate`: roles, yoyo migrations, then every file of db/functions/ again.

yoyo (9.x) runs post-apply steps only in a run that applied a migration, so an edited function
would never land on its own; the function files are therefore re-applied on every run, in one
transaction, under an advisory lock so that two deploys cannot interleave.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from yoyo import get_backend, read_migrations

from service import OWNER_ROLE, SERVICE_ROLE, db_dir

# any constant will do; it only has to be the same in every deploy
_FUNCTIONS_LOCK = 0x57414C4C  # "WALL"


def _with_role(url: str, role: str) -> str:
    """The URL for yoyo: psycopg 3, and every session started as `role` (SET ROLE at connect)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"-c role={role}"
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


def migrate(
    admin_url: str, say: Callable[[str], object] = print, service_url: str | None = None
) -> None:
    """Roles (when allowed), migrations, functions. With `service_url` (WALLET_DATABASE_URL)
    naming wallet_service and a password, and a connection allowed to create roles, that
    password becomes wallet_service's: the service's URL is the one place it is written."""
    root = db_dir()
    service_password = _service_password(service_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolsuper OR rolcreaterole, current_database()"
            " FROM pg_catalog.pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row is not None
        superuser, can_create_roles, database = row
        if can_create_roles:
            conn.execute((root / "roles.sql").read_text(encoding="utf-8"))
            say("roles: wallet_owner, wallet_service, wallet_auditor present")
            if service_password is not None:
                _set_service_password(conn, service_password)
                say("roles: wallet_service's password set from WALLET_DATABASE_URL")
        elif service_password is not None:
            say("roles: wallet_service's password left as it is (this login cannot alter roles)")
        if superuser:
            # the owner creates yoyo's tables in schema public, which belongs to the db owner
            conn.execute(f'ALTER DATABASE "{database}" OWNER TO {OWNER_ROLE}')

    backend = get_backend(_with_role(admin_url, OWNER_ROLE))
    try:
        migrations = read_migrations(str(root / "migrations"))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        say(f"migrations: {len(pending)} applied, {len(migrations)} in all")
    finally:
        backend.connection.close()

    function_files = sorted((root / "functions").glob("*.sql"))
    with psycopg.connect(admin_url) as conn:
        conn.execute(f"SET ROLE {OWNER_ROLE}")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_FUNCTIONS_LOCK,))
        for path in function_files:
            conn.execute(path.read_text(encoding="utf-8").encode())
        conn.commit()
    say(f"functions: {len(function_files)} files applied")
