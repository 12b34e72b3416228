"""Interleavings one pgTAP session cannot show: many sessions racing on the same rows.

Every call runs on its own connection as wallet_job, a trusted job: the calls name no client, which
the HTTP service's login (wallet_service) never does. None may fail with a deadlock (40P01)
or a serialization failure (40001): the SQL API takes its locks in one global order and never
relies on retries.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from service.config import Settings, job_database_url

GOLD = "asset-gold-coin-001"
ASSETS = ["asset-gold-coin-001", "asset-diamond-001", "asset-loyalty-001"]
RETRY_STATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


@pytest.fixture
async def job_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(job_database_url(settings))
    try:
        yield conn
    finally:
        await conn.close()


async def _connections(settings: Settings, n: int) -> list[asyncpg.Connection]:
    url = job_database_url(settings)
    return list(await asyncio.gather(*(asyncpg.connect(url) for _ in range(n))))


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


async def _run_queue(
    conns: list[asyncpg.Connection], calls: list[tuple[str, tuple[object, ...]]]
) -> list[str]:
    """Every call once, spread over the connections as they free up; each failure's SQLSTATE."""
    queue: asyncio.Queue[tuple[str, tuple[object, ...]]] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)
    failures: list[str] = []

    async def worker(conn: asyncpg.Connection) -> None:
        while not queue.empty():
            sql, args = queue.get_nowait()
            try:
                await conn.fetchrow(sql, *args)
            except asyncpg.PostgresError as exc:
                failures.append(str(exc.sqlstate))

    # a lock-order bug shows as deadlocks, each detected after deadlock_timeout (1 s): bound the
    # run so that such a bug fails the test instead of stalling it for many minutes
    await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), timeout=60)
    return failures


async def _shuffled_with_spends_and_topups(
    settings: Settings,
    calls: list[tuple[str, tuple[object, ...]]],
    users: tuple[str, ...],
    each: int,
    unique: str,
) -> list[str]:
    """`calls` with `each` spends and `each` top-ups of 1.00 on every user, shuffled and run over
    32 connections (_run_queue); each failure's SQLSTATE."""
    calls = list(calls)
    for u in users:
        calls += [
            ("SELECT * FROM api.spend($1, $2, 1.00, 'x', $3)", (u, GOLD, f"sp-{u}-{i}"))
            for i in range(each)
        ]
        calls += [
            ("SELECT * FROM api.topup($1, $2, 1.00, $3)", (u, GOLD, f"tu-{u}-{i}"))
            for i in range(each)
        ]
    random.Random(unique).shuffle(calls)
    conns = await _connections(settings, 32)
    try:
        return await _run_queue(conns, calls)
    finally:
        await _close(conns)


async def test_500_transfers_each_way_racing_spends_and_topups_never_deadlock(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Issue 15: A -> B and B -> A cross 500 times each, with spends and top-ups on both users.
    Both directions lock the lower user id's wallet first, so nothing deadlocks, and every coin is
    accounted for."""
    a, b = f"xa-{unique}", f"xb-{unique}"
    for u in (a, b):
        await job_conn.fetchrow(
            "SELECT * FROM api.topup($1, $2, 1000.00, $3)", u, GOLD, f"fund-{u}"
        )
    transfer = "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'cross', $4)"
    calls: list[tuple[str, tuple[object, ...]]] = []
    calls += [(transfer, (a, b, GOLD, f"ab-{unique}-{i}")) for i in range(500)]
    calls += [(transfer, (b, a, GOLD, f"ba-{unique}-{i}")) for i in range(500)]
    failures = await _shuffled_with_spends_and_topups(settings, calls, (a, b), 100, unique)
    # 1000 each can pay 500 transfers and 100 spends in any order: no call may fail at all
    assert failures == []
    for u in (a, b):
        row = await job_conn.fetchrow("SELECT balance, version FROM api.balances($1, $2)", u, GOLD)
        # 1000 - 500 + 500 - 100 + 100; versions: funding, 1000 transfers, 200 spends and top-ups
        assert (row["balance"], row["version"]) == (Decimal("1000.00"), 1201)
    assert await _reconcile_failures(job_conn) == []


async def test_transfers_to_a_new_user_racing_its_first_topup_create_one_wallet(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """The recipient's wallet is created at its place in the lock order by INSERT ... ON CONFLICT:
    a transfer and the user's first top-up racing to create it make one wallet, holding both."""
    senders = [f"ns-{unique}-{i}" for i in range(4)]
    for u in senders:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 100.00, $3)", u, GOLD, f"fund-{u}")
    conns = await _connections(settings, 10)
    try:
        for r in range(20):
            # recipients sorting before and after the senders: both lock orders are raced
            new = f"n{'a' if r % 2 else 'z'}-{unique}-{r}"
            start = asyncio.Event()

            async def call(
                conn: asyncpg.Connection,
                i: int,
                new: str = new,
                r: int = r,
                start: asyncio.Event = start,
            ) -> str:
                await start.wait()
                try:
                    if i < len(senders):
                        await conn.fetchrow(
                            "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'hi', $4)",
                            senders[i],
                            new,
                            GOLD,
                            f"nt-{unique}-{r}-{i}",
                        )
                    else:
                        await conn.fetchrow(
                            "SELECT * FROM api.topup($1, $2, 2.00, $3)",
                            new,
                            GOLD,
                            f"nf-{unique}-{r}-{i}",
                        )
                except asyncpg.PostgresError as exc:
                    return str(exc.sqlstate)
                return "ok"

            tasks = [asyncio.create_task(call(c, i)) for i, c in enumerate(conns)]
            await asyncio.sleep(0.02)
            start.set()
            assert await asyncio.wait_for(asyncio.gather(*tasks), timeout=30) == ["ok"] * len(conns)
            wallets = await job_conn.fetch(
                "SELECT wallet_id, balance, version FROM api.balances($1, $2)", new, GOLD
            )
            # 4 transfers of 1.00 and 6 top-ups of 2.00, in one wallet of 10 versions
            assert [(w["balance"], w["version"]) for w in wallets] == [(Decimal("16.00"), 10)]
    finally:
        await _close(conns)
    for u in senders:
        assert await job_conn.fetchval(
            "SELECT balance FROM api.balances($1, $2)", u, GOLD
        ) == Decimal("80.00")
    assert await _reconcile_failures(job_conn) == []


