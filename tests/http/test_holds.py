"""Holds (issue 16) over HTTP: the routes (authorize, capture, void, read), their problems and
repeats, the scope; reads of a hold's transactions (hold, capture, release); and the service's
sweeper, which releases expired holds on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.config import RateLimit, Settings
from service.rules import SCOPE_HOLD, SCOPES, SWEEP_LOCK
from tests.support import (
    GOLD,
    assert_problem,
    gold_balance,
    money_headers,
    repeat_verdict,
    reverse,
    running_app,
    topup,
    wait_until,
)

Client = httpx.AsyncClient


async def test_reads_show_a_holds_hold_capture_and_release_transactions(
    api: Client, auth: dict[str, str], unique: str, service_conn: asyncpg.Connection
) -> None:
    """The ledger page and the transaction detail validate (their types are declared) for a hold,
    a partial capture (its rest released to the user), a whole capture (no user leg: no balance)
    and a void."""
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    authorize = "SELECT * FROM api.authorize_hold($1, $2, $3, 'Entry fee', $4)"
    first = await service_conn.fetchrow(authorize, user, GOLD, 3, f"h1-{unique}")
    second = await service_conn.fetchrow(authorize, user, GOLD, 2, f"h2-{unique}")
    third = await service_conn.fetchrow(authorize, user, GOLD, 1, f"h3-{unique}")
    assert first is not None and second is not None and third is not None
    capture = "SELECT * FROM api.capture_hold($1, $2, $3)"
    part = await service_conn.fetchrow(capture, first["hold_id"], 1, f"c1-{unique}")
    whole = await service_conn.fetchrow(capture, second["hold_id"], None, f"c2-{unique}")
    void = await service_conn.fetchrow(
        "SELECT * FROM api.void_hold($1, $2)", third["hold_id"], f"v3-{unique}"
    )
    assert part is not None and whole is not None and void is not None

    page = await api.get(f"/api/v1/wallet/{first['wallet_id']}/ledger", headers=auth)
    assert page.status_code == 200, page.text
    lines = [(e["type"], e["direction"], e["amount"]) for e in page.json()["entries"]]
    assert lines == [
        ("release", "credit", "1.00"),
        ("capture", "credit", "2.00"),
        ("hold", "debit", "1.00"),
        ("hold", "debit", "2.00"),
        ("hold", "debit", "3.00"),
        ("topup", "credit", "10.00"),
    ]
    assert page.json()["balance"] == "7.00"

    hold = await api.get(f"/api/v1/transactions/{first['transaction_id']}", headers=auth)
    assert hold.status_code == 200, hold.text
    assert (hold.json()["type"], hold.json()["amount"], hold.json()["balance"]) == (
        "hold",
        "3.00",
        "7.00",
    )
    assert any(e["account"].startswith("holds#") for e in hold.json()["entries"] if e["account"])
    captured = await api.get(f"/api/v1/transactions/{part['transaction_id']}", headers=auth)
    assert captured.status_code == 200, captured.text
    assert (captured.json()["type"], captured.json()["amount"]) == ("capture", "1.00")
    all_of_it = await api.get(f"/api/v1/transactions/{whole['transaction_id']}", headers=auth)
    assert all_of_it.status_code == 200, all_of_it.text
    body = all_of_it.json()
    assert (body["type"], body["amount"], body["balance"], body["userId"]) == (
        "capture",
        "2.00",
        None,
        user,
    )
    released = await api.get(f"/api/v1/transactions/{void['transaction_id']}", headers=auth)
    assert released.status_code == 200, released.text
    assert (released.json()["type"], released.json()["amount"]) == ("release", "1.00")


# ----------------------------------------------------------------------------------------------
# The routes
# ----------------------------------------------------------------------------------------------
async def authorize(
    api: Client, auth: dict[str, str], user: str, amount: str, key: str | None = None, **extra: Any
) -> httpx.Response:
    body = {"userId": user, "assetTypeId": GOLD, "amount": amount, "description": "Entry fee"}
    return await api.post(
        "/api/v1/wallet/holds", json={**body, **extra}, headers=money_headers(auth, key)
    )


async def capture(
    api: Client, auth: dict[str, str], hold: str, key: str | None = None, **body: Any
) -> httpx.Response:
    return await api.post(
        f"/api/v1/holds/{hold}/capture", json=body, headers=money_headers(auth, key)
    )


async def void(
    api: Client, auth: dict[str, str], hold: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = money_headers(auth, key)
    if body:
        return await api.post(f"/api/v1/holds/{hold}/void", json=body, headers=headers)
    return await api.post(f"/api/v1/holds/{hold}/void", headers=headers)


async def held(api: Client, auth: dict[str, str], user: str, amount: str, **extra: Any) -> str:
    """The id of a new hold of `amount` gold coins of `user`."""
    response = await authorize(api, auth, user, amount, **extra)
    assert response.status_code == 201, response.text
    hold_id: str = response.json()["holdId"]
    return hold_id


async def read_hold(api: Client, auth: dict[str, str], hold: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/holds/{hold}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_authorize_then_capture_a_part_gives_the_rest_back(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    response = await authorize(api, auth, user, "4.00", expiresInSeconds=600, metadata={"m": 1})
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == [
        "holdId",
        "transactionId",
        "status",
        "userId",
        "assetTypeId",
        "amount",
        "remaining",
        "balance",
        "walletId",
        "expiresAt",
        "createdAt",
    ]
    assert (body["status"], body["userId"], body["assetTypeId"]) == ("open", user, GOLD)
    assert (body["amount"], body["remaining"], body["balance"]) == ("4.00", "4.00", "6.00")
    created = datetime.fromisoformat(body["createdAt"])
    assert datetime.fromisoformat(body["expiresAt"]) - created == timedelta(seconds=600)
    assert await gold_balance(api, auth, user) == "6.00"
    hold = body["holdId"]
    opened = await read_hold(api, auth, hold)
    assert (opened["status"], opened["remaining"], opened["resolveTransactionId"]) == (
        "open",
        "4.00",
        None,
    )
    assert opened["holdTransactionId"] == body["transactionId"]
    assert opened["description"] == "Entry fee"

    captured = await capture(api, auth, hold, amount="1.50")
    assert captured.status_code == 201, captured.text
    c = captured.json()
    assert (c["holdId"], c["status"], c["amount"], c["capturedAmount"], c["releasedAmount"]) == (
        hold,
        "captured",
        "4.00",
        "1.50",
        "2.50",
    )
    assert c["balance"] == "8.50" and c["resolvedAt"]
    assert await gold_balance(api, auth, user) == "8.50"
    after = await read_hold(api, auth, hold)
    assert (after["status"], after["capturedAmount"], after["releasedAmount"]) == (
        "captured",
        "1.50",
        "2.50",
    )
    assert (after["remaining"], after["resolveTransactionId"]) == ("0.00", c["transactionId"])


async def test_a_whole_capture_and_a_void(api: Client, auth: dict[str, str], unique: str) -> None:
    """A capture without an amount takes all (no user leg: balance null); a void gives all back;
    a hold without expiresInSeconds expires in 15 minutes."""
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    first = await authorize(api, auth, user, "3.00")
    assert first.status_code == 201, first.text
    created = datetime.fromisoformat(first.json()["createdAt"])
    expires = datetime.fromisoformat(first.json()["expiresAt"])
    assert expires - created == timedelta(minutes=15)
    whole = await capture(api, auth, first.json()["holdId"])
    assert whole.status_code == 201, whole.text
    assert (whole.json()["capturedAmount"], whole.json()["releasedAmount"]) == ("3.00", "0.00")
    assert whole.json()["balance"] is None
    second = await held(api, auth, user, "2.00")
    voided = await void(api, auth, second, metadata={"why": "match cancelled"})
    assert voided.status_code == 201, voided.text
    v = voided.json()
    assert (v["status"], v["capturedAmount"], v["releasedAmount"], v["balance"]) == (
        "voided",
        "0.00",
        "2.00",
        "7.00",
    )
    assert (await read_hold(api, auth, second))["status"] == "voided"
    assert await gold_balance(api, auth, user) == "7.00"


async def test_hold_problems_answer_their_codes_and_move_nothing(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    # no sweeper during the test: an expired hold stays open, unswept
    async with running_app(settings, hold_sweep_seconds=0) as api:
        assert (await topup(api, auth, user, "10.00")).status_code == 201
        assert_problem(await authorize(api, auth, user, "10.01"), 422, "insufficient_funds")
        assert_problem(
            await authorize(api, auth, f"nobody-{unique}", "1.00"), 422, "insufficient_funds"
        )
        assert_problem(
            await authorize(api, auth, user, "1.00", assetTypeId="asset-nope"), 422, "unknown_asset"
        )
        for seconds in (0, -1, 2592001, 10**12):
            response = await authorize(api, auth, user, "1.00", expiresInSeconds=seconds)
            assert_problem(response, 400, "invalid_hold_expiry")
        assert_problem(await authorize(api, auth, user, "0.00"), 422, "invalid_amount")
        for missing in ("9999999999", "abc", "0", "01"):
            assert_problem(await capture(api, auth, missing), 404, "hold_not_found")
            assert_problem(await void(api, auth, missing), 404, "hold_not_found")
            response = await api.get(f"/api/v1/holds/{missing}", headers=auth)
            assert_problem(response, 404, "hold_not_found")

        hold = await held(api, auth, user, "4.00")
        problem = assert_problem(
            await capture(api, auth, hold, amount="4.01"), 422, "capture_exceeds_hold"
        )
        assert "4.00" in problem["detail"], problem
        assert (await void(api, auth, hold)).status_code == 201
        for again in (capture(api, auth, hold), void(api, auth, hold)):
            problem = assert_problem(await again, 409, "hold_not_open")
            assert "voided" in problem["detail"], problem

        due = await held(api, auth, user, "5.00", expiresInSeconds=1)
        assert await gold_balance(api, auth, user) == "5.00"
        await asyncio.sleep(1.2)
        assert_problem(await capture(api, auth, due), 409, "hold_expired")
        assert_problem(await void(api, auth, due), 409, "hold_expired")
        assert (await read_hold(api, auth, due))["status"] == "open"  # not swept
        assert await gold_balance(api, auth, user) == "5.00"

        body = {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "description": "x"}
        for path, json in (
            ("/api/v1/wallet/holds", body),
            (f"/api/v1/holds/{hold}/capture", {}),
            (f"/api/v1/holds/{hold}/void", None),
        ):
            response = await api.post(path, json=json, headers=auth)
            assert_problem(response, 400, "idempotency_key_missing")
        unknown = {**body, "expiresIn": 5}
        response = await api.post("/api/v1/wallet/holds", json=unknown, headers=money_headers(auth))
        assert_problem(response, 400, "validation_failed")
        assert await gold_balance(api, auth, user) == "5.00"


@pytest.mark.parametrize("flush", [False, True])
async def test_repeats_answer_the_same_body_and_move_nothing_twice(
    api: Client, auth: dict[str, str], unique: str, redis_client: Redis, flush: bool
) -> None:
    """Answered by Redis, then (after FLUSHDB) by the ledger's own keys."""
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    key = f"hold-{unique}"
    first = await authorize(api, auth, user, "4.00", key, metadata={"a": 1.5})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    hold = first.json()["holdId"]
    captured = await capture(api, auth, hold, f"cap-{unique}", amount="1.00")
    assert captured.status_code == 201, captured.text
    second = await held(api, auth, user, "2.00")
    voided = await void(api, auth, second, f"void-{unique}")
    assert voided.status_code == 201, voided.text
    if flush:
        await redis_client.flushdb()
    # the authorization's repeat answers as first answered, though the hold is captured since
    again = await authorize(api, auth, user, "4", key, metadata={"a": 1.50})
    assert repeat_verdict(first, again) == "replayed"
    with_default = await authorize(
        api, auth, user, "4.00", key, expiresInSeconds=900, metadata={"a": 1.5}
    )
    assert repeat_verdict(first, with_default) == "replayed"
    assert (
        repeat_verdict(captured, await capture(api, auth, hold, f"cap-{unique}", amount="1"))
        == "replayed"
    )
    assert repeat_verdict(voided, await void(api, auth, second, f"void-{unique}")) == "replayed"
    for changed in (
        {"amount": "4.01"},
        {"description": "Other"},
        {"expiresInSeconds": 60},
        {"metadata": {}},
    ):
        extra = {"metadata": {"a": 1.5}, **changed}
        amount = extra.pop("amount", "4.00")
        response = await authorize(api, auth, user, amount, key, **extra)
        assert repeat_verdict(first, response) == "idempotency_key_reused"
    assert (
        repeat_verdict(captured, await capture(api, auth, hold, f"cap-{unique}"))
        == "idempotency_key_reused"
    )
    assert (
        repeat_verdict(voided, await capture(api, auth, second, f"void-{unique}"))
        == "idempotency_key_reused"
    )
    assert (
        repeat_verdict(voided, await void(api, auth, hold, f"void-{unique}"))
        == "idempotency_key_reused"
    )
    assert await gold_balance(api, auth, user) == "9.00"


