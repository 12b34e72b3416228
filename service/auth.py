"""API keys: `Authorization: Bearer <key>` checked against an in-memory copy of the active keys.

The copy costs no database call per request. It is reloaded whenever `wallet keys create` or
`revoke` notifies channel wallet_api_keys, and every few seconds besides (a notification can be
missed while the listening connection reconnects), so a revoked key stops working on every
worker within REFRESH_SECONDS, and almost always at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from service.keys import hash_key
from service.ledger import Ledger, LedgerUnavailableError
from service.sealer import SEALED_CHANNEL

log = logging.getLogger("wallet.auth")

REFRESH_SECONDS = 5.0
CHANNEL = "wallet_api_keys"


@dataclass(frozen=True, slots=True)
class ApiClient:
    name: str
    scopes: frozenset[str]

    @property
    def idempotency_scope(self) -> str:
        """The ledger's client id: idempotency keys are unique per API key name."""
        return f"api:{self.name}"


class KeyRing:
    def __init__(
        self, ledger: Ledger, listen_url: str, on_sealed: Callable[..., None] | None = None
    ) -> None:
        self._ledger = ledger
        self._listen_url = listen_url
        # the same listening connection carries the sealer's NOTIFY (service/sealer.py)
        self._on_sealed = on_sealed
        self._clients: dict[bytes, ApiClient] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.loaded = False

    def client(self, authorization: str | None) -> ApiClient | None:
        """The client whose key `Authorization: Bearer <key>` presents, if it is active."""
        if not authorization:
            return None
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer":
            return None
        return self._clients.get(hash_key(token.strip()))

    def client_of_hash(self, key_hash: bytes) -> ApiClient | None:
        """The client of the key with this hash, if it is active: the console's sessions keep
        the hash, never the key, and find their client again on every request, so that a
        revoked key's sessions end with it."""
        return self._clients.get(key_hash)

    async def reload(self) -> None:
        rows = await self._ledger.active_api_keys()
        self._clients = {row.key_hash: ApiClient(row.name, frozenset(row.scopes)) for row in rows}
        self.loaded = True

    async def start(self) -> None:
        with contextlib.suppress(LedgerUnavailableError):
            await self.reload()
        self._task = asyncio.create_task(self._keep_fresh(), name="wallet-keyring")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(5):
                    await self._task

    async def _keep_fresh(self) -> None:
        listener: asyncpg.Connection | None = None
        while True:
            try:
                if listener is None or listener.is_closed():
                    listener = await asyncpg.connect(self._listen_url, timeout=5)
                    await listener.add_listener(CHANNEL, lambda *_: self._changed.set())
                    if self._on_sealed is not None:
                        await listener.add_listener(SEALED_CHANNEL, self._on_sealed)
                    self._changed.set()  # changes made while not listening
                # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a
                # cancellation that arrives as the event is set, and shutdown would wait forever
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(REFRESH_SECONDS):
                        await self._changed.wait()
                self._changed.clear()
                await self.reload()
            except asyncio.CancelledError:
                if listener is not None:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(2):
                            await listener.close()
                raise
            except (TimeoutError, OSError, asyncpg.PostgresError, LedgerUnavailableError) as exc:
                # keep the last known keys; revocations need the database, which is down too
                log.warning("API keys not refreshed: %s", exc)
                listener = None
                await asyncio.sleep(1)
