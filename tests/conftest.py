"""Tests talk to the real PostgreSQL (and Redis) that `make test` starts and migrates.

Connection strings come from the same configuration as the `wallet` command (WALLET_* variables,
then .env); `make test` exports those of its throwaway stack.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.config import Settings, load_settings


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
