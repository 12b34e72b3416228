"""The holds sweeper: releases expired holds (api.expire_holds) every WALLET_HOLD_SWEEP_SECONDS,
without anyone calling anything.

Every worker of every instance runs one, but one sweeps at a time: each sweep first takes a
PostgreSQL advisory lock on its own connection with pg_try_advisory_lock, and a sweeper that
does not get it skips that turn (it never waits). The lock is the sweeping session's: if the
process or its connection dies mid-sweep, PostgreSQL releases the lock with the session, the
sweep's uncommitted releases roll back, and the next sweeper's turn releases those holds once
(api.expire_holds locks each due hold with SKIP LOCKED and resolves it exactly once whoever
runs it).

The bound: the sweepers try every N seconds (N = WALLET_HOLD_SWEEP_SECONDS), so a hold is
released within about N seconds after its expiry, plus one sweep's run; until then it reads
open and capturing or voiding it is already 409 hold_expired. `wallet expire-holds` runs the
same sweep from a job (service/cli/expire_holds.py), for deployments that run the service with
WALLET_HOLD_SWEEP_SECONDS=0.
"""

from __future__ import annotations

import logging

import asyncpg

from service.background import BackgroundLoop
from service.config import Settings
from service.observability import HOLD_SWEEPS, HOLDS_EXPIRED
from service.rules import SWEEP_BATCH, SWEEP_LOCK

log = logging.getLogger("wallet.sweeper")


async def sweep(conn: asyncpg.Connection, batch: int = SWEEP_BATCH) -> int | None:
    """One sweep on `conn` under the sweep's advisory lock: how many holds it released, or None
    when another session holds the lock (it is sweeping now)."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *SWEEP_LOCK):
        return None
    try:
        released = 0
        while True:
            count: int = await conn.fetchval("SELECT api.expire_holds($1)", batch)
            released += count
            if count < batch:
                return released
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", *SWEEP_LOCK)


class HoldSweeper(BackgroundLoop):
    """The service's sweeper task (service/background.py): a sweep every
    WALLET_HOLD_SWEEP_SECONDS."""

    name = "wallet-service-sweeper"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.hold_sweep_seconds, log)
        self.sweeps = 0  # sweeps run by this sweeper (not those skipped), for tests and logs

    async def turn(self, conn: asyncpg.Connection) -> None:
        released = await sweep(conn)
        if released is None:
            HOLD_SWEEPS.labels("skipped").inc()
            return
        self.sweeps += 1
        HOLD_SWEEPS.labels("swept").inc()
        if released:
            HOLDS_EXPIRED.inc(released)
            log.info("expired holds released: %d", released)

    def failed(self, exc: Exception) -> None:
        # the next turn tries again on a fresh connection; the holds wait for it
        HOLD_SWEEPS.labels("failed").inc()
        log.warning("holds not swept: %s", exc)
