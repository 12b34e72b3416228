"""Interleavings one pgTAP session cannot show: many sessions racing on the same rows.

Every call runs on its own connection as wallet_job, a trusted job: the calls name no client, which
the HTTP service's login (wallet_service) never does. None may fail with a deadlock (40P01)
or a serialization failure (40001): the SQL API takes its locks in one global order and never
relies on retries.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from service.config import Settings

GOLD = "asset-gold-coin-001"
ASSETS = ["asset-gold-coin-001", "asset-diamond-001", "asset-loyalty-001"]
RETRY_STATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _job_url(settings: Settings) -> str:
    """WALLET_DATABASE_URL with the jobs' login, wallet_job, for the service's (the local stacks
    trust logins from loopback, so no password is needed)."""
    parts = urlsplit(settings.database_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"wallet_job@{host}"))


@pytest.fixture
async def job_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(_job_url(settings))
    try:
        yield conn
    finally:
        await conn.close()


async def _connections(settings: Settings, n: int) -> list[asyncpg.Connection]:
    return list(await asyncio.gather(*(asyncpg.connect(_job_url(settings)) for _ in range(n))))


async def _close(conns: list[asyncpg.Connection]) -> None:
    await asyncio.gather(*(c.close() for c in conns))


async def _reconcile_failures(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return [r for r in await conn.fetch("SELECT * FROM api.reconcile()") if not r["ok"]]


async def test_200_concurrent_spends_of_1_from_50_give_exactly_50_successes(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    user = f"race-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 50.00, $3)", user, GOLD, f"fund-{unique}"
    )
    conns = await _connections(settings, 200)
    start = asyncio.Event()

    async def spend(conn: asyncpg.Connection, i: int) -> str:
        await start.wait()
        try:
            await conn.fetchrow(
                "SELECT * FROM api.spend($1, $2, 1.00, 'potion', $3)", user, GOLD, f"s-{unique}-{i}"
            )
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate)
        return "ok"

    try:
        tasks = [asyncio.create_task(spend(c, i)) for i, c in enumerate(conns)]
        await asyncio.sleep(0.05)
        start.set()
        outcomes = await asyncio.gather(*tasks)
    finally:
        await _close(conns)

    assert outcomes.count("ok") == 50
    assert outcomes.count("WFUND") == 150
    assert not RETRY_STATES & set(outcomes)
    row = await job_conn.fetchrow("SELECT * FROM api.balances($1, $2)", user, GOLD)
    assert row["balance"] == Decimal("0.00")
    assert str(row["balance"]) == "0.00"
    assert row["version"] == 51  # the funding top-up and 50 spends, nothing else
    assert await _reconcile_failures(job_conn) == []


async def test_one_key_raced_by_30_sessions_makes_one_transaction(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    user = f"dup-{unique}"
    conns = await _connections(settings, 30)
    try:
        rows = await asyncio.gather(
            *(
                c.fetchrow(
                    "SELECT * FROM api.topup($1, $2, 7.00, $3)", user, GOLD, f"same-{unique}"
                )
                for c in conns
            )
        )
    finally:
        await _close(conns)
    assert len({r["transaction_id"] for r in rows}) == 1
    assert sum(not r["replayed"] for r in rows) == 1
    assert {r["balance"] for r in rows} == {Decimal("7.00")}
    balance = await job_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert balance == Decimal("7.00")


async def test_mixed_concurrent_traffic_on_all_assets_leaves_the_books_balanced(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    users = [f"mix-{unique}-{i}" for i in range(25)]
    sessions, calls_each = 40, 60
    rng = random.Random(unique)
    conns = await _connections(settings, sessions)
    acknowledged: list[tuple[int, str, str, str, Decimal]] = []
    errors: list[str] = []

    async def worker(conn: asyncpg.Connection, w: int) -> None:
        for i in range(calls_each):
            user, asset = rng.choice(users), rng.choice(ASSETS)
            amount = Decimal(rng.randint(1, 2000)) / 100
            key = f"mix-{unique}-{w}-{i}"
            kind = rng.choice(["topup", "bonus", "spend", "spend"])
            try:
                if kind == "topup":
                    sql = "SELECT * FROM api.topup($1, $2, $3, $4)"
                    row = await conn.fetchrow(sql, user, asset, amount, key)
                elif kind == "bonus":
                    sql = "SELECT * FROM api.grant_bonus($1, $2, $3, 'streak', $4)"
                    row = await conn.fetchrow(sql, user, asset, amount, key)
                else:
                    sql = "SELECT * FROM api.spend($1, $2, $3, 'item', $4)"
                    row = await conn.fetchrow(sql, user, asset, amount, key)
            except asyncpg.PostgresError as exc:
                errors.append(str(exc.sqlstate))
                continue
            acknowledged.append((row["transaction_id"], kind, user, asset, amount))

    try:
        await asyncio.gather(*(worker(c, w) for w, c in enumerate(conns)))
    finally:
        await _close(conns)

    assert set(errors) <= {"WFUND"}, f"unexpected errors: {set(errors)}"
    assert len(acknowledged) + len(errors) == sessions * calls_each
    assert len({tx for tx, *_ in acknowledged}) == len(acknowledged)

    # Every acknowledged transaction is in the ledger once, as acknowledged; each user's balance
    # is exactly what the acknowledged calls add up to.
    expected: dict[tuple[str, str], Decimal] = {}
    for tx, kind, user, asset, amount in acknowledged:
        stored = await job_conn.fetchrow("SELECT * FROM api.get_transaction($1)", tx)
        assert (stored["type"], stored["user_id"], stored["asset_id"], stored["amount"]) == (
            kind,
            user,
            asset,
            amount,
        )
        sign = -1 if kind == "spend" else 1
        expected[(user, asset)] = expected.get((user, asset), Decimal(0)) + sign * amount
    for (user, asset), total in expected.items():
        balance = await job_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, asset)
        assert balance == total
    assert await _reconcile_failures(job_conn) == []


@pytest.mark.parametrize("kind", ["topup", "spend"])
async def test_sessions_crossing_wallets_in_opposite_orders_never_deadlock(
    settings: Settings, job_conn: asyncpg.Connection, unique: str, kind: str
) -> None:
    """Each session works through the same users in its own order: the classic deadlock recipe."""
    users = [f"order-{kind}-{unique}-{i}" for i in range(6)]
    for u in users:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 100.00, $3)", u, GOLD, f"fund-{u}")
    conns = await _connections(settings, 12)

    async def worker(conn: asyncpg.Connection, w: int) -> list[str]:
        order = users if w % 2 else list(reversed(users))
        states = []
        for n in range(5):
            for u in order:
                key = f"{kind}-{u}-{w}-{n}"
                try:
                    if kind == "topup":
                        await conn.fetchrow(
                            "SELECT * FROM api.topup($1, $2, 1.00, $3)", u, GOLD, key
                        )
                    else:
                        await conn.fetchrow(
                            "SELECT * FROM api.spend($1, $2, 1.00, 'x', $3)", u, GOLD, key
                        )
                except asyncpg.PostgresError as exc:
                    states.append(str(exc.sqlstate))
        return states

    try:
        results = await asyncio.gather(*(worker(c, w) for w, c in enumerate(conns)))
    finally:
        await _close(conns)
    assert [s for states in results for s in states] == []
    expected = Decimal("160.00") if kind == "topup" else Decimal("40.00")  # 100 +/- 12*5*1
    for u in users:
        assert (
            await job_conn.fetchval("SELECT balance FROM api.balances($1, $2)", u, GOLD) == expected
        )
    assert await _reconcile_failures(job_conn) == []
