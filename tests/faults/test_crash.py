"""`wallet serve` killed with SIGKILL (every process of it) in the middle of a load of top-ups and
spends, then started again on the same port: every key whose answer was lost is retried, and each
key has exactly one transaction, the one every 201 for it named.

A key whose request was in flight at the kill may have been committed with its answer lost; its
Redis claim outlives the process for up to the claim's life (service.config.claim_ttl_seconds:
14 s with the default timeouts), during which a retry is answered 409 idempotency_key_in_flight;
then the ledger's durable key answers the retry with the original transaction
(Idempotent-Replayed).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg

from service.config import claim_ttl_seconds, load_settings
from tests.faults.conftest import FULL, Client, ServeLoaded, report
from tests.faults.load import Load, verify

KILLS = 3 if FULL else 1
PHASE = 8.0 if FULL else 1.5  # seconds of load before each kill and after the last restart
# the Redis claims of the keys in flight at the kill expire after the claim's life; then their
# retries answer: every lost key must be settled within it and a margin for the retries themselves
RETRY_TIMEOUT = claim_ttl_seconds(load_settings()) + 15.0
EXPECTED = {"201", "422 insufficient_funds", "409 idempotency_key_in_flight", "no answer"}


async def test_sigkill_under_load_then_retries_leave_each_key_exactly_one_transaction(
    serve: ServeLoaded, api_client: Client, admin_conn: asyncpg.Connection
) -> None:
    server = serve()
    load = Load(server.url, api_client.key, f"kill-{uuid.uuid4().hex[:8]}")
    await load.fund()
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop))
    downtime: list[float] = []
    try:
        for _ in range(KILLS):
            await asyncio.sleep(PHASE)
            acknowledged = len(load.acknowledged)
            killed = time.monotonic()
            await asyncio.to_thread(server.kill)
            assert server.process.poll() is not None
            # the same port, as a process manager restarts it; the clients go on meanwhile
            server = await asyncio.to_thread(serve, server.port)
            downtime.append(time.monotonic() - killed)
            assert acknowledged > 0, "nothing was acknowledged before the kill"
        await asyncio.sleep(PHASE)
    finally:
        stop.set()
        await running
    lost = sum(key.outcome == "lost" for key in load.keys.values())
    started = time.monotonic()
    await load.retry_lost(RETRY_TIMEOUT)
    retried_in = time.monotonic() - started

    figures = await verify(load, admin_conn, api_client.client_id)
    report(
        figures.report("sigkill")
        + f"; {KILLS} kills, down {', '.join(f'{d:.1f}' for d in downtime)} s;"
        f" {lost} keys unanswered after the load, all answered by retries in {retried_in:.1f} s"
    )
    assert figures.lost_once > 0, "the kill cut no answer: it proved nothing"
    unexpected = set(figures.statuses) - EXPECTED
    assert not unexpected, figures.statuses
