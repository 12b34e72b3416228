"""Tests talk to the real PostgreSQL (and Redis) that `make test` starts and migrates.

Connection strings come from the same configuration as the `wallet` command (WALLET_* variables,
then .env); `make test` exports those of its throwaway stack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.app import create_app
from service.config import Settings, load_settings
from service.keys import create_key
from tests.server import StartServer, server_starter


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()


async def _connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def service_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as wallet_service, the role of the HTTP service and of trusted jobs."""
    async for conn in _connection(settings.database_url):
        yield conn


@pytest.fixture
async def admin_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner or superuser, for what only the owner may do (tampering tests)."""
    async for conn in _connection(settings.admin_database_url):
        yield conn


@pytest.fixture
def unique() -> str:
    """A fresh suffix for user ids and keys, so tests never see each other's data."""
    return uuid.uuid4().hex[:12]


@asynccontextmanager
async def wallet_locked(
    conn: asyncpg.Connection, user_id: str, asset_id: str = "asset-gold-coin-001"
) -> AsyncIterator[None]:
    """Holds the user's wallet row FOR UPDATE in a transaction of `conn` until the block ends, as
    another session (an operator's psql, a stuck job) would."""
    holder = conn.transaction()
    await holder.start()
    try:
        await conn.execute(
            "SELECT 1 FROM ledger.wallets WHERE owner_id = $1 AND asset_id = $2 FOR UPDATE",
            user_id,
            asset_id,
        )
        yield
    finally:
        await holder.rollback()


async def blocked_backend(conn: asyncpg.Connection, within: float) -> int:
    """The pid of a backend waiting for a lock that `conn` holds, once there is one."""
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]"
    )
    deadline = time.monotonic() + within
    while not (pid := await conn.fetchval(waiting)):
        assert time.monotonic() < deadline, f"nothing waited for the lock within {within} s"
        await asyncio.sleep(0.01)
    blocked: int = pid
    return blocked


# ----------------------------------------------------------------------------------------------
# The HTTP app, in process, against the same PostgreSQL and Redis
# ----------------------------------------------------------------------------------------------
ALL_SCOPES = ["wallet:read", "wallet:topup", "wallet:bonus", "wallet:spend"]


@pytest.fixture
def new_key(settings: Settings, unique: str) -> Callable[..., str]:
    """Creates an API key (named after the test) and returns it; scopes default to all."""
    counter = iter(range(1000))

    def make(scopes: list[str] | None = None, name: str | None = None) -> str:
        key_name = name or f"test-{unique}-{next(counter)}"
        return create_key(settings.admin_database_url, key_name, scopes or ALL_SCOPES).key

    return make


@asynccontextmanager
async def running_app(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app as `wallet serve` builds it, started and stopped with its lifespan, in the test's
    own event loop (so concurrent requests really interleave); limits off unless overridden."""
    options: dict[str, Any] = {"rate_limit_general": None, "rate_limit_transactions": None}
    options.update(overrides)
    app = create_app(dataclasses.replace(settings, **options))
    async with asgi_lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://wallet.test") as client:
            yield client


@asynccontextmanager
async def asgi_lifespan(app: Any) -> AsyncIterator[None]:
    """Runs the ASGI lifespan protocol in a task of its own, as a server does (Litestar's
    lifespan keeps an anyio cancel scope that must be left in the task that entered it)."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def receive() -> dict[str, str]:
        return await inbox.get()

    async def send(message: dict[str, str]) -> None:
        await outbox.put(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), timeout=30)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), timeout=30)
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def api(settings: Settings, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app, started after the test's key exists (a key made later is seen within moments,
    on the NOTIFY that `wallet keys create` sends)."""
    async with running_app(settings) as client:
        yield client


@pytest.fixture
def key(new_key: Callable[..., str]) -> str:
    return new_key()


@pytest.fixture
def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# ----------------------------------------------------------------------------------------------
# `wallet serve`, the real server process (tests/server.py)
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Starts `wallet serve` processes (see server_starter); all are killed at the end."""
    with server_starter(tmp_path) as start:
        yield start
