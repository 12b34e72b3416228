"""Reads over HTTP (balance, ledger pages, one transaction) and what every response carries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import msgspec

from service.config import Settings
from service.http.wire import LedgerResponse, TransactionDetail, TransactionType
from service.rules import SCOPE_AUDIT, SCOPE_READ, SCOPE_TOPUP
from tests.support import GOLD, assert_problem, running_app, topup

Client = httpx.AsyncClient


async def test_balance_lists_every_asset_with_zero_where_no_wallet_exists(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "12.5")).status_code == 201
    response = await api.get(f"/api/v1/wallet/{user}/balance", headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userId"] == user
    by_asset = {b["assetTypeId"]: b for b in body["balances"]}
    assert set(by_asset) == {GOLD, "asset-diamond-001", "asset-loyalty-001"}
    gold = by_asset[GOLD]
    assert (gold["assetCode"], gold["assetName"], gold["balance"], gold["version"]) == (
        "GOLD_COIN",
        "Gold Coins",
        "12.50",
        1,
    )
    assert gold["walletId"].isdigit() and gold["updatedAt"]
    diamonds = by_asset["asset-diamond-001"]
    assert (diamonds["balance"], diamonds["walletId"], diamonds["version"]) == ("0.00", None, 0)


async def test_balance_of_one_asset_and_of_an_unknown_asset(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    response = await api.get(
        f"/api/v1/wallet/u-{unique}/balance", params={"assetTypeId": GOLD}, headers=auth
    )
    assert response.status_code == 200
    assert [b["assetTypeId"] for b in response.json()["balances"]] == [GOLD]
    response = await api.get(
        f"/api/v1/wallet/u-{unique}/balance", params={"assetTypeId": "asset-nope"}, headers=auth
    )
    assert_problem(response, 404, "asset_not_found")


async def test_balance_of_a_malformed_user_id_is_validation_failed(
    api: Client, auth: dict[str, str]
) -> None:
    response = await api.get("/api/v1/wallet/bad%20user/balance", headers=auth)
    problem = assert_problem(response, 400, "validation_failed")
    assert problem["errors"][0]["field"] == "userId"


async def test_seeded_users_have_their_opening_balances(api: Client, auth: dict[str, str]) -> None:
    response = await api.get("/api/v1/wallet/user-new-002/balance", headers=auth)
    by_asset = {b["assetTypeId"]: b["balance"] for b in response.json()["balances"]}
    assert by_asset["asset-loyalty-001"] != "0.00" and by_asset[GOLD] != "0.00"


async def _wallet_with_entries(api: Client, auth: dict[str, str], user: str, count: int) -> str:
    for i in range(count):
        assert (await topup(api, auth, user, f"{i + 1}.00")).status_code == 201
    response = await api.get(
        f"/api/v1/wallet/{user}/balance", params={"assetTypeId": GOLD}, headers=auth
    )
    wallet_id: str = response.json()["balances"][0]["walletId"]
    return wallet_id


async def test_ledger_pages_newest_first_by_offset_and_by_cursor(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    wallet = await _wallet_with_entries(api, auth, user, 5)
    first = await api.get(f"/api/v1/wallet/{wallet}/ledger", params={"limit": 2}, headers=auth)
    assert first.status_code == 200, first.text
    page = first.json()
    assert (page["walletId"], page["userId"], page["assetTypeId"], page["balance"]) == (
        wallet,
        user,
        GOLD,
        "15.00",
    )
    assert [e["amount"] for e in page["entries"]] == ["5.00", "4.00"]
    entry = page["entries"][0]
    assert (entry["type"], entry["direction"], entry["balanceAfter"]) == (
        "topup",
        "credit",
        "15.00",
    )
    assert entry["entryId"] and entry["transactionId"] and entry["createdAt"]
    assert entry["metadata"] == {}

    # new entries arrive; the cursor still continues exactly where the first page ended
    assert (await topup(api, auth, user, "100.00")).status_code == 201
    amounts: list[str] = []
    cursor = page["nextCursor"]
    while cursor is not None:
        response = await api.get(
            f"/api/v1/wallet/{wallet}/ledger", params={"limit": 2, "cursor": cursor}, headers=auth
        )
        assert response.status_code == 200
        amounts += [e["amount"] for e in response.json()["entries"]]
        cursor = response.json()["nextCursor"]
    assert amounts == ["3.00", "2.00", "1.00"]

    by_offset = await api.get(
        f"/api/v1/wallet/{wallet}/ledger", params={"limit": 2, "offset": 2}, headers=auth
    )
    assert [e["amount"] for e in by_offset.json()["entries"]] == ["4.00", "3.00"]
    last = await api.get(f"/api/v1/wallet/{wallet}/ledger", params={"limit": 200}, headers=auth)
    assert len(last.json()["entries"]) == 6 and last.json()["nextCursor"] is None


async def test_system_account_ledgers_need_the_audit_scope(
    settings: Settings, new_key: Callable[..., str], admin_conn: asyncpg.Connection, unique: str
) -> None:
    """Treasury and Revenue slots carry every client's descriptions, metadata and user ids: a
    reader sees them only with wallet:audit; user wallets read as before."""
    reader = {"Authorization": f"Bearer {new_key([SCOPE_READ, SCOPE_TOPUP])}"}
    auditor = {"Authorization": f"Bearer {new_key([SCOPE_READ, SCOPE_AUDIT])}"}
    async with running_app(settings) as api:
        await _audit_scope_checks(api, reader, auditor, admin_conn, unique)


async def _audit_scope_checks(
    api: Client,
    reader: dict[str, str],
    auditor: dict[str, str],
    admin_conn: asyncpg.Connection,
    unique: str,
) -> None:
    user_wallet = await _wallet_with_entries(api, reader, f"u-{unique}", 1)
    system_wallets = await admin_conn.fetch(
        "SELECT id FROM ledger.wallets WHERE kind <> 'user' AND version > 0 ORDER BY id LIMIT 3"
    )
    assert system_wallets, "the seed posts through system accounts"
    for row in system_wallets:
        path = f"/api/v1/wallet/{row['id']}/ledger"
        refused = await api.get(path, headers=reader)
        problem = assert_problem(refused, 403, "forbidden")
        assert SCOPE_AUDIT in problem["detail"] and "entries" not in problem
        allowed = await api.get(path, headers=auditor)
        assert allowed.status_code == 200 and allowed.json()["userId"] is None
    for headers in (reader, auditor):
        mine = await api.get(f"/api/v1/wallet/{user_wallet}/ledger", headers=headers)
        assert mine.status_code == 200 and len(mine.json()["entries"]) == 1


async def test_ledger_arguments_out_of_range_are_validation_failed(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    wallet = await _wallet_with_entries(api, auth, f"u-{unique}", 1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "5", "offset": "1"}, "offset"),
    ]
    for params, field in cases:
        response = await api.get(f"/api/v1/wallet/{wallet}/ledger", params=params, headers=auth)
        problem = assert_problem(response, 400, "validation_failed")
        assert field in [e["field"] for e in problem["errors"]], (params, problem)


async def test_unknown_wallet_is_wallet_not_found(api: Client, auth: dict[str, str]) -> None:
    for wallet in ("999999999999", "abc", "0", "-1", "99999999999999999999999"):
        response = await api.get(f"/api/v1/wallet/{wallet}/ledger", headers=auth)
        assert_problem(response, 404, "wallet_not_found")


async def test_transaction_shows_both_entries_and_metadata(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    spendable = await topup(api, auth, user, "10.00")
    assert spendable.status_code == 201
    # sent as written: 1.10 and a number no float can hold
    body = (
        f'{{"userId": "{user}", "assetTypeId": "{GOLD}", "amount": "4.00", '
        '"serviceDescription": "Legendary Sword", '
        '"metadata": {"itemId": "item-123", "price": 1.10, "big": 12345678901234567890.12}}'
    )
    spend = await api.post(
        "/api/v1/wallet/spend",
        content=body.encode(),
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
    )
    transaction_id = spend.json()["transactionId"]
    response = await api.get(f"/api/v1/transactions/{transaction_id}", headers=auth)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["type"], detail["userId"], detail["amount"], detail["balance"]) == (
        "spend",
        user,
        "4.00",
        "6.00",
    )
    assert detail["description"] == "Legendary Sword"
    assert detail["metadata"]["itemId"] == "item-123"
    assert b'"price": 1.10' in response.content, "metadata numbers come back as they were sent"
    assert b'"big": 12345678901234567890.12' in response.content
    legs = {leg["ownerType"]: leg for leg in detail["entries"]}
    assert (legs["user"]["direction"], legs["user"]["amount"], legs["user"]["userId"]) == (
        "debit",
        "4.00",
        user,
    )
    assert legs["system"]["direction"] == "credit" and legs["system"]["account"].startswith(
        "revenue#"
    )


async def test_unknown_transaction_is_transaction_not_found(
    api: Client, auth: dict[str, str]
) -> None:
    for transaction in ("999999999999", "x", "0"):
        response = await api.get(f"/api/v1/transactions/{transaction}", headers=auth)
        assert_problem(response, 404, "transaction_not_found")


async def test_every_response_carries_security_headers_and_a_request_id(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    responses = [
        await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth),
        await api.get("/api/v1/wallet/x/balance"),
        await api.get("/no/such/route"),
        await api.get("/health"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert len(response.headers["x-request-id"]) == 32
    assert_problem(responses[2], 404, "not_found")
    echoed = await api.get("/health", headers={"X-Request-ID": f"req-{unique}"})
    assert echoed.headers["x-request-id"] == f"req-{unique}"
    refused = await api.get("/health", headers={"X-Request-ID": "bad id\u00e9".encode()})  # type: ignore[dict-item]
    assert refused.headers["x-request-id"] != "bad id"


async def test_problem_bodies_carry_the_request_id(api: Client) -> None:
    response = await api.get("/api/v1/wallet/x/balance", headers={"X-Request-ID": "trace-me-1"})
    assert assert_problem(response, 401, "unauthenticated")["requestId"] == "trace-me-1"


async def test_wrong_method_is_method_not_allowed(api: Client, auth: dict[str, str]) -> None:
    response = await api.get("/api/v1/wallet/topup", headers=auth)
    # /api/v1/wallet/{userId}/balance does not match; the POST route exists for this path
    assert_problem(response, 405, "method_not_allowed")


async def test_health_is_ok_with_both_checks(api: Client) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_metrics_count_requests_transactions_and_replays(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sent = {**auth, "Idempotency-Key": f"m-{unique}"}
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"}
    for _ in range(2):
        assert (await api.post("/api/v1/wallet/topup", json=body, headers=sent)).status_code == 201
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'wallet_http_requests_total{method="POST",route="/api/v1/wallet/topup",status="201"}'
        in text
    )
    assert 'wallet_transactions_total{asset="asset-gold-coin-001",type="topup"}' in text
    assert 'wallet_idempotent_replays_total{source="redis"}' in text
    assert "wallet_http_request_duration_seconds_bucket" in text


async def test_openapi_document_describes_every_route_and_its_problems(api: Client) -> None:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    paths = document["paths"]
    for path in (
        "/api/v1/wallet/topup",
        "/api/v1/wallet/bonus",
        "/api/v1/wallet/spend",
        "/api/v1/wallet/{userId}/balance",
        "/api/v1/wallet/{walletId}/ledger",
        "/api/v1/transactions/{transactionId}",
        "/health",
        "/metrics",
    ):
        assert path in paths, path
    topup_doc = paths["/api/v1/wallet/topup"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(
        topup_doc["responses"]
    )
    assert "requestBody" in topup_doc
    assert any(p["name"] == "Idempotency-Key" for p in topup_doc["parameters"])
    assert "Problem" in document["components"]["schemas"]
    docs_ui = await api.get("/schema")
    assert docs_ui.status_code == 200 and "html" in docs_ui.headers["content-type"]


async def test_a_transfer_made_through_sql_reads_over_http(
    api: Client, auth: dict[str, str], admin_conn: asyncpg.Connection, unique: str
) -> None:
    """Issue 15: a job's transfer (no HTTP route yet) shows in both users' ledgers and in the
    transaction lookup, with type transfer and the sender's side, as the wire types decode it."""
    sender, recipient = f"ts-{unique}", f"tr-{unique}"
    assert (await topup(api, auth, sender, "10.00")).status_code == 201
    row = await admin_conn.fetchrow(
        "SELECT * FROM api.transfer($1, $2, $3, 4.00, 'gift', $4)",
        sender,
        recipient,
        GOLD,
        f"t-{unique}",
    )
    values = await admin_conn.fetchval("SELECT enum_range(NULL::ledger.transaction_type)::text[]")
    assert set(values) == set(TransactionType.__args__), "the wire's types are the ledger's"
    for wallet, direction, balance in (
        (row["from_wallet_id"], "debit", "6.00"),
        (row["to_wallet_id"], "credit", "4.00"),
    ):
        response = await api.get(f"/api/v1/wallet/{wallet}/ledger", headers=auth)
        assert response.status_code == 200, response.text
        page = msgspec.json.decode(response.content, type=LedgerResponse)
        assert (page.entries[0].type, page.entries[0].direction, page.balance) == (
            "transfer",
            direction,
            balance,
        )
    response = await api.get(f"/api/v1/transactions/{row['transaction_id']}", headers=auth)
    assert response.status_code == 200, response.text
    detail = msgspec.json.decode(response.content, type=TransactionDetail)
    assert (detail.type, detail.user_id, detail.amount, detail.balance) == (
        "transfer",
        sender,
        "4.00",
        "6.00",
    )
    assert sorted((leg.user_id, leg.direction) for leg in detail.entries) == [
        (recipient, "credit"),
        (sender, "debit"),
    ]
