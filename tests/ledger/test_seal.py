"""The seal (issue 18): sealers racing postings that commit, roll back and
batch, as several sessions. Each committed transaction is sealed exactly once, in one gap-free
order; a rolled-back one never takes a number; the chain verifies. One session's view (nothing
uncommitted is sealed, an edit is found): sql_tests/41_seal.sql."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.config import Settings, job_database_url
from tests.support import GOLD


@pytest.fixture
async def job_conn(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(job_database_url(settings))
    try:
        yield conn
    finally:
        await conn.close()


async def test_two_sealers_racing_postings_seal_each_committed_transaction_once_in_one_order(
    settings: Settings, job_conn: asyncpg.Connection, admin_conn: asyncpg.Connection, unique: str
) -> None:
    url = job_database_url(settings)
    writers = await asyncio.gather(*(asyncpg.connect(url) for _ in range(12)))
    sealers = await asyncio.gather(*(asyncpg.connect(url) for _ in range(2)))
    rng = random.Random(unique)
    committed: list[int] = []
    rolled_back: list[int] = []
    stop = asyncio.Event()
    passes: list[tuple[int, bool]] = []

    async def write(conn: asyncpg.Connection, w: int) -> None:
        for i in range(60):
            user = f"seal-{unique}-{rng.randint(1, 20)}"
            key = f"seal-{unique}-{w}-{i}"
            tx = conn.transaction()
            await tx.start()
            if rng.random() < 0.1:  # a batch of three, committed with the rest
                rows = await conn.fetch(
                    "SELECT transaction_id FROM api.post_batch('topup', $1, $2, $3, NULL, $4)",
                    GOLD, [user, f"{user}-b", user], [1, 2, 3], key,
                )  # fmt: skip
                ids = [r["transaction_id"] for r in rows]
            else:
                row = await conn.fetchrow(
                    "SELECT * FROM api.topup($1, $2, 1.00, $3)", user, GOLD, key
                )
                ids = [row["transaction_id"]]
            await asyncio.sleep(rng.random() / 100)  # commits come out of id order
            if rng.random() < 0.15:
                await tx.rollback()
                rolled_back.extend(ids)
            else:
                await tx.commit()
                committed.extend(ids)

    async def seal(conn: asyncpg.Connection) -> None:
        while not stop.is_set():
            row = await conn.fetchrow("SELECT * FROM api.seal(50)")
            passes.append((row["sealed"], row["busy"]))
            await asyncio.sleep(0.005)

    try:
        sealing = [asyncio.create_task(seal(c)) for c in sealers]
        await asyncio.gather(*(write(c, w) for w, c in enumerate(writers)))
        stop.set()
        await asyncio.gather(*sealing)
    finally:
        await asyncio.gather(*(c.close() for c in writers + sealers))
    while (await job_conn.fetchrow("SELECT * FROM api.seal(100000)"))["sealed"]:
        pass

    assert sum(n for n, _ in passes) > 0, "the sealers sealed while the postings ran"
    rows = await admin_conn.fetch(
        "SELECT s.sequence, s.transaction_id FROM ledger.seals AS s"
        " WHERE s.transaction_id = ANY($1::bigint[]) ORDER BY s.sequence",
        committed + rolled_back,
    )
    sealed = [r["transaction_id"] for r in rows]
    assert sorted(sealed) == sorted(committed), (
        "every committed one sealed once, no rolled-back one"
    )
    assert len(set(sealed)) == len(sealed)
    head = await admin_conn.fetchrow(
        "SELECT count(*) AS n, max(sequence) AS last FROM ledger.seals"
    )
    assert head["n"] == head["last"], "the sequence has no gap"
    status = await job_conn.fetchrow("SELECT * FROM api.seal_status()")
    assert (status["unsealed"], status["last_sequence"]) == (0, head["last"])
    verdict = await job_conn.fetchrow("SELECT * FROM api.verify_seal()")
    assert verdict["problem"] is None, verdict
