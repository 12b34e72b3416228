"""The app's start-up and shutdown: bounded, also while API keys change all the time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import asyncpg

from service.config import Settings
from service.http.app import create_app
from service.ledger import Ledger
from tests.support import asgi_lifespan, running_app


async def test_shutdown_is_prompt_while_key_notifications_keep_arriving(
    settings: Settings,
) -> None:
    """A notification arriving as shutdown cancels the key refresher once made the cancellation
    vanish (asyncio.wait_for in Python 3.11) and shutdown wait forever: 11 hangs in 60 cycles
    like these before the fix."""
    quiet = dataclasses.replace(settings, rate_limit_general=None, rate_limit_transactions=None)
    stop = asyncio.Event()

    async def notify_continuously() -> None:
        conn = await asyncpg.connect(settings.admin_database_url)
        try:
            while not stop.is_set():
                await conn.execute("SELECT pg_notify('wallet_api_keys', 'test')")
                await asyncio.sleep(0.001)
        finally:
            await conn.close()

    notifier = asyncio.create_task(notify_continuously())
    slowest = 0.0
    try:
        for cycle in range(25):
            app = create_app(quiet)
            async with asgi_lifespan(app):
                await asyncio.sleep(0.05 + (cycle % 7) * 0.013)
                started = time.monotonic()
            slowest = max(slowest, time.monotonic() - started)
    finally:
        stop.set()
        await notifier
    assert slowest < 5, f"a shutdown took {slowest:.1f} s"
    print(f"\n25 start-ups and shutdowns under notifications: slowest shutdown {slowest:.2f} s")


async def test_statement_cache_size_0_names_no_prepared_statement(settings: Settings) -> None:
    """WALLET_DB_STATEMENT_CACHE_SIZE=0 is what a PgBouncer older than 1.21 in transaction mode
    needs: no named statement outlives its transaction (unnamed ones are not listed)."""
    named = {}
    for size in (0, 100):
        ledger = Ledger(dataclasses.replace(settings, db_pool_size=1, db_statement_cache_size=size))
        await ledger.open()
        try:
            await ledger.balances("user-rich-001", None)
            await ledger.active_api_keys()
            async with ledger._connection() as conn:
                named[size] = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements")
        finally:
            await ledger.close()
    assert named[0] == 0
    assert named[100] >= 2


async def test_api_keys_are_listened_for_on_wallet_listen_database_url(
    settings: Settings, admin_conn: asyncpg.Connection, new_key: Callable[..., str], unique: str
) -> None:
    """Behind a pooler in transaction mode LISTEN needs a connection straight to PostgreSQL."""
    listener = f"wallet-listener-{unique}"
    separator = "&" if "?" in settings.database_url else "?"
    url = f"{settings.database_url}{separator}application_name={listener}"
    async with running_app(settings, listen_database_url=url) as client:
        for _ in range(100):  # the refresher connects in a task of its own
            sessions = await admin_conn.fetch(
                "SELECT query FROM pg_stat_activity WHERE application_name = $1", listener
            )
            if sessions and sessions[0]["query"].startswith("LISTEN"):
                break
            await asyncio.sleep(0.05)
        assert len(sessions) == 1
        assert sessions[0]["query"].startswith("LISTEN")
        # a new key is seen within moments, on that connection's NOTIFY (well before the
        # periodic refresh of every REFRESH_SECONDS)
        key = new_key(["wallet:read"])
        started = time.monotonic()
        while time.monotonic() - started < 2:
            answer = await client.get(
                "/api/v1/wallet/user-rich-001/balance", headers={"Authorization": f"Bearer {key}"}
            )
            if answer.status_code == 200:
                break
            await asyncio.sleep(0.02)
        assert answer.status_code == 200