async def _race(
    conns: list[asyncpg.Connection], calls: list[tuple[str, tuple[object, ...]]]
) -> list[str]:
    """One call per connection, all released at once; each call's outcome ("ok" or its SQLSTATE)."""
    start = asyncio.Event()

    async def run(conn: asyncpg.Connection, sql: str, args: tuple[object, ...]) -> str:
        await start.wait()
        try:
            await conn.fetchrow(sql, *args)
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate)
        return "ok"

    tasks = [
        asyncio.create_task(run(c, sql, args)) for c, (sql, args) in zip(conns, calls, strict=True)
    ]
    await asyncio.sleep(0.05)
    start.set()
    return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))


async def test_50_parallel_reversals_of_1_against_10_give_exactly_10_successes(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Issue 15: the reversals of one transaction never add up to more than it. Every reversal
    locks the original's user wallet before it reads what was reversed, so 50 racing reversals
    of 1.00 against a top-up of 10.00 make exactly 10, and the other 40 are WREVX."""
    user = f"rv-{unique}"
    original = await job_conn.fetchval(
        "SELECT transaction_id FROM api.topup($1, $2, 10.00, $3)", user, GOLD, f"fund-{unique}"
    )
    reverse = "SELECT * FROM api.reverse($1, 1.00, 'store refund', $2)"
    conns = await _connections(settings, 50)
    try:
        outcomes = await _race(conns, [(reverse, (original, f"r-{unique}-{i}")) for i in range(50)])
    finally:
        await _close(conns)
    assert outcomes.count("ok") == 10
    assert outcomes.count("WREVX") == 40
    detail = await job_conn.fetchrow(
        "SELECT reversed_amount, cardinality(reversals) AS n FROM api.get_transaction($1)", original
    )
    assert (detail["reversed_amount"], detail["n"]) == (Decimal("10.00"), 10)
    row = await job_conn.fetchrow("SELECT balance, version FROM api.balances($1, $2)", user, GOLD)
    assert (row["balance"], row["version"]) == (Decimal("0.00"), 11)
    assert await _reconcile_failures(job_conn) == []


async def test_reversals_of_transfers_racing_transfers_back_and_spends_never_deadlock(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """A transfer's reversal moves the recipient's coins back to the sender, locking both wallets
    in the same (owner, asset) order as the transfers crossing them: 200 reversals of A -> B
    transfers racing 200 B -> A transfers and spends and top-ups on both never deadlock, and
    every coin is accounted for."""
    a, b = f"ta-{unique}", f"tb-{unique}"
    for u in (a, b):
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 500.00, $3)", u, GOLD, f"fund-{u}")
    transfers = [
        await job_conn.fetchval(
            "SELECT transaction_id FROM api.transfer($1, $2, $3, 1.00, 'gift', $4)",
            a,
            b,
            GOLD,
            f"g-{unique}-{i}",
        )
        for i in range(200)
    ]
    calls: list[tuple[str, tuple[object, ...]]] = [
        ("SELECT * FROM api.reverse($1, NULL, 'gift undone', $2)", (t, f"rt-{unique}-{i}"))
        for i, t in enumerate(transfers)
    ]
    calls += [
        (
            "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'back', $4)",
            (b, a, GOLD, f"ba-{unique}-{i}"),
        )
        for i in range(200)
    ]
    failures = await _shuffled_with_spends_and_topups(settings, calls, (a, b), 50, unique)
    # B starts at 700 and gives back at most 400: nothing may fail, in any order
    assert failures == []
    for u, expected in ((a, Decimal("700.00")), (b, Decimal("300.00"))):
        # A: 500 - 200 + 200 back by reversals + 200 transfers back - 50 + 50; B the mirror
        row = await job_conn.fetchrow("SELECT balance, version FROM api.balances($1, $2)", u, GOLD)
        assert (row["balance"], row["version"]) == (expected, 1 + 200 + 200 + 200 + 100)
    assert await _reconcile_failures(job_conn) == []


async def test_an_allow_negative_reversal_racing_spends_goes_below_zero_only_by_itself(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """A store refund of coins being spent at that moment: the allow_negative reversal takes all
    10.00 back whenever it gets the lock; the spends that come after it see a balance below
    their amount and fail. So the balance ends at 10 - 10 - (spends that won), never below -10,
    and the debt is explained by that one reversal."""
    user = f"neg-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 10.00, $3)", user, GOLD, f"f1-{unique}"
    )
    original = await job_conn.fetchval(
        "SELECT transaction_id FROM api.topup($1, $2, 10.00, $3)", user, GOLD, f"f2-{unique}"
    )
    calls: list[tuple[str, tuple[object, ...]]] = [
        ("SELECT * FROM api.spend($1, $2, 1.00, 'potion', $3)", (user, GOLD, f"s-{unique}-{i}"))
        for i in range(30)
    ]
    calls.insert(
        15,
        (
            "SELECT * FROM api.reverse($1, NULL, 'chargeback', $2, 'allow_negative')",
            (original, f"cb-{unique}"),
        ),
    )
    conns = await _connections(settings, len(calls))
    try:
        outcomes = await _race(conns, calls)
    finally:
        await _close(conns)
    assert outcomes[15] == "ok"
    spent = outcomes.count("ok") - 1
    assert outcomes.count("WFUND") == 30 - spent
    assert spent <= 20
    balance = await job_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert balance == Decimal("20.00") - 10 - spent
    debts = await job_conn.fetch("SELECT * FROM api.negative_balances($1)", GOLD)
    mine = [d for d in debts if d["user_id"] == user]
    if balance < 0:
        assert len(mine) == 1 and len(mine[0]["reversals"]) == 1
    else:
        assert mine == []
    assert await _reconcile_failures(job_conn) == []


# ----------------------------------------------------------------------------------------------
# Holds (issue 16): a hold is resolved exactly once, and no hold exceeds the balance
# ----------------------------------------------------------------------------------------------
AUTHORIZE = "SELECT * FROM api.authorize_hold($1, $2, $3::numeric, 'a match', $4)"


async def test_six_holds_of_1000_against_5000_give_exactly_five(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """The balance test of a hold is a spend's, in the UPDATE under the wallet's lock."""
    user = f"hold-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 5000.00, $3)", user, GOLD, f"f-{unique}"
    )
    conns = await _connections(settings, 6)
    try:
        outcomes = await _race(
            conns, [(AUTHORIZE, (user, GOLD, "1000.00", f"h-{unique}-{i}")) for i in range(6)]
        )
    finally:
        await _close(conns)
    assert sorted(outcomes) == ["WFUND", "ok", "ok", "ok", "ok", "ok"]
    row = await job_conn.fetchrow("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert row["balance"] == Decimal("0.00")
    assert await _reconcile_failures(job_conn) == []


async def test_captures_and_voids_racing_on_one_hold_resolve_it_once(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Capture against void, and captures against each other: exactly one wins, the others are
    hold_not_open (WHOPN), and the user's wallet moves once."""
    user = f"hold-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 100.00, $3)", user, GOLD, f"f-{unique}"
    )
    hold = await job_conn.fetchval(
        "SELECT hold_id FROM api.authorize_hold($1, $2, 40.00, 'a match', $3)",
        user,
        GOLD,
        f"h-{unique}",
    )
    capture = "SELECT * FROM api.capture_hold($1, 10.00, $2)"
    void = "SELECT * FROM api.void_hold($1, $2)"
    calls: list[tuple[str, tuple[object, ...]]] = [
        (capture if i % 2 else void, (hold, f"r-{unique}-{i}")) for i in range(30)
    ]
    conns = await _connections(settings, 30)
    try:
        outcomes = await _race(conns, calls)
    finally:
        await _close(conns)
    assert outcomes.count("ok") == 1
    assert outcomes.count("WHOPN") == 29
    state = await job_conn.fetchrow("SELECT * FROM api.get_hold($1)", hold)
    balance = await job_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    if state["status"] == "captured":
        assert (state["captured"], state["released"], balance) == (
            Decimal("10.00"),
            Decimal("30.00"),
            Decimal("90.00"),
        )
    else:
        assert (state["status"], state["released"], balance) == (
            "voided",
            Decimal("40.00"),
            Decimal("100.00"),
        )
    assert await _reconcile_failures(job_conn) == []


