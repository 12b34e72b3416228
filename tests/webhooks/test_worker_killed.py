"""The delivery worker killed mid-delivery (SIGKILL to `wallet serve`, every worker, while the
receiver holds a request open) resumes where it stopped: the next server's worker takes the
subscription once the dead worker's lease has expired and sends the unacknowledged events again,
from the cursor, then the rest, in order; nothing is skipped."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import asyncpg

from service.config import Settings
from service.webhooks import lease_seconds
from tests.support import StartServer, fresh_client, money, wait_until
from tests.webhooks.test_delivery import handled_all, stream_after

WORKER = {
    "WALLET_SEAL_INTERVAL_MS": "50",
    "WALLET_WEBHOOK_INTERVAL_MS": "100",
    "WALLET_WEBHOOK_TIMEOUT_MS": "1000",
    "WALLET_WEBHOOK_BACKOFF_MS": "50",
}


async def test_a_worker_killed_mid_delivery_is_resumed_from_the_cursor_by_the_next(
    start_server: StartServer, settings: Settings, key: str, unique: str,
    admin_conn: asyncpg.Connection, receiver_factory: Any, subscribe: Any,
) -> None:  # fmt: skip
    receiver = receiver_factory(script=["hang"])  # holds the first request open until released
    server = start_server(**WORKER)
    webhook, after = await subscribe(receiver.url)
    posted = []
    async with fresh_client(server) as client:
        for _ in range(5):
            body = {
                "userId": f"hook-{unique}",
                "assetTypeId": "asset-gold-coin-001",
                "amount": "2.00",
            }
            answer = await client.post("/api/v1/wallet/topup", json=body, headers=money(key))
            assert answer.status_code == 201, answer.text
            posted.append(answer.json()["transactionId"])
    await wait_until(receiver.arrived.is_set, 10, "the first delivery reached the receiver")
    server.kill()
    killed = time.monotonic()
    receiver.release.set()  # the held request is answered to a dead connection: not delivered
    in_flight = receiver.requests[0].sequences
    assert in_flight[0] == after + 1
    row = await admin_conn.fetchrow("SELECT * FROM api.webhooks() WHERE id = $1", webhook)
    assert row["after_sequence"] == after, "nothing was acknowledged before the kill"

    start_server(**WORKER)
    await wait_until(lambda: handled_all(receiver, posted), 30, "delivered after the restart")
    resumed = next(r for r in receiver.requests[1:] if r.status == 204)
    waited = resumed.at - killed
    # resumed from the cursor: the events in flight when the worker died come again, first
    assert resumed.sequences[: len(in_flight)] == in_flight
    accepted = receiver.accepted()
    assert accepted == await stream_after(admin_conn, after, accepted[-1])
    timeout = int(WORKER["WALLET_WEBHOOK_TIMEOUT_MS"])
    lease = lease_seconds(dataclasses.replace(settings, webhook_timeout_ms=timeout))
    assert waited < lease + 5, f"resumed {waited:.1f} s after the kill (lease {lease} s)"
    print(f"webhooks: resumed {waited:.1f} s after the kill (lease {lease} s)")