@pytest.mark.parametrize("flush", [False, True])
async def test_a_whole_capture_and_its_amount_are_the_same_request(
    api: Client, auth: dict[str, str], unique: str, redis_client: Redis, flush: bool
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    verdicts = []
    for first, second in (
        ({}, {"amount": "3.00"}),
        ({"amount": "3"}, {}),
        ({"amount": "2.00"}, {}),
    ):
        hold = await held(api, auth, user, "3.00")
        key = f"same-{unique}-{len(verdicts)}"
        answer = await capture(api, auth, hold, key, **first)
        assert answer.status_code == 201, answer.text
        if flush:
            await redis_client.flushdb()
        verdicts.append(repeat_verdict(answer, await capture(api, auth, hold, key, **second)))
    assert verdicts == ["replayed", "replayed", "idempotency_key_reused"]


async def test_holds_need_the_hold_scope_and_reading_one_the_read_scope(
    settings: Settings, new_key: Callable[..., str], unique: str
) -> None:
    user = f"u-{unique}"
    everything_else = {"Authorization": f"Bearer {new_key([s for s in SCOPES if s != SCOPE_HOLD])}"}
    holds_only = {"Authorization": f"Bearer {new_key([SCOPE_HOLD])}"}
    async with running_app(settings) as api:
        assert (await topup(api, everything_else, user, "10.00")).status_code == 201
        for refused in (
            await authorize(api, everything_else, user, "1.00"),
            await capture(api, everything_else, "1"),
            await void(api, everything_else, "1"),
        ):
            problem = assert_problem(refused, 403, "forbidden")
            assert "wallet:hold" in problem["detail"], problem
        hold = await held(api, holds_only, user, "1.00")
        response = await api.get(f"/api/v1/holds/{hold}", headers=holds_only)
        assert "wallet:read" in assert_problem(response, 403, "forbidden")["detail"]
        assert (await read_hold(api, everything_else, hold))["status"] == "open"
        assert (await void(api, holds_only, hold)).status_code == 201
        assert await gold_balance(api, everything_else, user) == "10.00"


async def test_authorizations_count_against_the_users_transaction_limit(
    settings: Settings, key: str, unique: str
) -> None:
    """An authorization moves the user's money: the user's transaction limit counts it (a
    capture or void names no user, as a reversal does not)."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    limits = {"rate_limit_transactions": RateLimit(3, 3600), "rate_limit_general": None}
    async with running_app(settings, **limits) as api:
        assert (await topup(api, auth, user, "10.00")).status_code == 201
        holds = [await held(api, auth, user, "1.00") for _ in range(2)]
        assert_problem(await authorize(api, auth, user, "1.00"), 429, "rate_limited")
        assert_problem(await topup(api, auth, user, "1.00"), 429, "rate_limited")
        assert (await capture(api, auth, holds[0])).status_code == 201
        assert (await void(api, auth, holds[1])).status_code == 201
    async with running_app(settings) as api:
        assert await gold_balance(api, auth, user) == "9.00"


# ----------------------------------------------------------------------------------------------
# The sweeper (service/sweeper.py)
# ----------------------------------------------------------------------------------------------
async def status_of(conn: asyncpg.Connection, hold: str) -> str:
    """The hold's status read in SQL: no HTTP call the service could act on."""
    status: str = await conn.fetchval("SELECT status::text FROM api.get_hold($1)", int(hold))
    return status


async def test_the_running_service_releases_an_expired_hold_within_the_bound(
    settings: Settings, key: str, unique: str, service_conn: asyncpg.Connection
) -> None:
    """With WALLET_HOLD_SWEEP_SECONDS=1, a hold of 1 second is released by the service on its
    own within 1 s of its expiry (plus a sweep's run and the test's polling: 1.5 s allowed)."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    async with running_app(settings, hold_sweep_seconds=1) as api:
        assert (await topup(api, auth, user, "10.00")).status_code == 201
        response = await authorize(api, auth, user, "4.00", expiresInSeconds=1)
        assert response.status_code == 201, response.text
        hold, expires = response.json()["holdId"], response.json()["expiresAt"]
        assert await gold_balance(api, auth, user) == "6.00"
        while await status_of(service_conn, hold) == "open":
            await asyncio.sleep(0.05)
        released_at = datetime.now(UTC)
        late = released_at - datetime.fromisoformat(expires)
        assert late <= timedelta(seconds=2.5), late
        detail = await read_hold(api, auth, hold)
        assert (detail["status"], detail["releasedAmount"], detail["remaining"]) == (
            "expired",
            "4.00",
            "0.00",
        )
        resolved = datetime.fromisoformat(detail["resolvedAt"])
        assert timedelta(0) <= resolved - datetime.fromisoformat(expires) <= timedelta(seconds=2)
        assert await gold_balance(api, auth, user) == "10.00"
        release = await api.get(
            f"/api/v1/transactions/{detail['resolveTransactionId']}", headers=auth
        )
        assert (release.json()["type"], release.json()["amount"]) == ("release", "4.00")
        assert_problem(await capture(api, auth, hold), 409, "hold_not_open")


async def test_one_sweeper_at_a_time_the_others_skip_their_turn(
    settings: Settings, key: str, unique: str, service_conn: asyncpg.Connection
) -> None:
    """While another session holds the sweep's advisory lock (a sweep running elsewhere), the
    service's sweeper skips its turns and never waits; once it is free, the next turn sweeps."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    locked = "SELECT pg_try_advisory_lock($1, $2)"
    async with running_app(settings, hold_sweep_seconds=1) as api:
        assert (await topup(api, auth, user, "10.00")).status_code == 201
        # between two of the app's own sweeps (each holds the lock for a moment, every second)
        await wait_until(
            lambda: service_conn.fetchval(locked, *SWEEP_LOCK), 5, "the sweep's lock taken"
        )
        before = await sweep_metrics(api)
        hold = await held(api, auth, user, "4.00", expiresInSeconds=1)
        await asyncio.sleep(3)
        assert await status_of(service_conn, hold) == "open"
        assert await gold_balance(api, auth, user) == "6.00"
        skipping = await sweep_metrics(api)
        assert skipping["skipped"] - before["skipped"] >= 2, (before, skipping)
        assert skipping["expired"] == before["expired"]
        await service_conn.execute("SELECT pg_advisory_unlock($1, $2)", *SWEEP_LOCK)
        for _ in range(60):
            if await status_of(service_conn, hold) == "expired":
                break
            await asyncio.sleep(0.05)
        assert await status_of(service_conn, hold) == "expired"
        assert await gold_balance(api, auth, user) == "10.00"
        swept = await sweep_metrics(api)
        assert swept["swept"] > skipping["swept"], (skipping, swept)
        assert swept["expired"] - skipping["expired"] >= 1, "the release counted in /metrics"
        assert swept["failed"] == before["failed"]


async def sweep_metrics(api: httpx.AsyncClient) -> dict[str, float]:
    """The sweepers' series in /metrics: sweeps by outcome, and holds expired."""
    text = (await api.get("/metrics")).text
    values = {"swept": 0.0, "skipped": 0.0, "failed": 0.0, "expired": 0.0}
    for line in text.splitlines():
        for outcome in ("swept", "skipped", "failed"):
            if line.startswith(f'wallet_hold_sweeps_total{{outcome="{outcome}"}}'):
                values[outcome] = float(line.split()[-1])
        if line.startswith("wallet_holds_expired_total "):
            values["expired"] = float(line.split()[-1])
    return values


async def test_two_services_sweeping_release_each_hold_once(
    settings: Settings, key: str, unique: str, service_conn: asyncpg.Connection
) -> None:
    """Two apps (as two workers or instances) with sweepers every second: 20 due holds are each
    released once (the user's version: 1 top-up + 20 holds + 20 releases)."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    async with running_app(settings, hold_sweep_seconds=0) as api:
        assert (await topup(api, auth, user, "20.00")).status_code == 201
        holds = [await held(api, auth, user, "1.00", expiresInSeconds=1) for _ in range(20)]
    async with (
        running_app(settings, hold_sweep_seconds=1),
        running_app(settings, hold_sweep_seconds=1),
    ):
        for _ in range(100):
            statuses = {await status_of(service_conn, h) for h in holds}
            if statuses == {"expired"}:
                break
            await asyncio.sleep(0.05)
    assert statuses == {"expired"}
    row = await service_conn.fetchrow(
        "SELECT balance, version FROM api.balances($1, $2)", user, GOLD
    )
    assert (str(row["balance"]), row["version"]) == ("20.00", 41)


async def test_a_holds_transactions_are_not_reversible(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    response = await authorize(api, auth, user, "4.00")
    assert response.status_code == 201, response.text
    captured = await capture(api, auth, response.json()["holdId"], amount="1.00")
    assert captured.status_code == 201, captured.text
    for transaction in (response.json()["transactionId"], captured.json()["transactionId"]):
        refused = await reverse(api, auth, transaction)
        assert_problem(refused, 422, "not_reversible")
    assert await gold_balance(api, auth, user) == "9.00"


async def test_captures_and_voids_racing_on_one_hold_resolve_it_once(
    settings: Settings, key: str, unique: str
) -> None:
    """20 captures and 20 voids of one hold at once, each with its own key: one 201, 39
    409 hold_not_open, and the balance agrees with whichever won."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    async with running_app(settings, rate_limit_general=None) as api:
        assert (await topup(api, auth, user, "10.00")).status_code == 201
        hold = await held(api, auth, user, "4.00")
        answers = await asyncio.gather(
            *(capture(api, auth, hold, amount="1.00") for _ in range(20)),
            *(void(api, auth, hold) for _ in range(20)),
        )
        won = [a for a in answers if a.status_code == 201]
        assert len(won) == 1, [a.status_code for a in answers]
        for lost in answers:
            if lost.status_code != 201:
                assert_problem(lost, 409, "hold_not_open")
        expected = "9.00" if won[0].json()["status"] == "captured" else "10.00"
        assert won[0].json()["balance"] == expected
        assert await gold_balance(api, auth, user) == expected


async def test_the_openapi_document_has_the_hold_routes(api: Client) -> None:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    assert {"/api/v1/wallet/holds", "/api/v1/holds/{holdId}"} <= set(paths)
    assert paths["/api/v1/holds/{holdId}/capture"]["post"]["requestBody"]["required"] is True
    assert paths["/api/v1/holds/{holdId}/void"]["post"]["requestBody"]["required"] is False
    authorize = paths["/api/v1/wallet/holds"]["post"]
    assert {"201", "400", "403", "422"} <= set(authorize["responses"])
    assert "invalid_hold_expiry" in authorize["responses"]["400"]["description"]
    assert (
        "hold_expired"
        in paths["/api/v1/holds/{holdId}/void"]["post"]["responses"]["409"]["description"]
    )


async def test_the_balance_answer_shows_held_and_total(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    """balance is what the user can spend now; held the open holds; total their sum."""
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    first = await held(api, auth, user, "4.00")
    await held(api, auth, user, "1.50")

    async def gold() -> tuple[str, str, str]:
        response = await api.get(
            f"/api/v1/wallet/{user}/balance", params={"assetTypeId": GOLD}, headers=auth
        )
        assert response.status_code == 200, response.text
        row = response.json()["balances"][0]
        return row["balance"], row["held"], row["total"]

    assert await gold() == ("4.50", "5.50", "10.00")
    assert (await capture(api, auth, first, amount="1.00")).status_code == 201
    assert await gold() == ("7.50", "1.50", "9.00")
    response = await api.get(f"/api/v1/wallet/nobody-{unique}/balance", headers=auth)
    assert {(b["balance"], b["held"], b["total"]) for b in response.json()["balances"]} == {
        ("0.00", "0.00", "0.00")
    }
