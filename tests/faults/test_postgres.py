"""PostgreSQL stopped under load (as by a crash: an immediate shutdown, recovered from the WAL; in
the full size also a clean fast shutdown first), then started again, while the same `wallet
serve` keeps running: during the outage every request that needs the database is answered 503
service_unavailable within a bound (never a 500, never a hang), /health says unavailable, and
once PostgreSQL is back the pools reconnect by themselves; no acknowledged transaction is lost.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx

from service.config import Settings
from tests.faults.conftest import FULL, Client, ServeLoaded, Stack, report
from tests.faults.load import Answer, Load, verify
from tests.support import wait_until

PHASE = 8.0 if FULL else 1.5
OUTAGE = 6.0 if FULL else 2.0  # seconds PostgreSQL stays down
SHUTDOWNS = ("postgres", "postgres-crash") if FULL else ("postgres-crash",)
ANSWER_BOUND = 10.0  # the slowest answer allowed during an outage
RECOVERY_BOUND = 30.0  # from PostgreSQL accepting connections again to a 201
EXPECTED = {
    "201",
    "422 insufficient_funds",
    "409 idempotency_key_in_flight",
    "503 service_unavailable",
}


def during_outage(answer: Answer) -> bool:
    """What an answer in the outage may be: 503, or what needs no database (a replay from Redis,
    a repeat of a key in flight)."""
    if answer.status == 201:
        return answer.replayed
    return (answer.status, answer.code) in {
        (503, "service_unavailable"),
        (409, "idempotency_key_in_flight"),
    }


async def test_postgres_restarted_under_load_is_503_meanwhile_and_recovers_without_a_restart(
    serve: ServeLoaded,
    api_client: Client,
    stack: Stack,
    settings: Settings,
) -> None:
    server = serve()
    load = Load(server.url, api_client.key, f"pg-{uuid.uuid4().hex[:8]}")
    await load.fund()
    outages: list[tuple[float, float]] = []  # (down, up) in time.monotonic()
    recoveries: list[float] = []

    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as probe:

        async def posting_works() -> bool:
            key = load.new_key("topup", load.user_ids[0], "1.00")
            return (await load.send(probe, key)).status == 201

        stop = asyncio.Event()
        running = asyncio.create_task(load.run(stop))
        try:
            for shutdown in SHUTDOWNS:
                await asyncio.sleep(PHASE)
                await stack.stop(shutdown)
                down = time.monotonic()
                health = await probe.get("/health")
                assert health.status_code == 503, health.text
                assert health.json()["checks"]["postgres"] == "unreachable", health.text
                await asyncio.sleep(OUTAGE)
                up = time.monotonic()
                await stack.start()
                recoveries.append(await wait_until(posting_works, RECOVERY_BOUND, "a posting"))
                outages.append((down, up))
                assert (await probe.get("/health")).json()["status"] == "ok"
            await asyncio.sleep(PHASE)
        finally:
            stop.set()
            await running
            await stack.start()
    assert server.process.poll() is None, "the service died"
    await load.retry_lost(30)

    conn = await asyncpg.connect(settings.admin_database_url)  # the earlier one died with it
    try:
        figures = await verify(load, conn, api_client.client_id)
    finally:
        await conn.close()
    in_outage = [a for a in load.answers() for down, up in outages if down <= a.started < up]
    wrong = [a for a in in_outage if not during_outage(a)]
    unavailable = sum(a.status == 503 for a in in_outage)
    slowest = max(a.seconds for a in in_outage)
    report(
        figures.report("postgres")
        + f"; outages: {', '.join(SHUTDOWNS)}, {OUTAGE:.0f} s each; {len(in_outage)} answers"
        f" during them ({unavailable} 503), the slowest {slowest:.2f} s; a posting succeeded"
        f" {', '.join(f'{r:.1f}' for r in recoveries)} s after PostgreSQL was started again"
    )
    assert unavailable > 0, "no request met the outage"
    assert not wrong, f"{len(wrong)} answers in the outage other than 503, e.g. {wrong[:3]}"
    assert slowest < ANSWER_BOUND
    assert figures.max_seconds < ANSWER_BOUND, "an answer outside the outages was slower still"
    unexpected = set(figures.statuses) - EXPECTED
    assert not unexpected, figures.statuses