async def test_sweeps_racing_captures_of_due_holds_release_each_once(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Holds past their expiry: captures are refused (WHEXP before the sweep, WHOPN after it), and
    ten concurrent sweeps release each hold exactly once (SKIP LOCKED), giving it all back."""
    user = f"hold-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 100.00, $3)", user, GOLD, f"f-{unique}"
    )
    holds = [
        await job_conn.fetchval(
            "SELECT hold_id FROM api.authorize_hold($1, $2, 1.00, 'a bid', $3, '1 second')",
            user,
            GOLD,
            f"h-{unique}-{i}",
        )
        for i in range(20)
    ]
    await asyncio.sleep(1.1)
    conns = await _connections(settings, 30)
    start = asyncio.Event()

    async def sweep(conn: asyncpg.Connection) -> int | str:
        await start.wait()
        try:
            return int(await conn.fetchval("SELECT api.expire_holds(5)"))
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate)

    async def capture(conn: asyncpg.Connection, hold: int, i: int) -> int | str:
        await start.wait()
        try:
            await conn.fetchrow(
                "SELECT * FROM api.capture_hold($1, NULL, $2)", hold, f"c-{unique}-{i}"
            )
        except asyncpg.PostgresError as exc:
            return str(exc.sqlstate)
        return "ok"

    try:
        tasks = [asyncio.create_task(sweep(c)) for c in conns[:10]]
        tasks += [asyncio.create_task(capture(c, holds[i], i)) for i, c in enumerate(conns[10:])]
        await asyncio.sleep(0.05)
        start.set()
        outcomes = list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=60))
    finally:
        await _close(conns)
    sweeps, captures = outcomes[:10], outcomes[10:]
    assert all(isinstance(n, int) for n in sweeps), sweeps
    assert set(captures) <= {"WHEXP", "WHOPN"}, captures
    # whatever the ten sweeps of 5 did not reach, a last one does (other tests' due holds count too)
    await job_conn.fetchval("SELECT api.expire_holds()")
    states = [await job_conn.fetchrow("SELECT * FROM api.get_hold($1)", h) for h in holds]
    assert {(s["status"], s["released"]) for s in states} == {("expired", Decimal("1.00"))}
    row = await job_conn.fetchrow("SELECT balance, version FROM api.balances($1, $2)", user, GOLD)
    # the top-up, 20 holds, 20 releases: each hold released exactly once
    assert (row["balance"], row["version"]) == (Decimal("100.00"), 41)
    assert await _reconcile_failures(job_conn) == []


async def test_holds_racing_spends_never_exceed_the_balance_nor_deadlock(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """60 holds of 1.00 and 60 spends of 1.00 against 100.00: exactly 100 succeed."""
    user = f"hold-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 100.00, $3)", user, GOLD, f"f-{unique}"
    )
    spend = "SELECT * FROM api.spend($1, $2, 1.00, 'potion', $3)"
    calls: list[tuple[str, tuple[object, ...]]] = []
    for i in range(60):
        calls.append((AUTHORIZE, (user, GOLD, "1.00", f"h-{unique}-{i}")))
        calls.append((spend, (user, GOLD, f"s-{unique}-{i}")))
    conns = await _connections(settings, len(calls))
    try:
        outcomes = await _race(conns, calls)
    finally:
        await _close(conns)
    assert outcomes.count("ok") == 100
    assert outcomes.count("WFUND") == 20
    row = await job_conn.fetchrow("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert row["balance"] == Decimal("0.00")
    assert await _reconcile_failures(job_conn) == []


async def test_a_sweep_killed_mid_run_loses_and_doubles_nothing(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """A sweep's session terminated before it commits: everything it did is rolled back (its
    holds stay open, nothing moved), and the next sweep releases each hold once."""
    user = f"hold-{unique}"
    await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 10.00, $3)", user, GOLD, f"f-{unique}")
    holds = [
        await job_conn.fetchval(
            "SELECT hold_id FROM api.authorize_hold($1, $2, 1.00, 'a bid', $3, '1 second')",
            user,
            GOLD,
            f"h-{unique}-{i}",
        )
        for i in range(5)
    ]
    await asyncio.sleep(1.1)
    (victim,) = await _connections(settings, 1)
    try:
        pid = await victim.fetchval("SELECT pg_backend_pid()")
        transaction = victim.transaction()
        await transaction.start()
        assert await victim.fetchval("SELECT api.expire_holds()") >= 5
        assert await job_conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await victim.close(timeout=5)
    states = [await job_conn.fetchrow("SELECT * FROM api.get_hold($1)", h) for h in holds]
    assert {s["status"] for s in states} == {"open"}
    row = await job_conn.fetchrow("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    assert row["balance"] == Decimal("5.00")
    assert await job_conn.fetchval("SELECT api.expire_holds()") >= 5
    states = [await job_conn.fetchrow("SELECT * FROM api.get_hold($1)", h) for h in holds]
    assert {(s["status"], s["released"]) for s in states} == {("expired", Decimal("1.00"))}
    row = await job_conn.fetchrow("SELECT balance, version FROM api.balances($1, $2)", user, GOLD)
    assert (row["balance"], row["version"]) == (Decimal("10.00"), 11)
    assert await _reconcile_failures(job_conn) == []


# ----------------------------------------------------------------------------------------------
# Limits (issue 16): checked and counted under the wallet's lock
# ----------------------------------------------------------------------------------------------
async def _race_limited(
    settings: Settings,
    job_conn: asyncpg.Connection,
    user: str,
    calls: list[tuple[str, tuple[object, ...]]],
) -> list[str]:
    """The calls raced, each on its own connection, while `user` has an override; the override
    is cleared whatever happens (has_limits goes back as it was)."""
    conns = await _connections(settings, len(calls))
    try:
        return await _race(conns, calls)
    finally:
        await _close(conns)
        await job_conn.fetchval("SELECT api.clear_user_limits($1, $2)", user, GOLD)


async def _assert_exactly(
    job_conn: asyncpg.Connection, outcomes: list[str], ok: int, user: str, balance: str
) -> None:
    """`ok` successes, every other call refused by the limit (none retried nor deadlocked), the
    user's gold balance, and clean books."""
    assert outcomes.count("ok") == ok
    assert outcomes.count("WVLIM") == len(outcomes) - ok
    assert not RETRY_STATES & set(outcomes)
    assert await job_conn.fetchval(
        "SELECT balance FROM api.balances($1, $2)", user, GOLD
    ) == Decimal(balance)  # fmt: skip
    assert await _reconcile_failures(job_conn) == []


