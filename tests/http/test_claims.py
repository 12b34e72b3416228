"""The idempotency claim in Redis when Redis answers late: a request whose claim Redis ran after
the service gave up waiting must not leave its key answering 409 idempotency_key_in_flight.

Redis is made late by a script that keeps it busy for 700 ms, longer than the service's socket
timeout (0.5 s): the claim script already sent is run when Redis is free again, after the service
went on without it. (`CLIENT PAUSE 700 WRITE` does not show it on Redis 7.0: a paused client's
commands are dropped when it disconnects, which the service's client does on a timeout.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from service.config import Settings
from tests.support import GOLD, assert_problem, money_headers, running_app, topup

Client = httpx.AsyncClient

STALL_MS = 700
_BUSY = """
local started = redis.call('TIME')
repeat local now = redis.call('TIME')
until (now[1] - started[1]) * 1000000 + (now[2] - started[2]) >= tonumber(ARGV[1]) * 1000
return 1
"""


async def _stalled(redis_client: Redis) -> asyncio.Task[Any]:
    """Redis busy for STALL_MS from now (a script that loops), as under a slow command."""
    busy = asyncio.create_task(redis_client.eval(_BUSY, 0, STALL_MS))  # type: ignore[misc]
    await asyncio.sleep(0.02)  # the script has started
    return busy


async def _retry_until_answered(
    api: Client, path: str, body: dict[str, Any], headers: dict[str, str], within: float
) -> tuple[httpx.Response, float]:
    """Sends the request again until it is not 409 in flight: the answer and how long it took."""
    started = time.monotonic()
    while True:
        response = await api.post(path, json=body, headers=headers)
        waited = time.monotonic() - started
        if response.status_code != 409:
            return response, waited
        assert waited < within, f"still 409 idempotency_key_in_flight after {waited:.1f} s"
        await asyncio.sleep(0.05)


async def test_a_rejection_during_a_redis_stall_leaves_the_key_free_within_a_second(
    settings: Settings, key: str, unique: str, redis_client: Redis
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "5.00",
            "serviceDescription": "a sword"}  # fmt: skip
    headers = money_headers(auth, f"paused-{unique}")
    async with running_app(settings) as api:
        assert (await api.get("/health")).json()["checks"]["redis"] == "ok"  # connected
        busy = await _stalled(redis_client)
        first = await api.post("/api/v1/wallet/spend", json=body, headers=headers)
        await busy
        assert_problem(first, 422, "insufficient_funds")
        retry, waited = await _retry_until_answered(
            api, "/api/v1/wallet/spend", body, headers, within=1.5
        )
        assert_problem(retry, 422, "insufficient_funds")
        # a fresh attempt: once the user has the coins, the same key spends them
        assert (await topup(api, auth, f"u-{unique}", "5.00")).status_code == 201
        spent = await api.post("/api/v1/wallet/spend", json=body, headers=headers)
        assert spent.status_code == 201 and spent.json()["balance"] == "0.00"
    print(f"retry answered {waited:.2f} s after the rejection")


async def test_a_success_during_a_redis_stall_is_replayed_not_409_within_a_second(
    settings: Settings, key: str, unique: str, redis_client: Redis
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "2.50"}
    headers = money_headers(auth, f"paused-{unique}")
    async with running_app(settings) as api:
        assert (await api.get("/health")).json()["checks"]["redis"] == "ok"  # connected
        busy = await _stalled(redis_client)
        first = await api.post("/api/v1/wallet/topup", json=body, headers=headers)
        await busy
        assert first.status_code == 201
        retry, waited = await _retry_until_answered(
            api, "/api/v1/wallet/topup", body, headers, within=1.5
        )
        assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
        assert retry.json()["transactionId"] == first.json()["transactionId"]
        balance = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
        assert balance.json()["balances"][1]["balance"] == "2.50"
    print(f"retry answered {waited:.2f} s after the top-up")
