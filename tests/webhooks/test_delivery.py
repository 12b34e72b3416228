"""Webhooks delivered by the service's own worker (service/webhooks.py) to a real local receiver
(examples/webhooks/receiver.py behind a script of failures, tests/webhooks/conftest.py): every
event in sequence order, each at least once, signed; retried with backoff after an error or a
timeout; marked failing and back; one subscription's dead receiver never holding up another;
a replayed or altered request refused by the receiver."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import asyncpg
import httpx

from service.config import Settings
from tests.support import running_app, topup, wait_until
from tests.webhooks.conftest import SECRET, example

# a worker that looks often, gives up on a receiver after 0.5 s and retries soon
FAST: dict[str, Any] = {
    "seal_interval_ms": 50,
    "webhook_interval_ms": 100,
    "webhook_timeout_ms": 500,
    "webhook_backoff_ms": 50,
    "webhook_backoff_max_ms": 400,
    "webhook_failing_after": 3,
}


async def post_topups(api: httpx.AsyncClient, auth: dict[str, str], user: str, n: int) -> list[str]:
    """n top-ups of 1.00 to `user`: their transaction ids."""
    ids = []
    for _ in range(n):
        answer = await topup(api, auth, user, "1.00")
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["transactionId"])
    return ids


def handled_all(receiver: Any, transaction_ids: list[str]) -> bool:
    return set(transaction_ids) <= {event["transactionId"] for event in receiver.handled}


async def stream_after(conn: asyncpg.Connection, after: int, upto: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT sequence FROM api.events($1, 1000) WHERE sequence <= $2", after, upto
    )
    return [row["sequence"] for row in rows]


async def cursor_at(conn: asyncpg.Connection, webhook: int, sequence: int) -> bool:
    """The subscription's cursor has reached `sequence` (the worker records a 2xx just after the
    receiver sent it)."""
    after = await conn.fetchval("SELECT after_sequence FROM api.webhooks() WHERE id = $1", webhook)
    return bool(after >= sequence)


def metric(text: str, series: str) -> float:
    found = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.M)
    assert found, f"{series} not in /metrics"
    return float(found[1])


async def test_a_receiver_that_fails_then_times_out_then_answers_gets_every_event_in_order_signed(
    settings: Settings, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection,
    receiver_factory: Any, subscribe: Any,
) -> None:  # fmt: skip
    receiver = receiver_factory(script=["500", "late"])
    receiver.late_seconds = 1.0  # past the worker's 0.5 s
    async with running_app(settings, **FAST) as api:
        webhook, after = await subscribe(receiver.url)
        posted = await post_topups(api, auth, f"hook-{unique}", 12)
        await wait_until(lambda: handled_all(receiver, posted), 15, "every top-up delivered")
        await wait_until(lambda: cursor_at(admin_conn, webhook, receiver.accepted()[-1]), 5,
                       "the worker recorded what the receiver acknowledged")  # fmt: skip
        metrics = (await api.get("/metrics")).text
    first, second = receiver.requests[0], receiver.requests[1]
    assert (first.status, second.status) == (500, "late")
    # retried from the cursor: the failed requests' events came again, first of all
    third = next(r for r in receiver.requests if r.status == 204)
    assert first.sequences[0] == second.sequences[0] == third.sequences[0] == after + 1
    # the 2xx-answered requests carry the stream after the subscription's start: in order, no
    # gap, nothing twice, and the example receiver handled each event once
    accepted = receiver.accepted()
    assert accepted == await stream_after(admin_conn, after, accepted[-1])
    assert [int(event["sequence"]) for event in receiver.handled] == accepted
    for request in receiver.requests:
        header = request.headers["Wallet-Signature"]
        assert example.verify(SECRET.encode(), header, request.body), header
        assert request.headers["Wallet-Webhook-Id"] == str(webhook)
    event = next(e for e in receiver.handled if e["transactionId"] == posted[0])
    assert (event["type"], event["userId"], event["amount"]) == ("topup", f"hook-{unique}", "1.00")
    assert {leg["amount"] for leg in event["entries"]} == {"1.00", "-1.00"}
    row = await admin_conn.fetchrow("SELECT * FROM api.webhooks() WHERE id = $1", webhook)
    assert (row["status"], row["failures"], row["last_error"]) == ("active", 0, None)
    assert row["delivered"] == len(accepted)
    assert metric(metrics, 'wallet_webhook_deliveries_total{outcome="failed"}') >= 2
    assert metric(metrics, 'wallet_webhook_deliveries_total{outcome="delivered"}') >= 1
    assert metric(metrics, "wallet_webhook_events_delivered_total") >= len(accepted)


async def test_after_repeated_failures_a_subscription_is_failing_then_active_again(
    settings: Settings, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection,
    receiver_factory: Any, subscribe: Any,
) -> None:  # fmt: skip
    receiver = receiver_factory(script=["500"] * 4)
    async with running_app(settings, **FAST) as api:
        webhook, after = await subscribe(receiver.url)
        posted = await post_topups(api, auth, f"hook-{unique}", 2)

        async def status() -> Any:
            return await admin_conn.fetchrow("SELECT * FROM api.webhooks() WHERE id = $1", webhook)

        await wait_until(lambda: len(receiver.requests) >= 3, 10, "three attempts")
        failing = await status()
        await asyncio.sleep(0.2)  # a turn of the worker reads the subscriptions for /metrics
        metrics = (await api.get("/metrics")).text
        await wait_until(lambda: handled_all(receiver, posted), 15, "delivered in the end")

        await wait_until(lambda: cursor_at(admin_conn, webhook, receiver.accepted()[-1]), 5,
                       "the worker recorded what the receiver acknowledged")  # fmt: skip
        recovered = await status()
    assert failing["status"] == "failing" and failing["failures"] >= 3, dict(failing)
    assert failing["last_error"] == "HTTP 500"
    assert metric(metrics, 'wallet_webhook_subscriptions{status="failing"}') >= 1
    assert metric(metrics, "wallet_webhook_backlog_events") >= 2
    assert (recovered["status"], recovered["failures"]) == ("active", 0)
    # the waits between attempts grew (backoff): the last gap is longer than the first
    times = [r.at for r in receiver.requests[:5]]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[-1] > gaps[0], gaps
    assert receiver.accepted() == await stream_after(admin_conn, after, receiver.accepted()[-1])


async def test_a_dead_receiver_does_not_hold_up_another_subscription(
    settings: Settings, auth: dict[str, str], unique: str, receiver_factory: Any, subscribe: Any
) -> None:
    dead = receiver_factory(script=["hang"] * 100)  # never answers: every attempt times out
    alive = receiver_factory()
    async with running_app(settings, **{**FAST, "webhook_timeout_ms": 3000}) as api:
        await subscribe(dead.url)
        await subscribe(alive.url)
        started = time.monotonic()
        posted = await post_topups(api, auth, f"hook-{unique}", 3)
        await wait_until(lambda: handled_all(alive, posted), 10, "the live receiver served")
        took = time.monotonic() - started
        hanging = len(dead.requests)
    assert hanging >= 1, "the dead receiver was tried"
    assert took < 2.5, f"the live receiver waited {took:.2f} s behind the dead one's 3 s timeout"


async def test_only_the_subscribed_types_are_delivered(
    settings: Settings, auth: dict[str, str], unique: str, receiver_factory: Any, subscribe: Any
) -> None:
    receiver = receiver_factory()
    user = f"hook-{unique}"
    async with running_app(settings, **FAST) as api:
        await subscribe(receiver.url, ["spend"])
        await post_topups(api, auth, user, 2)
        body = {
            "userId": user,
            "assetTypeId": "asset-gold-coin-001",
            "amount": "0.50",
            "serviceDescription": "a sword",
        }
        headers = {**auth, "Idempotency-Key": f"spend-{unique}"}
        spent = await api.post("/api/v1/wallet/spend", json=body, headers=headers)
        assert spent.status_code == 201, spent.text
        await wait_until(
            lambda: handled_all(receiver, [spent.json()["transactionId"]]), 10, "the spend"
        )
    assert {event["type"] for event in receiver.handled} == {"spend"}


async def test_the_sealers_notify_wakes_the_worker_long_before_its_interval(
    settings: Settings, auth: dict[str, str], unique: str, receiver_factory: Any, subscribe: Any
) -> None:
    receiver = receiver_factory()
    async with running_app(settings, **{**FAST, "webhook_interval_ms": 20000}) as api:
        await asyncio.sleep(0.3)  # the worker's first turn is done; the next is 20 s away
        await subscribe(receiver.url)
        started = time.monotonic()
        posted = await post_topups(api, auth, f"hook-{unique}", 1)
        await wait_until(lambda: handled_all(receiver, posted), 5, "delivered")
    assert time.monotonic() - started < 3


async def test_the_receiver_refuses_a_replayed_or_altered_request(
    settings: Settings, auth: dict[str, str], unique: str, receiver_factory: Any, subscribe: Any
) -> None:
    receiver = receiver_factory()
    async with running_app(settings, **FAST) as api:
        await subscribe(receiver.url)
        posted = await post_topups(api, auth, f"hook-{unique}", 1)
        await wait_until(lambda: handled_all(receiver, posted), 10, "delivered")
    delivered = next(r for r in receiver.requests if r.status == 204)
    headers = {name: delivered.headers[name] for name in ("Wallet-Signature", "Content-Type")}
    handled = len(receiver.handled)
    async with httpx.AsyncClient() as client:
        altered = delivered.body.replace(b'"1.00"', b'"9.00"', 1)
        assert altered != delivered.body
        assert (
            await client.post(receiver.url, content=altered, headers=headers)
        ).status_code == 400
        again = await client.post(receiver.url, content=delivered.body, headers=headers)
        assert (
            again.status_code == 204
        )  # a redelivery within the tolerance: seen, not handled twice
        assert len(receiver.handled) == handled
        receiver.handler.tolerance = 1.0
        signed_at = int(headers["Wallet-Signature"].split(",")[0].removeprefix("t="))
        await asyncio.sleep(max(0.0, signed_at + 1.5 - time.time()))  # past the tolerance
        stale = await client.post(receiver.url, content=delivered.body, headers=headers)
        assert stale.status_code == 400  # a captured request replayed later
    assert not example.verify(SECRET.encode(), headers["Wallet-Signature"], delivered.body, 1.0)
    assert not example.verify(b"another-secret-0123456789", headers["Wallet-Signature"],
                              delivered.body)  # fmt: skip
