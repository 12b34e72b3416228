"""The app's start-up and shutdown: bounded, also while API keys change all the time."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import asyncpg

from service.app import create_app
from service.config import Settings
from tests.conftest import asgi_lifespan


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
