"""`wallet keys create|list|revoke` against the test stack, and what the service sees of it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from service.config import Settings
from service.keys import ensure_development_key, generate_key, hash_key, is_active
from service.rules import SCOPES
from tests.support import ROOT


def wallet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=os.environ.copy() if env is None else env,
    )


def create(name: str, scopes: str = "wallet:read") -> str:
    """Creates a key with the command and returns the key, the last line of its output."""
    result = wallet("keys", "create", "--name", name, "--scopes", scopes)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


async def _active(conn: asyncpg.Connection, name: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM api.active_api_keys() WHERE name = $1", name)


def test_a_key_is_wk_and_256_random_bits_and_is_stored_as_its_sha256() -> None:
    key = generate_key()
    assert key.startswith("wk_") and len(key) == 46 and key != generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).digest()
    assert SCOPES == (
        "wallet:read",
        "wallet:topup",
        "wallet:bonus",
        "wallet:spend",
        "wallet:audit",
        "wallet:transfer",
        "wallet:refund",
        "wallet:hold",
        "wallet:batch",
        "wallet:events",
    )


async def test_create_prints_the_key_last_and_the_service_sees_its_digest_and_scopes(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    name = f"cli-{unique}"
    result = wallet("keys", "create", "--name", name, "--scopes", "wallet:spend, wallet:read")
    assert result.returncode == 0, result.stderr
    *about, key = result.stdout.splitlines()
    assert key.startswith("wk_") and key.strip() == key
    assert all(key not in line for line in about)
    assert "store it now: it cannot be shown again" in about
    assert any(name in line for line in about)
    rows = await _active(service_conn, name)
    assert [(r["key_hash"], r["scopes"]) for r in rows] == [
        (hashlib.sha256(key.encode()).digest(), ["wallet:read", "wallet:spend"])
    ]


def test_list_shows_name_prefix_and_scopes_and_never_the_key_or_its_digest(unique: str) -> None:
    name = f"cli-list-{unique}"
    key = create(name, "wallet:topup,wallet:bonus")
    result = wallet("keys", "list")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["name", "prefix", "scopes", "created", "revoked"]
    [line] = [line for line in lines if line.startswith(name + " ")]
    assert line.split()[:3] == [name, key[:10], "wallet:bonus,wallet:topup"]
    assert line.endswith("  -")  # not revoked
    assert key not in result.stdout
    assert hash_key(key).hex() not in result.stdout


async def test_revoke_removes_the_key_from_the_active_keys(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    name = f"cli-revoke-{unique}"
    create(name)
    assert len(await _active(service_conn, name)) == 1
    result = wallet("keys", "revoke", name)
    assert result.returncode == 0, result.stderr
    assert f"API key {name} revoked at " in result.stdout
    assert await _active(service_conn, name) == []
    again = wallet("keys", "revoke", name)
    assert again.returncode == 0, again.stderr
    assert f"API key {name} was already revoked at " in again.stdout
    [line] = [line for line in wallet("keys", "list").stdout.splitlines() if line.startswith(name)]
    assert not line.endswith("  -")


def test_a_name_already_used_is_api_key_name_taken_with_exit_status_1(unique: str) -> None:
    name = f"cli-dup-{unique}"
    create(name)
    result = wallet("keys", "create", "--name", name, "--scopes", "wallet:read")
    assert result.returncode == 1
    assert result.stdout == ""  # no key printed for a key that does not exist
    assert result.stderr.strip().splitlines() == [
        f"wallet keys create: an API key named '{name}' exists already"
        " (names are never reused, not even after a revocation: choose another)"
    ]
    assert wallet("keys", "revoke", name).returncode == 0
    after_revoke = wallet("keys", "create", "--name", name, "--scopes", "wallet:read")
    assert after_revoke.returncode == 1
    assert "exists already" in after_revoke.stderr


async def test_an_unknown_scope_is_invalid_api_key_scopes_with_exit_status_1(
    admin_conn: asyncpg.Connection, unique: str
) -> None:
    name = f"cli-scope-{unique}"
    for scopes in ("wallet:read,wallet:admin", "", " , "):
        result = wallet("keys", "create", "--name", name, "--scopes", scopes)
        assert result.returncode == 1, scopes
        assert result.stdout == ""
        assert result.stderr.startswith("wallet keys create: invalid scopes ")
        assert (
            "give one or more of wallet:audit, wallet:batch, wallet:bonus, wallet:events, "
            "wallet:hold, wallet:read, wallet:refund, wallet:spend, wallet:topup, wallet:transfer)"
            in result.stderr
        )
        assert len(result.stderr.strip().splitlines()) == 1
    assert await admin_conn.fetch("SELECT * FROM ledger.api_keys WHERE name = $1", name) == []


def test_a_bad_name_is_invalid_api_key_name_with_exit_status_1(unique: str) -> None:
    for name in (f"cli bad {unique}", f"api:{unique}", "x" * 65):
        result = wallet("keys", "create", "--name", name, "--scopes", "wallet:read")
        assert result.returncode == 1, name
        assert result.stdout == ""
        assert result.stderr.startswith("wallet keys create: invalid API key name ")
        assert len(result.stderr.strip().splitlines()) == 1


def test_revoking_an_unknown_name_is_api_key_not_found_with_exit_status_1(unique: str) -> None:
    result = wallet("keys", "revoke", f"cli-nobody-{unique}")
    assert result.returncode == 1
    assert result.stderr.strip() == f"wallet keys revoke: no API key is named 'cli-nobody-{unique}'"


def test_keys_with_postgresql_unreachable_exit_with_status_2() -> None:
    env = dict(os.environ, WALLET_ADMIN_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    result = wallet("keys", "list", env=env)
    assert result.returncode == 2
    assert "cannot reach PostgreSQL" in result.stderr


async def test_creating_and_revoking_a_key_notify_the_listening_service(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    """The service reloads its keys on NOTIFY wallet_api_keys: it needs no privilege to listen."""
    name = f"cli-notify-{unique}"
    heard: asyncio.Queue[str] = asyncio.Queue()

    def on_notify(_conn: object, _pid: int, channel: str, payload: str) -> None:
        if channel == "wallet_api_keys" and payload == name:  # other tests make keys too
            heard.put_nowait(payload)

    await service_conn.add_listener("wallet_api_keys", on_notify)
    try:
        await asyncio.to_thread(create, name)
        assert await asyncio.wait_for(heard.get(), timeout=10) == name
        revoked = await asyncio.to_thread(wallet, "keys", "revoke", name)
        assert revoked.returncode == 0, revoked.stderr
        assert await asyncio.wait_for(heard.get(), timeout=10) == name
    finally:
        await service_conn.remove_listener("wallet_api_keys", on_notify)


def test_the_development_key_is_replaced_when_it_lacks_a_scope(
    settings: Settings, tmp_path: Path, unique: str
) -> None:
    """make run keeps its key in .local/dev-api-key; one made before a release added scopes
    (wallet:transfer, wallet:refund) would answer 403 on the new routes."""
    kept = tmp_path / "dev-api-key"
    old = create(f"cli-dev-{unique}", "wallet:read,wallet:topup,wallet:bonus,wallet:spend")
    kept.write_text(old + "\n", encoding="utf-8")
    key, made = ensure_development_key(settings.admin_database_url, kept)
    assert made and key != old and kept.read_text(encoding="utf-8").strip() == key
    assert is_active(settings.admin_database_url, key, SCOPES)
    assert ensure_development_key(settings.admin_database_url, kept) == (key, False)
