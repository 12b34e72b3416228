"""Redis, the cache of answers and the rate-limit counters, flushed and then stopped under load:
no key is posted twice (the ledger's durable key answers what Redis forgot), money keeps moving
while Redis is down (the limits fail open), and /health says degraded until Redis is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx

from tests.faults.conftest import FULL, Client, ServeLoaded, Stack, report
from tests.faults.load import Load, verify
from tests.support import wait_until

PHASE = 8.0 if FULL else 1.5
HEALTH_BOUND = 10.0  # seconds for /health to see Redis gone, and back
EXPECTED = {"201", "422 insufficient_funds", "409 idempotency_key_in_flight"}


async def test_redis_flushed_then_stopped_under_load_posts_no_key_twice_and_writes_go_on(
    serve: ServeLoaded, api_client: Client, admin_conn: asyncpg.Connection, stack: Stack
) -> None:
    server = serve()
    load = Load(server.url, api_client.key, f"redis-{uuid.uuid4().hex[:8]}")
    await load.fund()

    async def health() -> dict[str, Any]:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            response = await client.get(f"{server.url}/health")
        assert response.status_code == 200, response.text  # degraded is still 200
        body: dict[str, Any] = response.json()
        return body

    async def health_is(status: str) -> bool:
        return (await health())["status"] == status

    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop))
    try:
        await asyncio.sleep(PHASE)
        flushed = time.monotonic()
        assert await stack.redis_cli("FLUSHALL") == "OK"
        await asyncio.sleep(PHASE)
        await stack.stop("redis")
        down = time.monotonic()
        to_degraded = await wait_until(lambda: health_is("degraded"), HEALTH_BOUND, "degraded")
        assert (await health())["checks"] == {"postgres": "ok", "redis": "unreachable"}
        await asyncio.sleep(PHASE)
        await stack.start()
        up = time.monotonic()
        to_ok = await wait_until(lambda: health_is("ok"), HEALTH_BOUND, "ok again")
        await asyncio.sleep(PHASE)
    finally:
        stop.set()
        await running
        await stack.start()  # whatever failed, the next test finds Redis up
    await load.retry_lost(30)

    figures = await verify(load, admin_conn, api_client.client_id)
    answers = load.answers()
    after_flush = [a for a in answers if flushed <= a.started < down]
    while_down = [a for a in answers if down <= a.started and a.started + a.seconds < up]
    posted_while_down = sum(a.status == 201 and not a.replayed for a in while_down)
    replayed_by_ledger = sum(a.status == 201 and a.replayed for a in after_flush)
    report(
        figures.report("redis") + f"; {len(after_flush)} answers between the flush and the stop"
        f" ({replayed_by_ledger} replays); {len(while_down)} answers while Redis was down"
        f" ({posted_while_down} new postings), /health degraded after {to_degraded:.1f} s"
        f" and ok {to_ok:.1f} s after Redis restarted"
    )
    assert posted_while_down > 0, "no money moved while Redis was down"
    unexpected = set(figures.statuses) - EXPECTED
    assert not unexpected, figures.statuses
