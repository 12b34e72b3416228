"""The holds' sweeper (service/sweeper.py) through faults: `wallet serve` killed with SIGKILL in the
middle of a sweep, and PostgreSQL restarted while holds fall due. Whatever is cut, each due hold
is released exactly once (one release transaction of client ledger:expiry, its amount back to
the user once), within the documented bound once the service and the database are up again
(WALLET_HOLD_SWEEP_SECONDS after expiry, plus a sweep's run and, after a restart, a reconnection).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import asyncpg

from service.config import Settings
from tests.faults.conftest import FULL, ServeLoaded, Stack, report
from tests.support import GOLD, wait_until

# Enough due holds that one sweep runs for a while (1,000 per call of api.expire_holds)
HOLDS_AT_THE_KILL = 6000 if FULL else 3000
HOLDS_AT_THE_RESTART = 400 if FULL else 100
SWEEP_SECONDS = "1"
DOWN_SECONDS = 3.0 if FULL else 1.5


async def _authorize_holds(conn: asyncpg.Connection, user: str, count: int, expiry: str) -> None:
    """`count` holds of 1.00 for a user funded with exactly that, in one transaction (a DO loop:
    thousands in a second or two)."""
    await conn.execute(
        f"""DO $$ BEGIN
              PERFORM api.topup('{user}', '{GOLD}', {count}, 'fund-{user}');
              FOR i IN 1..{count} LOOP
                  PERFORM api.authorize_hold('{user}', '{GOLD}', 1.00, 'a match',
                                             'hold-{user}-' || i, interval '{expiry}');
              END LOOP;
            END $$"""
    )


async def _released(conn: asyncpg.Connection, user: str) -> tuple[int, int, Decimal, Decimal]:
    """(holds expired, release transactions of the sweep for them, balance, held) of `user`."""
    expired = await conn.fetchval(
        "SELECT count(*) FROM ledger.holds WHERE user_id = $1 AND status = 'expired'", user
    )
    releases = await conn.fetchval(
        "SELECT count(*) FROM ledger.transactions AS t JOIN ledger.holds AS h"
        " ON t.client_id = 'ledger:expiry' AND t.idempotency_key = 'expire:' || h.id"
        " WHERE h.user_id = $1",
        user,
    )
    row = await conn.fetchrow("SELECT balance, held FROM api.balances($1, $2)", user, GOLD)
    return expired, releases, row["balance"], row["held"]


async def _books_balance(conn: asyncpg.Connection) -> None:
    failed = await conn.fetch("SELECT check_name FROM api.reconcile() WHERE NOT ok")
    assert failed == [], failed


async def test_a_sweep_cut_by_sigkill_releases_each_hold_once_after_the_restart(
    serve: ServeLoaded, admin_conn: asyncpg.Connection
) -> None:
    user = f"sweep-kill-{uuid.uuid4().hex[:8]}"
    await _authorize_holds(admin_conn, user, HOLDS_AT_THE_KILL, "1 second")
    await asyncio.sleep(1.1)  # all due; no sweeper has run yet
    server = serve(WALLET_HOLD_SWEEP_SECONDS=SWEEP_SECONDS)

    async def sweeping() -> bool:
        return bool(
            await admin_conn.fetchval(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity"
                " WHERE application_name = 'wallet-service-sweeper' AND state = 'active'"
                " AND query LIKE '%expire_holds%'"
            )
        )

    try:
        await wait_until(sweeping, 30, "a sweep running")
        await asyncio.to_thread(server.kill)
    finally:
        await asyncio.to_thread(server.kill)
    # the killed sweep's session ends (its call rolled back or committed whole, never in part)
    await wait_until(
        lambda: _no_sweeper_session(admin_conn), 30, "the killed sweeper's session gone"
    )
    at_kill = await _released(admin_conn, user)
    expired, releases, balance, held = at_kill
    assert expired == releases, "a hold marked expired without its release, or the reverse"
    assert balance + held == HOLDS_AT_THE_KILL, "money lost or doubled by the kill"
    assert expired < HOLDS_AT_THE_KILL, "the kill came after the whole sweep: it proved nothing"
    await _books_balance(admin_conn)

    restarted = time.monotonic()
    server = serve(WALLET_HOLD_SWEEP_SECONDS=SWEEP_SECONDS)
    try:

        async def all_released() -> bool:
            return (await _released(admin_conn, user))[0] == HOLDS_AT_THE_KILL

        took = await wait_until(all_released, 60, "every due hold released")
    finally:
        server.stop()
    expired, releases, balance, held = await _released(admin_conn, user)
    assert (expired, releases, balance, held) == (
        HOLDS_AT_THE_KILL, HOLDS_AT_THE_KILL, Decimal(HOLDS_AT_THE_KILL), Decimal(0)
    )  # fmt: skip
    await _books_balance(admin_conn)
    report(
        f"faults sweeper sigkill: {HOLDS_AT_THE_KILL} due holds, {at_kill[0]} released before"
        f" the kill mid-sweep, the rest once each within {took:.1f} s of the restart"
        f" ({time.monotonic() - restarted:.1f} s with the server's start)"
    )


async def _no_sweeper_session(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity"
        " WHERE application_name = 'wallet-service-sweeper'"
    )


async def test_postgres_down_while_holds_fall_due_they_are_released_once_when_it_is_back(
    serve: ServeLoaded, stack: Stack, settings: Settings
) -> None:
    """(Connections of its own: the restart breaks any made before it.)"""
    user = f"sweep-pg-{uuid.uuid4().hex[:8]}"
    server = serve(WALLET_HOLD_SWEEP_SECONDS=SWEEP_SECONDS)
    try:
        before = await asyncpg.connect(settings.admin_database_url)
        try:
            await _authorize_holds(before, user, HOLDS_AT_THE_RESTART, "2 seconds")
        finally:
            await before.close()
        await stack.stop("postgres-crash")  # the sweepers' sessions die with it
        await asyncio.sleep(DOWN_SECONDS)  # the holds fall due meanwhile
        await stack.start()
        back = time.monotonic()
        conn = await asyncpg.connect(settings.admin_database_url)
        try:

            async def all_released() -> bool:
                return (await _released(conn, user))[0] == HOLDS_AT_THE_RESTART

            took = await wait_until(all_released, 30, "every due hold released")
            expired, releases, balance, held = await _released(conn, user)
            await _books_balance(conn)
        finally:
            await conn.close()
    finally:
        server.stop()
    assert (expired, releases, balance, held) == (
        HOLDS_AT_THE_RESTART, HOLDS_AT_THE_RESTART, Decimal(HOLDS_AT_THE_RESTART), Decimal(0)
    )  # fmt: skip
    # the bound: a sweeper retries every WALLET_HOLD_SWEEP_SECONDS on a fresh connection
    assert took < float(SWEEP_SECONDS) + 5.0, took
    report(
        f"faults sweeper postgres: {HOLDS_AT_THE_RESTART} holds fell due while PostgreSQL was down"
        f" {DOWN_SECONDS} s; released once each {took:.1f} s after it was back"
        f" ({time.monotonic() - back:.1f} s)"
    )