async def test_100_concurrent_bonuses_of_10_under_a_daily_earn_limit_of_500_give_exactly_50(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Limits are checked and counted under the wallet's row lock (ledger._check_limits): no
    interleaving lets a day's earnings pass the limit. The limit is the user's override (a unique
    user, so no other test sees it); it is removed at the end, which sets the asset's has_limits
    back as it was."""
    user = f"limit-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.set_user_limits($1, $2, NULL, 500.00, NULL)", user, GOLD
    )
    bonus = "SELECT * FROM api.grant_bonus($1, $2, 10.00, 'daily quest', $3)"
    calls = [(bonus, (user, GOLD, f"b-{unique}-{i}")) for i in range(100)]
    outcomes = await _race_limited(settings, job_conn, user, calls)
    await _assert_exactly(job_conn, outcomes, 50, user, "500.00")


async def test_60_concurrent_transfers_of_10_to_one_user_under_an_earn_limit_of_300_give_30(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Transfers received count as earned, under the recipient's lock at its place in the lock
    order: 60 senders racing to one recipient with a daily earn limit of 300.00 (its override)
    give exactly 30 successes, and no deadlock although half the senders sort before it."""
    recipient = f"limit-{unique}-m"  # between the senders a.. and z..
    senders = [f"limit-{unique}-{c}{i:02d}" for i in range(30) for c in "az"]
    for s in senders:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 10.00, $3)", s, GOLD, f"f-{s}")
    await job_conn.fetchrow(
        "SELECT * FROM api.set_user_limits($1, $2, NULL, 300.00, NULL)", recipient, GOLD
    )
    transfer = "SELECT * FROM api.transfer($1, $2, $3, 10.00, 'gift', $4)"
    calls = [(transfer, (s, recipient, GOLD, f"t-{s}")) for s in senders]
    outcomes = await _race_limited(settings, job_conn, recipient, calls)
    await _assert_exactly(job_conn, outcomes, 30, recipient, "300.00")


