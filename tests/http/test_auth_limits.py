"""API keys and scopes, rate limits and their headers, and Redis failing open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
from redis.asyncio import Redis

from service.config import RateLimit, Settings
from service.keys import create_key, revoke_key
from tests.support import GOLD, assert_problem, money_headers, running_app, topup

Client = httpx.AsyncClient


async def test_no_key_or_an_unknown_key_is_unauthenticated(api: Client, unique: str) -> None:
    path = f"/api/v1/wallet/u-{unique}/balance"
    for headers in (
        {},
        {"Authorization": "Bearer wk_not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ):
        response = await api.get(path, headers=headers)
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")
    response = await api.post("/api/v1/wallet/topup", json={}, headers={"Idempotency-Key": "k"})
    assert_problem(response, 401, "unauthenticated")


async def test_each_route_needs_its_scope(
    api: Client, new_key: Callable[..., str], unique: str
) -> None:
    read_only = {"Authorization": f"Bearer {new_key(['wallet:read'])}"}
    topup_only = {"Authorization": f"Bearer {new_key(['wallet:topup'])}"}
    await asyncio.sleep(0.5)  # keys made after the app started: seen on their NOTIFY
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"}
    for path, extra in (
        ("/api/v1/wallet/topup", {}),
        ("/api/v1/wallet/bonus", {"reason": "r"}),
        ("/api/v1/wallet/spend", {"serviceDescription": "d"}),
    ):
        response = await api.post(
            path, json={**body, **extra}, headers={**read_only, "Idempotency-Key": "k"}
        )
        problem = assert_problem(response, 403, "forbidden")
        assert "wallet:" in problem["detail"]
    assert (await topup(api, topup_only, f"u-{unique}", "1.00")).status_code == 201
    response = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=topup_only)
    assert_problem(response, 403, "forbidden")
    assert (await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=read_only)).is_success


async def test_a_revoked_key_stops_working_within_seconds(
    api: Client, settings: Settings, unique: str
) -> None:
    name = f"revoke-{unique}"
    key = create_key(settings.admin_database_url, name, ["wallet:read"]).key
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 10
    while (await api.get("/health")).is_success and time.monotonic() < deadline:
        response = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=headers)
        if response.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert response.status_code == 200, "a new key works within moments (NOTIFY)"
    revoke_key(settings.admin_database_url, name)
    started = time.monotonic()
    while time.monotonic() - started < 10:
        response = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=headers)
        if response.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert_problem(response, 401, "unauthenticated")
    assert time.monotonic() - started < 10


async def test_general_limit_per_key_answers_429_with_retry_after(
    settings: Settings, key: str, unique: str
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, rate_limit_general=RateLimit(3, 60)) as api:
        answers = [
            await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=headers) for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert all(a.headers["ratelimit-limit"] == "3" for a in answers)
    limited = assert_problem(answers[3], 429, "rate_limited")
    assert "API key" in limited["detail"]
    retry_after = int(answers[3].headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert int(answers[3].headers["ratelimit-reset"]) == retry_after


async def test_limits_hold_across_app_instances_sharing_redis(
    settings: Settings, key: str, unique: str
) -> None:
    """Two workers (here two app instances) count against the same Redis counters."""
    headers = {"Authorization": f"Bearer {key}"}
    path = f"/api/v1/wallet/u-{unique}/balance"
    limit = RateLimit(3, 60)
    async with (
        running_app(settings, rate_limit_general=limit) as one,
        running_app(settings, rate_limit_general=limit) as two,
    ):
        statuses = [
            (await app.get(path, headers=headers)).status_code for app in (one, two, one, two)
        ]
    assert statuses == [200, 200, 200, 429]


async def test_transaction_limit_is_per_user_and_replays_do_not_count(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, rate_limit_transactions=RateLimit(2, 60)) as api:
        first_key = {**auth, "Idempotency-Key": f"a-{unique}"}
        body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"}
        first = await api.post("/api/v1/wallet/topup", json=body, headers=first_key)
        assert first.status_code == 201 and first.headers["ratelimit-remaining"] == "1"
        replay = await api.post("/api/v1/wallet/topup", json=body, headers=first_key)
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
        assert (await topup(api, auth, f"u-{unique}", "1.00")).status_code == 201
        third = await topup(api, auth, f"u-{unique}", "1.00")
        assert_problem(third, 429, "rate_limited")
        assert "transaction" in third.json()["detail"] and third.headers["retry-after"]
        other_user = await topup(api, auth, f"v-{unique}", "1.00")
        assert other_user.status_code == 201, "the limit is per user"
        reads = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
        assert reads.status_code == 200, "reads do not count against the transaction limit"
        assert reads.json()["balances"][1]["balance"] == "2.00", "the refused top-up moved nothing"


async def test_requests_the_ledger_refuses_as_invalid_do_not_use_up_a_users_quota(
    settings: Settings, key: str, new_key: Callable[..., str], unique: str
) -> None:
    """Any key can name any user: requests that could never move money (an amount of 0, an
    unknown asset, metadata too large) must not use up the victim's transaction limit.
    Insufficient funds is a real attempt on the user's money and counts."""
    victim = {"Authorization": f"Bearer {key}"}
    attacker = {"Authorization": f"Bearer {new_key()}"}
    user = f"u-{unique}"
    # an hour's window: a window ending during the test would reset the count it checks
    async with running_app(settings, rate_limit_transactions=RateLimit(3, 3600)) as api:
        invalid = [
            {"userId": user, "assetTypeId": GOLD, "amount": "0"},
            {"userId": user, "assetTypeId": GOLD, "amount": "1.001"},
            {"userId": user, "assetTypeId": "asset-nope", "amount": "1.00"},
            {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "metadata": {"a": "x" * 5000}},
        ]
        for body in invalid * 3:
            refused = await api.post(
                "/api/v1/wallet/topup", json=body, headers=money_headers(attacker)
            )
            assert refused.status_code in (400, 422), refused.text
        answers = [await topup(api, victim, user, "1.00") for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201], "the victim's quota is whole"
        spend = {"userId": user, "assetTypeId": GOLD, "amount": "99.00", "serviceDescription": "x"}
        short = await api.post("/api/v1/wallet/spend", json=spend, headers=money_headers(victim))
        assert_problem(short, 422, "insufficient_funds")
        assert_problem(await topup(api, victim, user, "1.00"), 429, "rate_limited")


