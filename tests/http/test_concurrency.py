"""Interleavings over HTTP: one key raced by 50 requests, 100 spends racing on one wallet."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import httpx

from tests.support import GOLD, topup

Client = httpx.AsyncClient


async def test_fifty_concurrent_requests_with_one_key_make_exactly_one_transaction(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    sent = {**auth, "Idempotency-Key": f"race-{unique}"}
    body = {"userId": user, "assetTypeId": GOLD, "amount": "5.00"}
    answers = await asyncio.gather(
        *(api.post("/api/v1/wallet/topup", json=body, headers=sent) for _ in range(50))
    )
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [a for a in answers if a.status_code == 201]
    fresh = [a for a in created if a.headers.get("idempotent-replayed") != "true"]
    assert len(fresh) == 1, "exactly one answer is the original; the rest are 409 or replays"
    assert {a.json()["transactionId"] for a in created} == {fresh[0].json()["transactionId"]}
    for conflict in (a for a in answers if a.status_code == 409):
        assert conflict.json()["code"] == "idempotency_key_in_flight"
    count = await admin_conn.fetchval(
        "SELECT count(*) FROM ledger.transactions WHERE client_id LIKE 'api:%'"
        " AND idempotency_key = $1",
        f"race-{unique}",
    )
    assert count == 1
    balance = await api.get(f"/api/v1/wallet/{user}/balance", headers=auth)
    assert balance.json()["balances"][1]["balance"] == "5.00"
    print(f"\n50 requests with one key: {dict(statuses)}, {len(created) - 1} replays")


async def test_hundred_concurrent_spends_from_one_wallet_give_exactly_the_affordable_number(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "30.00")).status_code == 201

    async def spend() -> httpx.Response:
        return await api.post(
            "/api/v1/wallet/spend",
            json={"userId": user, "assetTypeId": GOLD, "amount": "1.00", "serviceDescription": "x"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )

    answers = await asyncio.gather(*(spend() for _ in range(100)))
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 30, 422: 70}, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 422} == {"insufficient_funds"}
    balances_after = sorted(a.json()["balance"] for a in answers if a.status_code == 201)
    assert balances_after == sorted(f"{n}.00" for n in range(30)), "each spend saw its own balance"
    balance = await api.get(f"/api/v1/wallet/{user}/balance", headers=auth)
    assert balance.json()["balances"][1]["balance"] == "0.00"
    problems = await admin_conn.fetch("SELECT * FROM api.reconcile() WHERE NOT ok")
    assert problems == []
    print(f"\n100 spends of 1.00 from 30.00: {dict(statuses)}")