async def test_spends_and_transfers_sent_racing_under_a_daily_spend_limit_of_200_give_20(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """Spends and transfers sent share one daily spend counter on the sender's wallet row: 20
    spends and 20 transfers of 10.00 racing from one user with a daily spend limit of 200.00
    (its override) give exactly 20 successes in all."""
    user = f"limit-spender-{unique}-m"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 1000.00, $3)", user, GOLD, f"f-{unique}"
    )
    await job_conn.fetchrow(
        "SELECT * FROM api.set_user_limits($1, $2, NULL, NULL, 200.00)", user, GOLD
    )
    spend = "SELECT * FROM api.spend($1, $2, 10.00, 'potion', $3)"
    transfer = "SELECT * FROM api.transfer($1, $2, $3, 10.00, 'gift', $4)"
    # recipients sorting before and after the sender
    calls = [
        (spend, (user, GOLD, f"s-{unique}-{i}"))
        if i % 2
        else (
            transfer,
            (
                user,
                f"limit-spender-{unique}-{'a' if i % 4 else 'z'}{i:02d}",
                GOLD,
                f"t-{unique}-{i}",
            ),
        )
        for i in range(40)
    ]
    outcomes = await _race_limited(settings, job_conn, user, calls)
    await _assert_exactly(job_conn, outcomes, 20, user, "800.00")


