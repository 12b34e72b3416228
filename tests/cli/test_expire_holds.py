"""`wallet expire-holds`: one sweep of the expired holds from a job, as wallet_job, under the
sweepers' advisory lock."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from service.rules import SWEEP_LOCK
from tests.cli.test_cli import wallet
from tests.support import GOLD


async def due_hold(conn: asyncpg.Connection, user: str, key: str) -> int:
    """A hold of 4.00 of `user`'s 10.00 gold coins, past its expiry of 1 second."""
    await conn.execute("SELECT api.topup($1, $2, 10, $3)", user, GOLD, f"top-{key}")
    hold: int = await conn.fetchval(
        "SELECT hold_id FROM api.authorize_hold($1, $2, 4, 'Entry fee', $3, '1 second')",
        user, GOLD, key,
    )  # fmt: skip
    await asyncio.sleep(1.1)
    return hold


async def test_expire_holds_releases_the_due_holds(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    user = f"u-{unique}"
    hold = await due_hold(service_conn, user, f"cli-{unique}")
    result = await asyncio.to_thread(wallet, "expire-holds")
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"expired holds released: (\d+)\n", result.stdout)
    assert match and int(match[1]) >= 1, result.stdout
    row = await service_conn.fetchrow("SELECT status::text, released FROM api.get_hold($1)", hold)
    assert (row["status"], str(row["released"])) == ("expired", "4.00")
    balance = await service_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert str(balance) == "10.00"
    again = await asyncio.to_thread(wallet, "expire-holds")
    assert again.returncode == 0 and again.stdout == "expired holds released: 0\n", again.stdout


async def test_expire_holds_skips_while_a_sweep_runs_elsewhere(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    user = f"u-{unique}"
    hold = await due_hold(service_conn, user, f"cli-{unique}")
    assert await service_conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *SWEEP_LOCK)
    try:
        result = await asyncio.to_thread(wallet, "expire-holds")
    finally:
        await service_conn.execute("SELECT pg_advisory_unlock($1, $2)", *SWEEP_LOCK)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "another sweep is running now: nothing done\n"
    status = await service_conn.fetchval("SELECT status::text FROM api.get_hold($1)", hold)
    assert status == "open"
