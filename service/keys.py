"""API keys: how a key is made and hashed, and their management as the owner (`wallet keys`).

The database stores only a key's SHA-256 digest and its first characters; the key itself is
printed once, at creation. The HTTP service hashes each presented key with hash_key() and looks
the digest up among those api.active_api_keys() returned.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import TupleRow, class_row, kwargs_row

from service import OWNER_ROLE
from service.rules import SCOPES

KEY_PREFIX_LENGTH = 10  # "wk_" and 7 random characters: enough to tell keys apart in a listing

# the SQLSTATEs of db/errors.tsv that key management raises: a person's mistake, not a failure
_REJECTIONS = frozenset({"WKNAM", "WKDUP", "WKSCP", "WKNOF"})


class KeyRejectedError(Exception):
    """The database refused a key operation (bad name, name taken, bad scopes, unknown key)."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True, slots=True)
class NewKey:
    name: str
    key_prefix: str
    scopes: list[str]
    created_at: datetime
    key: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    key_prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


def generate_key() -> str:
    """A new key: 256 random bits, URL-safe, with a prefix that says what it is."""
    return "wk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    """The SHA-256 digest the database stores and the service compares: a key is never stored."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def _owner_connection(admin_url: str) -> psycopg.Connection[TupleRow]:
    conn = psycopg.connect(admin_url)
    conn.execute(f"SET ROLE {OWNER_ROLE}")
    return conn


@contextmanager
def _rejections() -> Iterator[None]:
    """Turns the database's refusals of key management into KeyRejectedError; other errors pass."""
    try:
        yield
    except psycopg.Error as exc:
        if exc.sqlstate not in _REJECTIONS:
            raise
        message = exc.diag.message_primary or str(exc)
        if exc.diag.message_hint:
            message += f" ({exc.diag.message_hint})"
        raise KeyRejectedError(exc.sqlstate, " ".join(message.split())) from None  # one line


def create_key(admin_url: str, name: str, scopes: list[str]) -> NewKey:
    """Registers a new key; raises KeyRejectedError for a bad or taken name or bad scopes."""
    key = generate_key()

    def new_key(**row: Any) -> NewKey:
        return NewKey(key=key, **row)

    with _owner_connection(admin_url) as conn, _rejections():
        row = (
            conn.cursor(row_factory=kwargs_row(new_key))
            .execute(
                "SELECT * FROM api.create_api_key(%s, %s, %s, %s)",
                (name, scopes, hash_key(key), key[:KEY_PREFIX_LENGTH]),
            )
            .fetchone()
        )
        conn.commit()  # the service hears of the key (NOTIFY wallet_api_keys) at this commit
    assert row is not None
    return row


def list_keys(admin_url: str) -> list[KeyInfo]:
    """Every key, revoked ones included, by name; never a key or its digest."""
    with _owner_connection(admin_url) as conn:
        cur = conn.cursor(row_factory=class_row(KeyInfo))
        return cur.execute("SELECT * FROM api.list_api_keys()").fetchall()


def revoke_key(admin_url: str, name: str) -> tuple[datetime, bool]:
    """Revokes a key: when it was revoked, and whether that was before this call."""
    with _owner_connection(admin_url) as conn, _rejections():
        row = conn.execute("SELECT api.revoke_api_key(%s), now()", (name,)).fetchone()
        conn.commit()
    assert row is not None
    revoked_at, now = row
    assert isinstance(revoked_at, datetime)
    return revoked_at, revoked_at != now


def is_active(admin_url: str, key: str, scopes: Sequence[str] = ()) -> bool:
    """Whether the key is active and holds `scopes` (and any others)."""
    with _owner_connection(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM api.active_api_keys() WHERE key_hash = %s AND scopes @> %s",
            (hash_key(key), list(scopes)),
        ).fetchone()
    return row is not None and row[0] == 1


def ensure_development_key(admin_url: str, path: Path) -> tuple[str, bool]:
    """The key kept in `path` (make run's development key, every scope): reused while it is
    active and holds every scope, else a new one is made and written there (mode 0600): a key
    kept from before a release added scopes is replaced. Returns it, and whether new."""
    if path.is_file():
        kept = path.read_text(encoding="utf-8").strip()
        if kept and is_active(admin_url, kept, SCOPES):
            return kept, False
    name = "dev-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    new = create_key(admin_url, name, list(SCOPES))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(new.key + "\n", encoding="utf-8")
    return new.key, True
