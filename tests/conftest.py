"""The fixtures. Tests talk to the real PostgreSQL (and Redis) that `make test` starts and
migrates; what they share besides fixtures is in tests/support.py.

Connection strings come from the same configuration as the `wallet` command (WALLET_* variables,
then .env); `make test` exports those of its throwaway stack.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.config import Settings, load_settings
from service.keys import create_key
from tests.support import ALL_SCOPES, StartServer, running_app, server_starter


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
    """A connection as wallet_service, the HTTP service's login (jobs log in as wallet_job)."""
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


# ----------------------------------------------------------------------------------------------
# The HTTP app, in process, against the same PostgreSQL and Redis
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def new_key(settings: Settings, unique: str) -> Callable[..., str]:
    """Creates an API key (named after the test) and returns it; scopes default to all."""
    counter = iter(range(1000))

    def make(scopes: list[str] | None = None, name: str | None = None) -> str:
        key_name = name or f"test-{unique}-{next(counter)}"
        return create_key(settings.admin_database_url, key_name, scopes or ALL_SCOPES).key

    return make


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
# `wallet serve`, the real server process (tests/support.py)
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Starts `wallet serve` processes (see server_starter); all are killed at the end."""
    with server_starter(tmp_path) as start:
        yield start
