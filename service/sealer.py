"""The sealer: seals what the ledger committed (api.seal: a sequence in one gap-free order and a
chained SHA-256 hash per transaction, db/functions/27_seal.sql) every WALLET_SEAL_INTERVAL_MS,
without anyone calling anything.

Every worker of every instance runs one; api.seal lets one pass at a time (the others find the
sealer's row locked and skip their turn), so no transaction is sealed twice or skipped, whoever
seals. A pass seals up to SEAL_BATCH and the sealer calls it again while a pass fills it, so a
backlog (after a pause, or the rows from before the seal) drains at once. After a pass that
sealed anything it sends one NOTIFY on the channel wallet_sealed, with the chain's new head, for
the event stream's long-pollers: one per pass, never one per posting. `wallet seal` runs the same
passes from a job, for deployments that run the service with WALLET_SEAL_INTERVAL_MS=0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from service.background import BackgroundLoop
from service.config import Settings
from service.observability import SEAL_OLDEST_UNSEALED, SEAL_PASSES, SEAL_UNSEALED, SEALED
from service.rules import SEAL_BATCH

log = logging.getLogger("wallet.sealer")

# The channel of the one NOTIFY per pass that sealed anything (payload: the last sequence)
SEALED_CHANNEL = "wallet_sealed"


async def seal(conn: asyncpg.Connection, batch: int = SEAL_BATCH) -> int | None:
    """Seal what is committed, on `conn`: how many transactions it sealed, or None when another
    session was sealing (its turn)."""
    sealed = 0
    while True:
        # the pass and its NOTIFY in one statement: one transaction, sent at its commit
        row = await conn.fetchrow(
            "SELECT s.sealed, s.busy, CASE WHEN s.sealed > 0"
            " THEN pg_notify($2, s.last_sequence::text) END FROM api.seal($1) AS s",
            batch,
            SEALED_CHANNEL,
        )
        assert row is not None
        if row["busy"]:
            return None if sealed == 0 else sealed
        sealed += int(row["sealed"])
        # counted as each pass commits: a turn cut after some passes (PostgreSQL restarted in the
        # middle of a backlog) has sealed them all the same (tests/faults/test_sealer.py)
        SEALED.inc(int(row["sealed"]))
        if row["sealed"] < batch:
            return sealed


class Sealer(BackgroundLoop):
    """The service's sealer task (service/background.py): a pass every WALLET_SEAL_INTERVAL_MS."""

    name = "wallet-service-sealer"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.seal_interval_ms / 1000, log)
        self.passes = 0  # passes that ran (not those skipped), for tests and logs

    async def turn(self, conn: asyncpg.Connection) -> None:
        sealed = await seal(conn)
        if sealed is None:
            SEAL_PASSES.labels("busy").inc()
        else:
            self.passes += 1
            SEAL_PASSES.labels("sealed").inc()
        # every worker reads what is left, sealer or not, so that /metrics is fresh whoever sealed
        status = await conn.fetchrow(
            "SELECT unsealed, coalesce(extract(epoch FROM now() - oldest_unsealed_at), 0) AS age"
            " FROM api.seal_status()"
        )
        assert status is not None
        SEAL_UNSEALED.set(status["unsealed"])
        SEAL_OLDEST_UNSEALED.set(float(status["age"]))

    def failed(self, exc: Exception) -> None:
        SEAL_PASSES.labels("failed").inc()
        log.warning("not sealed: %s", exc)


class SealedSignal:
    """Wakes the event stream's long-pollers of this process when a NOTIFY wallet_sealed arrives
    (the key ring's listening connection calls notify): each waiter waits on the event current
    when it started, and notify sets it and puts a fresh one in its place."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self, *_: object) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seconds: float) -> None:
        """Until the next notify, or `seconds`, whichever comes first."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