async def test_holds_and_spends_racing_under_a_daily_spend_limit_share_it_and_voids_give_back(
    settings: Settings, job_conn: asyncpg.Connection, unique: str
) -> None:
    """An authorization counts against the daily spend limit like a spend, under the same lock:
    20 holds and 20 spends of 10.00 racing under a limit of 200.00 give exactly 20 successes.
    Then the held ones are voided while 20 more spends race them: each void gives its 10.00 of
    the day back, so whatever the interleaving, the day's spending ends as exactly the spends
    that passed, never above the limit."""
    user = f"limit-holder-{unique}"
    await job_conn.fetchrow(
        "SELECT * FROM api.topup($1, $2, 1000.00, $3)", user, GOLD, f"f-{unique}"
    )
    await job_conn.fetchrow(
        "SELECT * FROM api.set_user_limits($1, $2, NULL, NULL, 200.00)", user, GOLD
    )
    spend = "SELECT * FROM api.spend($1, $2, $3::numeric, 'potion', $4)"
    conns = await _connections(settings, 40)
    try:
        first = await _race(
            conns,
            [
                (AUTHORIZE, (user, GOLD, "10.00", f"h-{unique}-{i}"))
                if i % 2
                else (spend, (user, GOLD, "10.00", f"s-{unique}-{i}"))
                for i in range(40)
            ],
        )
        # the held ones' ids: a replay of an authorization answers its hold
        holds = [
            await job_conn.fetchval(
                "SELECT hold_id FROM api.authorize_hold($1, $2, 10.00, 'a match', $3)",
                user,
                GOLD,
                f"h-{unique}-{i}",
            )
            for i in range(1, 40, 2)
            if first[i] == "ok"
        ]
        void = "SELECT * FROM api.void_hold($1::bigint, $2)"
        second = await _race(
            conns[: len(holds) + 20],
            [(void, (h, f"v-{unique}-{h}")) for h in holds]
            + [(spend, (user, GOLD, "10.00", f"s2-{unique}-{i}")) for i in range(20)],
        )
        usage = await job_conn.fetchrow("SELECT spent_today FROM api.limits($1, $2)", user, GOLD)
        row = await job_conn.fetchrow("SELECT balance FROM api.balances($1, $2)", user, GOLD)
    finally:
        await _close(conns)
        await job_conn.fetchval("SELECT api.clear_user_limits($1, $2)", user, GOLD)

    assert first.count("ok") == 20
    assert first.count("WVLIM") == 20
    assert not RETRY_STATES & (set(first) | set(second))
    assert second[: len(holds)] == ["ok"] * len(holds)
    spends_ok = first[0::2].count("ok") + second[len(holds) :].count("ok")
    # at least the room left after the first race, at most the room every void could give back
    assert 20 - len(holds) <= spends_ok <= 20
    assert usage["spent_today"] == Decimal("10.00") * spends_ok
    assert row["balance"] == Decimal("1000.00") - Decimal("10.00") * spends_ok
    assert await _reconcile_failures(job_conn) == []


# ----------------------------------------------------------------------------------------------
# Batches (issue 17): the items' wallets in byte order, then one system slot
# ----------------------------------------------------------------------------------------------
# (the type's parameter is inferred: the jobs' login may not name schema ledger's types)
BATCH = "SELECT * FROM api.post_batch($1, $2, $3::text[], $4::numeric[], $5, $6)"