async def test_limits_off_send_no_ratelimit_headers(api: Client, auth: dict[str, str]) -> None:
    response = await api.get("/api/v1/wallet/user-rich-001/balance", headers=auth)
    assert response.status_code == 200 and "ratelimit-limit" not in response.headers


async def test_without_redis_money_still_moves_exactly_once_and_health_is_degraded(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(
        settings,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens there
        rate_limit_general=RateLimit(1, 60),
        rate_limit_transactions=RateLimit(1, 60),
    ) as api:
        health = await api.get("/health")
        assert health.status_code == 200
        assert health.json() == {
            "status": "degraded",
            "checks": {"postgres": "ok", "redis": "unreachable"},
        }
        sent = {**auth, "Idempotency-Key": f"no-redis-{unique}"}
        body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "3.00"}
        answers = [
            await api.post("/api/v1/wallet/topup", json=body, headers=sent) for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [201, 201, 201], "limits fail open"
        assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
        assert len({a.json()["transactionId"] for a in answers}) == 1
        assert all(a.json() == answers[0].json() for a in answers), (
            "the ledger's replay is the same answer"
        )
        balance = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
        assert balance.json()["balances"][1]["balance"] == "3.00"
        metrics = (await api.get("/metrics")).text
        failures = [
            line for line in metrics.splitlines() if line.startswith("wallet_redis_failures_total")
        ]
        assert failures and float(failures[0].split()[-1]) >= 4, "admits and stores that failed"


async def test_replay_after_redis_is_flushed_comes_from_the_ledger(
    api: Client, auth: dict[str, str], unique: str, redis_client: Redis
) -> None:
    sent = {**auth, "Idempotency-Key": f"flush-{unique}"}
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "9.99", "metadata": {"n": 1}}
    first = await api.post("/api/v1/wallet/topup", json=body, headers=sent)
    assert first.status_code == 201
    await redis_client.flushdb()
    again = await api.post("/api/v1/wallet/topup", json=body, headers=sent)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content, "the same answer, byte for byte"
    changed = await api.post("/api/v1/wallet/topup", json={**body, "amount": "1.00"}, headers=sent)
    assert_problem(changed, 422, "idempotency_key_reused")
    balance = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
    assert balance.json()["balances"][1]["balance"] == "9.99"
