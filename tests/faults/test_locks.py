"""A wallet row locked FOR UPDATE by another session (an operator's psql, a stuck job) while
`wallet serve` is under load: postings to that wallet give up after the lock timeout with 503
service_unavailable (nothing moved, and the key may be retried), reads of it are not blocked,
and every other wallet goes on as if nothing happened.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx

from service.config import Settings
from tests.faults.conftest import FULL, Client, ServeLoaded, new_client, report
from tests.faults.load import Answer, Load, verify
from tests.support import wallet_locked

LOCK_TIMEOUT_MS = 3000  # the default
HELD = 20.0 if FULL else 5.0  # seconds the lock is held: more than a lock timeout
# lock_timeout bounds each wait for a lock, and a posting may wait twice: in PostgreSQL's queue for
# the row (behind another posting waiting for it), then for the holder; plus a second to answer
BLOCKED_BOUND = 2 * LOCK_TIMEOUT_MS / 1000 + 1.0
# other wallets never wait for the lock: each of their answers comes before it would time out
OTHERS_BOUND = LOCK_TIMEOUT_MS / 1000


def quantiles(answers: list[Answer]) -> str:
    seconds = sorted(a.seconds for a in answers)
    p50, p99 = (seconds[int(q * (len(seconds) - 1))] for q in (0.5, 0.99))
    return f"{p50:.2f} s (p50), {p99:.2f} s (p99), {seconds[-1]:.2f} s (max)"


async def test_a_locked_wallet_answers_503_after_the_lock_timeout_and_others_are_unaffected(
    serve: ServeLoaded, api_client: Client, settings: Settings, admin_conn: asyncpg.Connection
) -> None:
    server = serve(WALLET_LOCK_TIMEOUT=str(LOCK_TIMEOUT_MS))
    run = uuid.uuid4().hex[:8]
    others = Load(server.url, api_client.key, f"free-{run}")
    second = new_client(settings)  # the locked wallet's client: its keys checked apart
    locked = Load(server.url, second.key, f"locked-{run}", users=1)
    await asyncio.gather(others.fund(), locked.fund())
    (locked_user,) = locked.user_ids

    stop = asyncio.Event()
    running = asyncio.create_task(others.run(stop, clients=12))
    hammering: asyncio.Task[None] | None = None
    try:
        await asyncio.sleep(0.5)  # the others' load under way
        async with wallet_locked(admin_conn, locked_user):
            locked_at = time.monotonic()
            hammering = asyncio.create_task(locked.run(stop, clients=4))
            async with httpx.AsyncClient(
                base_url=server.url, trust_env=False, timeout=10
            ) as reader:
                read = await reader.get(
                    f"/api/v1/wallet/{locked_user}/balance",
                    headers={"Authorization": f"Bearer {second.key}"},
                )
            read_seconds = time.monotonic() - locked_at
            await asyncio.sleep(HELD)
            released_at = time.monotonic()
    finally:
        stop.set()
        await asyncio.gather(running, *([hammering] if hammering else []))
    assert read.status_code == 200, read.text
    await locked.retry_lost(30)

    under_lock = [
        a
        for a in locked.answers()
        if locked_at <= a.started and a.started + a.seconds <= released_at
    ]
    # what reached the database: not the replays from Redis, nor the copies of a key in flight
    blocked = [
        a
        for a in under_lock
        if not (a.status == 201 and a.replayed) and a.code != "idempotency_key_in_flight"
    ]
    others_under_lock = [a for a in others.answers() if locked_at <= a.started < released_at]
    fig_others = await verify(others, admin_conn, api_client.client_id)
    fig_locked = await verify(locked, admin_conn, second.client_id)
    report(
        fig_locked.report("lock (the locked wallet)")
        + f"; {len(blocked)} postings under the lock, answered in"
        f" {min(a.seconds for a in blocked):.2f}-{max(a.seconds for a in blocked):.2f} s;"
        f" its balance read in {read_seconds:.2f} s"
    )
    report(
        fig_others.report("lock (other wallets)")
        + f"; {len(others_under_lock)} answers while the lock was held, in"
        f" {quantiles(others_under_lock)}"
    )
    assert blocked, "no posting met the lock"
    for answer in blocked:
        assert (answer.status, answer.code) == (503, "service_unavailable"), answer
        assert LOCK_TIMEOUT_MS / 1000 * 0.9 <= answer.seconds < BLOCKED_BOUND, answer
    assert read_seconds < OTHERS_BOUND
    assert others_under_lock
    assert {a.status for a in others_under_lock} <= {201, 409}, others.statuses()
    assert max(a.seconds for a in others_under_lock) < OTHERS_BOUND
    # once released, the keys refused meanwhile were retried and posted: nothing was used up
    assert fig_locked.lost_once > 0 and fig_locked.acknowledged == fig_locked.keys