async def test_batches_in_opposite_orders_beside_single_calls_never_deadlock(
    settings: Settings, job_conn: asyncpg.Connection, admin_conn: asyncpg.Connection, unique: str
) -> None:
    """Batches of top-ups and of spends listing the same 20 users forwards, backwards and shuffled,
    racing single spends, top-ups and transfers among those users: nothing deadlocks, nothing is
    retried, and every user's balance is exactly what the calls that passed add up to."""
    users = [f"bo-{unique}-{c}{i:02d}" for i in range(10) for c in "az"]
    for u in users:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 1000.00, $3)", u, GOLD, f"f-{u}")
    rng = random.Random(unique)
    calls: list[tuple[str, tuple[object, ...]]] = []
    for b in range(60):
        listed = list(users)
        if b % 3 == 1:
            listed.reverse()
        elif b % 3 == 2:
            rng.shuffle(listed)
        kind, text = ("topup", None) if b % 2 else ("spend", "a batch of potions")
        calls.append(
            (BATCH, (kind, GOLD, listed, [Decimal("1.00")] * len(listed), text, f"b-{unique}-{b}"))
        )
    for i in range(200):
        u, v = rng.sample(users, 2)
        calls.append(
            ("SELECT * FROM api.spend($1, $2, 1.00, 'x', $3)", (u, GOLD, f"s-{unique}-{i}"))
        )
        calls.append(("SELECT * FROM api.topup($1, $2, 1.00, $3)", (v, GOLD, f"t-{unique}-{i}")))
        calls.append(
            (
                "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'gift', $4)",
                (u, v, GOLD, f"g-{unique}-{i}"),
            )
        )
    rng.shuffle(calls)
    conns = await _connections(settings, 32)
    try:
        failures = await _run_queue(conns, calls)
    finally:
        await _close(conns)
    # 1000 each pays 30 spend batches, spends and gifts in any order: nothing may fail at all
    assert failures == []
    # every batch posted each of its 20 items, as its own transaction of the batch
    per_batch = await admin_conn.fetch(
        "SELECT b.idempotency_key, count(t.id) AS items FROM ledger.batches AS b"
        " JOIN ledger.transactions AS t ON t.batch_id = b.id"
        " WHERE b.idempotency_key LIKE $1 GROUP BY b.idempotency_key",
        f"b-{unique}-%",
    )
    assert len(per_batch) == 60 and {r["items"] for r in per_batch} == {20}
    total = await admin_conn.fetchval(
        "SELECT sum(balance) FROM ledger.wallets"
        " WHERE owner_id = ANY($1::text[]) AND asset_id = $2",
        users,
        GOLD,
    )
    # 30 top-up and 30 spend batches cancel out, as do 200 spends and 200 top-ups; gifts move within
    assert total == Decimal("1000.00") * len(users)
    assert await _reconcile_failures(job_conn) == []


async def test_batches_creating_wallets_racing_transfers_to_the_same_new_users_create_each_once(
    settings: Settings, job_conn: asyncpg.Connection, admin_conn: asyncpg.Connection, unique: str
) -> None:
    """A batch of first credits creates each missing wallet in its place in the lock order (one
    statement per user), so batches racing transfers and top-ups to the same new users, some
    sorting before and some after the senders, neither deadlock nor make a wallet twice."""
    senders = [f"bn-{unique}-m{i}" for i in range(4)]
    for u in senders:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 100.00, $3)", u, GOLD, f"f-{u}")
    conns = await _connections(settings, 24)
    try:
        for r in range(10):
            new = [f"bn-{unique}-{c}{r}-{i}" for i in range(5) for c in "az"]
            calls: list[tuple[str, tuple[object, ...]]] = []
            for b in range(8):
                listed = new[::-1] if b % 2 else list(new)
                calls.append(
                    (
                        BATCH,
                        (
                            "topup",
                            GOLD,
                            listed,
                            [Decimal("1.00")] * len(listed),
                            None,
                            f"b-{unique}-{r}-{b}",
                        ),
                    )
                )
            for i, s in enumerate(senders):
                for k in range(2):
                    to = new[(i * 2 + k) % len(new)]
                    calls.append(
                        (
                            "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'gift', $4)",
                            (s, to, GOLD, f"g-{unique}-{r}-{i}-{k}"),
                        )
                    )
            calls += [
                ("SELECT * FROM api.topup($1, $2, 1.00, $3)", (u, GOLD, f"t-{unique}-{r}-{u}"))
                for u in new[:8]
            ]
            outcomes = await _race(conns[: len(calls)], calls)
            assert outcomes == ["ok"] * len(calls), outcomes
            wallets = await admin_conn.fetch(
                "SELECT owner_id, count(*) AS n FROM ledger.wallets"
                " WHERE owner_id = ANY($1::text[]) AND asset_id = $2 GROUP BY owner_id",
                new,
                GOLD,
            )
            assert len(wallets) == len(new) and {w["n"] for w in wallets} == {1}
    finally:
        await _close(conns)
    assert await _reconcile_failures(job_conn) == []


