"""A task of the service's own that runs every few seconds on a connection of its own (the holds'
sweeper, the sealer): started and stopped by the app's lifespan, its connection made on first use
and again after any failure, a failure logged and counted and the next turn tried anyway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

import asyncpg

from service.config import Settings


class BackgroundLoop(ABC):
    """Calls `turn` every `interval` seconds (none when it is 0) on its own connection, as the
    service's login: straight to PostgreSQL where a pooler stands in front of it
    (WALLET_LISTEN_DATABASE_URL, docs/operations.md), since a turn may hold a session's lock."""

    name = "wallet-background"

    def __init__(self, settings: Settings, interval: float, log: logging.Logger) -> None:
        self._settings = settings
        self._interval = interval
        self._log = log
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def turn(self, conn: asyncpg.Connection) -> None:
        """One turn's work on `conn`; raising counts as a failed turn."""

    def failed(self, exc: Exception) -> None:
        """A turn raised `exc`: the next one tries again on a fresh connection."""
        self._log.warning("%s: turn failed: %s", self.name, exc)

    async def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(5):
                    await self._task
            self._task = None
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # never waits; PostgreSQL releases a session's locks with it

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            s = self._settings
            self._conn = await asyncpg.connect(
                s.listen_database_url or s.database_url,
                timeout=5,
                statement_cache_size=0,
                server_settings={
                    "statement_timeout": str(s.statement_timeout_ms),
                    "lock_timeout": str(s.lock_timeout_ms),
                    "application_name": self.name,
                },
            )
        return self._conn

    async def _run(self) -> None:
        while True:
            try:
                await self.turn(await self._connection())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (the task must outlive any failure)
                self.failed(exc)
                await self._close()
            await asyncio.sleep(self._interval)