# ----------------------------------------------------------------------------------------------
# Balances in time (issue 18): a wallet's posted_at never decreases along its versions
# ----------------------------------------------------------------------------------------------
async def test_postings_of_every_kind_racing_on_three_wallets_post_in_version_order(
    settings: Settings, job_conn: asyncpg.Connection, admin_conn: asyncpg.Connection, unique: str
) -> None:
    """Top-ups, spends, transfers, batches, holds and their captures and voids racing on three
    users' wallets (and Gold's system slots): along every wallet's versions posted_at never
    decreases (each posting reads the clock after its locks), so a moment is a prefix of each
    history, and api.balances_at at each entry's posted_at answers that entry's version (the
    last posted then) and balance."""
    users = [f"pa-{unique}-{i}" for i in range(3)]
    for u in users:
        await job_conn.fetchrow("SELECT * FROM api.topup($1, $2, 500.00, $3)", u, GOLD, f"f-{u}")
    rng = random.Random(unique)
    calls: list[tuple[str, tuple[object, ...]]] = []
    for i in range(40):
        u, v = rng.sample(users, 2)
        calls += [
            ("SELECT * FROM api.topup($1, $2, 1.00, $3)", (u, GOLD, f"t-{unique}-{i}")),
            ("SELECT * FROM api.spend($1, $2, 1.00, 'x', $3)", (v, GOLD, f"s-{unique}-{i}")),
            (
                "SELECT * FROM api.transfer($1, $2, $3, 1.00, 'gift', $4)",
                (u, v, GOLD, f"g-{unique}-{i}"),
            ),
            (AUTHORIZE, (u, GOLD, "1.00", f"h-{unique}-{i}")),
        ]
        if i % 4 == 0:
            kind, text = ("topup", None) if i % 8 else ("spend", "a batch")
            amounts = [Decimal("1.00")] * len(users)
            calls.append((BATCH, (kind, GOLD, users, amounts, text, f"b-{unique}-{i}")))
    rng.shuffle(calls)
    conns = await _connections(settings, 16)
    try:
        assert await _run_queue(conns, calls) == []
        holds = [
            r["hold_id"]
            for r in await admin_conn.fetch(
                "SELECT id AS hold_id FROM ledger.holds WHERE user_id = ANY($1::text[])", users
            )
        ]
        resolutions: list[tuple[str, tuple[object, ...]]] = [
            (
                "SELECT * FROM api.capture_hold($1, 0.50, $2)"
                if n % 2
                else "SELECT * FROM api.void_hold($1, $2)",
                (h, f"r-{unique}-{n}"),
            )
            for n, h in enumerate(holds)
        ]
        resolutions += [
            ("SELECT * FROM api.topup($1, $2, 1.00, $3)", (u, GOLD, f"t2-{unique}-{n}"))
            for n, u in enumerate(users * 10)
        ]
        rng.shuffle(resolutions)
        assert await _run_queue(conns, resolutions) == []
    finally:
        await _close(conns)

    entries = await admin_conn.fetch(
        "SELECT w.owner_id, e.wallet_id, e.wallet_version, e.posted_at, e.balance_after"
        " FROM ledger.wallets AS w JOIN ledger.entries AS e ON e.wallet_id = w.id"
        " WHERE w.asset_id = $2 AND (w.owner_id = ANY($1::text[]) OR w.kind <> 'user')"
        "   AND e.posted_at IS NOT NULL"
        " ORDER BY e.wallet_id, e.wallet_version",
        users,
        GOLD,
    )
    backwards = [
        (b["wallet_id"], b["wallet_version"])
        for a, b in itertools.pairwise(entries)
        if a["wallet_id"] == b["wallet_id"] and b["posted_at"] < a["posted_at"]
    ]
    assert backwards == []
    for user in users:
        history = [e for e in entries if e["owner_id"] == user]
        assert len(history) > 60
        for entry in history:
            # the last entry posted at that moment (a batch gives several the same posted_at)
            last = max(
                (e for e in history if e["posted_at"] <= entry["posted_at"]),
                key=lambda e: e["wallet_version"],
            )
            row = await job_conn.fetchrow(
                "SELECT balance, version FROM api.balances_at($1, $2, $3)",
                user,
                entry["posted_at"],
                GOLD,
            )
            assert (row["version"], row["balance"]) == (
                last["wallet_version"],
                last["balance_after"],
            )
    assert await _reconcile_failures(job_conn) == []
