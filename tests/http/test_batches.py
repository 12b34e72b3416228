"""Batches (issue 17) over HTTP: POST /api/v1/wallet/batch, up to 1,000 top-ups, bonuses or spends
of one asset in one request (api.post_batch), atomic or item by item; its validation, body limit,
scope, repeats (Redis, then the ledger after a FLUSHDB), rate limits and OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from service.config import RateLimit, Settings
from service.http.batches import BATCH_MAX_BODY_BYTES
from service.ledger import LedgerError
from service.problems import from_ledger
from service.rules import SCOPE_BATCH, SCOPES
from tests.support import (
    GOLD,
    assert_problem,
    money_headers,
    repeat_verdict,
    running_app,
    topup,
    transactions_of,
)

Client = httpx.AsyncClient
encode = msgspec.json.Encoder(decimal_format="number").encode
BATCH = "/api/v1/wallet/batch"


def batch_body(kind: str, items: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    """A gold coin batch of `kind`, one item per (user, amount), with the text its type needs
    (unless `extra` says otherwise)."""
    body: dict[str, Any] = {
        "type": kind,
        "assetTypeId": GOLD,
        "items": [{"userId": user, "amount": amount} for user, amount in items],
    }
    if kind == "bonus":
        body["reason"] = "Season 12"
    elif kind == "spend":
        body["description"] = "Season pass"
    return {**body, **extra}


async def post_batch(
    api: Client, auth: dict[str, str], body: dict[str, Any] | bytes, key: str | None = None
) -> httpx.Response:
    """POST /api/v1/wallet/batch of `body` (a dict encoded with Decimals as JSON numbers)."""
    content = body if isinstance(body, bytes) else encode(body)
    headers = {**money_headers(auth, key), "Content-Type": "application/json"}
    return await api.post(BATCH, content=content, headers=headers)


async def balances(conn: asyncpg.Connection, *users: str) -> dict[str, str]:
    """The users' gold balances as the ledger holds them (users without a wallet left out)."""
    rows = await conn.fetch(
        "SELECT owner_id, balance::text FROM ledger.wallets WHERE owner_id = ANY($1::text[])"
        " AND asset_id = $2",
        list(users),
        GOLD,
    )
    return {row["owner_id"]: row["balance"] for row in rows}


# ----------------------------------------------------------------------------------------------
# Atomic and item by item
# ----------------------------------------------------------------------------------------------
async def test_an_atomic_bonus_batch_posts_every_item_as_a_transaction_of_the_batch(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    one, two = f"a-{unique}", f"b-{unique}"
    body = batch_body("bonus", [(one, "10"), (two, "2.50"), (one, "0.25")])
    body["items"][1]["metadata"] = {"campaign": "s12", "rank": Decimal("1.10")}
    response = await post_batch(api, auth, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["type"], answer["assetTypeId"], answer["atomic"]) == ("bonus", GOLD, True)
    assert answer["batchId"].isdigit() and "idempotent-replayed" not in response.headers
    items = answer["items"]
    assert [(i["index"], i["userId"], i["status"], i["balance"]) for i in items] == [
        (0, one, "completed", "10.00"),
        (1, two, "completed", "2.50"),
        (2, one, "completed", "10.25"),
    ]
    assert all(i["code"] is None and i["detail"] is None for i in items), "null when completed"
    assert items[0]["walletId"] == items[2]["walletId"] != items[1]["walletId"]
    assert await balances(admin_conn, one, two) == {one: "10.25", two: "2.50"}
    rows = await admin_conn.fetch(
        "SELECT t.id::text, t.type::text, t.description, t.metadata::text FROM ledger.transactions"
        " AS t WHERE t.batch_id = $1 ORDER BY t.id",
        int(answer["batchId"]),
    )
    assert [row["id"] for row in rows] == [i["transactionId"] for i in items]
    assert {(row["type"], row["description"]) for row in rows} == {("bonus", "Season 12")}
    assert [row["metadata"] for row in rows] == ["{}", '{"rank": 1.10, "campaign": "s12"}', "{}"]
    assert await admin_conn.fetch("SELECT * FROM api.reconcile() WHERE NOT ok") == []


async def test_a_batch_item_by_item_posts_what_it_can_and_names_each_failure(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    rich, poor, capped = f"r-{unique}", f"p-{unique}", f"c-{unique}"
    assert (await topup(api, auth, rich, "20.00")).status_code == 201
    assert (await topup(api, auth, capped, "5.00")).status_code == 201
    await admin_conn.execute(
        "SELECT api.set_user_limits($1, $2, NULL, NULL, 3.00)", capped, GOLD
    )  # a daily spend limit of 3.00
    try:
        items = [(rich, "7"), (poor, "1.00"), (rich, "1.001"), (capped, "4.00"), (rich, "13.00")]
        response = await post_batch(api, auth, batch_body("spend", items, atomic=False))
    finally:
        await admin_conn.execute("SELECT api.clear_user_limits($1, $2)", capped, GOLD)
    assert response.status_code == 201, response.text
    results = response.json()["items"]
    assert [(r["status"], r["code"], r["balance"]) for r in results] == [
        ("completed", None, "13.00"),
        ("failed", "insufficient_funds", None),
        ("failed", "invalid_amount", None),
        ("failed", "velocity_limit_exceeded", None),
        ("completed", None, "0.00"),
    ]
    for failed in results[1:4]:
        assert failed["detail"] and failed["transactionId"] is None and failed["walletId"] is None
    assert await balances(admin_conn, rich, poor, capped) == {rich: "0.00", capped: "5.00"}
    assert await transactions_of(admin_conn, rich, poor, capped) == 4  # 2 top-ups, 2 spends


async def test_an_atomic_batch_with_a_failing_item_is_rejected_whole_and_moves_nothing(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    rich, poor = f"r-{unique}", f"p-{unique}"
    assert (await topup(api, auth, rich, "10.00")).status_code == 201
    items = [(rich, "3.00"), (poor, "1.00"), (rich, "0"), (rich, "2.00")]
    key = f"atomic-{unique}"
    response = await post_batch(api, auth, batch_body("spend", items), key)
    problem = assert_problem(response, 422, "batch_rejected")
    assert problem["errors"] == [
        {"index": 1, "code": "insufficient_funds", "detail": "balance: 0.00, requested: 1.00"},
        {"index": 2, "code": "invalid_amount", "detail": problem["errors"][1]["detail"]},
    ]
    assert "2 of 4 items" in problem["detail"] and "[" not in problem["detail"]
    assert await balances(admin_conn, rich, poor) == {rich: "10.00"}
    assert await transactions_of(admin_conn, rich, poor) == 1, "only the top-up"
    # nothing moved: the key is free for the corrected batch
    fixed = await post_batch(api, auth, batch_body("spend", [(rich, "3.00"), (rich, "2.00")]), key)
    assert fixed.status_code == 201, fixed.text
    assert await balances(admin_conn, rich) == {rich: "5.00"}


@pytest.mark.parametrize(
    "detail",
    [None, "", "not json", '{"index": 0}', '[{"index": -1, "code": "x", "detail": "y"}]',
     '[{"index": "0", "code": "x", "detail": "y"}]', "[]"],
)  # fmt: skip
def test_a_rejection_whose_detail_cannot_be_read_is_still_batch_rejected_with_its_text(
    detail: str | None,
) -> None:
    error = from_ledger(LedgerError("WBREJ", "batch_rejected", "batch rejected: 1 of 1", detail))
    body = msgspec.json.decode(msgspec.json.encode(error.problem()))
    assert (error.status, body["code"]) == (422, "batch_rejected")
    assert "errors" not in body and body["detail"].startswith("batch rejected: 1 of 1")
    if detail:
        assert detail in body["detail"], "the ledger's words, as they came"


# ----------------------------------------------------------------------------------------------
# The edge's checks
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [0, 1001])
async def test_no_items_or_more_than_1000_is_validation_failed_naming_items(
    api: Client, auth: dict[str, str], unique: str, count: int
) -> None:
    body = batch_body("topup", [(f"u-{unique}-{i}", "1.00") for i in range(count)])
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["items"]


async def test_1000_items_pass(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    users = [f"k{i}-{unique}" for i in range(1000)]
    response = await post_batch(api, auth, batch_body("topup", [(u, "1.00") for u in users]))
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1000
    assert set((await balances(admin_conn, *users)).values()) == {"1.00"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (batch_body("bonus", [("u", "1.00")], reason=None), ["reason"]),
        (batch_body("bonus", [("u", "1.00")], reason=""), ["reason"]),
        (batch_body("spend", [("u", "1.00")], description=None), ["description"]),
        (batch_body("topup", [("u", "1.00")], reason="why"), ["reason"]),
        (batch_body("topup", [("u", "1.00")], description="what"), ["description"]),
        (batch_body("spend", [("u", "1.00")], reason="why"), ["reason"]),
        (batch_body("bonus", [("u", "1.00")], reason=" \t"), ["reason"]),  # the ledger's WDESC
        (batch_body("spend", [("u", "1.00")], description=" "), ["description"]),
        (batch_body("topup", [("u", "1.00"), ("v", "1.00\n")]), ["items[1].amount"]),
        (batch_body("topup", [("u", "1.00"), ("v", "1,00")]), ["items[1].amount"]),
        (batch_body("topup", [("u", "1.00"), ("bad user", "1.00")]), ["items[1].userId"]),
        (batch_body("hold", [("u", "1.00")]), ["type"]),
        (batch_body("topup", [("u", "1.00")], atomic="yes"), ["atomic"]),
    ],
)
async def test_the_edge_checks_the_batch_and_each_item_as_the_single_calls(
    api: Client,
    auth: dict[str, str],
    admin_conn: asyncpg.Connection,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    body = {name: value for name, value in body.items() if value is not None}
    before = await admin_conn.fetchval("SELECT count(*) FROM ledger.batches")
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert sorted(error["field"] for error in problem["errors"]) == fields, problem
    assert await admin_conn.fetchval("SELECT count(*) FROM ledger.batches") == before


@pytest.mark.parametrize("atomic", ["false", "true", "False", "0", "1", 0, 1], ids=repr)
async def test_bug_atomic_in_a_string_or_a_number_is_validation_failed(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection, atomic: Any
) -> None:
    """Found by the fuzzer (tests/http/test_fuzz.py): {"atomic": "false"} posted the batch item
    by item (and "0" or 0 too, "true", "1" or 1 all or none), as Litestar's conversion of a body
    takes them for booleans; the document says a boolean."""
    user = f"u-{unique}"
    body = batch_body("topup", [(user, "1.00")], atomic=atomic)
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [
        ("atomic", "atomic is true or false, a JSON boolean")
    ]
    assert await balances(admin_conn, user) == {}


@pytest.mark.parametrize("atomic", [True, False])
async def test_bug_a_user_id_with_a_trailing_newline_is_validation_failed_naming_the_item(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection, atomic: bool
) -> None:
    """Found by the fuzzer (tests/http/test_fuzz.py): "user\n" passed the edge (the document's
    pattern, which msgspec checks with Python's `$`, matches before a final newline), and the
    ledger failed the item with invalid_user_id, a code no item may fail with: 422 batch_rejected
    (atomic), or 201 with the item failed and the batch stored under its key (item by item). A
    single call answers 400 validation_failed for it."""
    user = f"u-{unique}"
    before = await admin_conn.fetchval("SELECT count(*) FROM ledger.batches")
    body = batch_body("topup", [(user, "1.00"), ("user\n", "1.00")], atomic=atomic)
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["items[1].userId"], problem
    assert await admin_conn.fetchval("SELECT count(*) FROM ledger.batches") == before
    assert await balances(admin_conn, user) == {}


async def test_an_items_amount_as_a_json_number_and_its_metadata_are_checked_by_their_path(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    body = batch_body("topup", [(f"u-{unique}", "1.00"), (f"v-{unique}", "1.00")])
    body["items"][1]["amount"] = 1
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert problem["errors"][0]["field"] == "items[1].amount"
    assert "not a JSON number" in problem["errors"][0]["message"]
    body = batch_body("topup", [(f"u-{unique}", "1.00"), (f"v-{unique}", "1.00")])
    body["items"][1]["metadata"] = {"a": "x" * 5000}
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["items[1].metadata"]
    body["items"][1]["metadata"] = {"deep": {"n": Decimal("1e401")}}
    problem = assert_problem(await post_batch(api, auth, body), 400, "validation_failed")
    assert [error["field"] for error in problem["errors"]] == ["items[1].metadata.deep.n"]


async def test_the_batch_route_has_a_body_limit_of_its_own(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    body = msgspec.json.encode(batch_body("topup", [(f"u-{unique}", "1.00")]))
    padded = b" " * (200 * 1024) + body  # 200 KiB: within a batch's limit, beyond the others'
    accepted = await post_batch(api, auth, padded)
    assert accepted.status_code == 201, accepted.text
    over = b" " * BATCH_MAX_BODY_BYTES + body
    problem = assert_problem(await post_batch(api, auth, over), 413, "payload_too_large")
    assert str(BATCH_MAX_BODY_BYTES) in problem["detail"]
    single = msgspec.json.encode({"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"})
    refused = await api.post(
        "/api/v1/wallet/topup",
        content=b" " * (200 * 1024) + single,
        headers={**money_headers(auth), "Content-Type": "application/json"},
    )
    problem = assert_problem(refused, 413, "payload_too_large")
    assert str(16 * 1024) in problem["detail"], "the top-up keeps its own limit"


async def test_a_batch_needs_the_batch_scope_and_the_single_scopes_are_not_it(
    settings: Settings, new_key: Callable[..., str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    singles = {"Authorization": f"Bearer {new_key([s for s in SCOPES if s != SCOPE_BATCH])}"}
    only_batch = {"Authorization": f"Bearer {new_key([SCOPE_BATCH])}"}
    body = batch_body("topup", [(f"u-{unique}", "1.00")])
    async with running_app(settings) as api:
        problem = assert_problem(await post_batch(api, singles, body), 403, "forbidden")
        assert SCOPE_BATCH in problem["detail"]
        assert await balances(admin_conn, f"u-{unique}") == {}
        assert (await post_batch(api, only_batch, body)).status_code == 201


# ----------------------------------------------------------------------------------------------
# Repeats of the batch's Idempotency-Key
# ----------------------------------------------------------------------------------------------
async def test_a_repeat_answers_the_same_body_from_redis_and_after_a_flush_from_the_ledger(
    api: Client,
    auth: dict[str, str],
    unique: str,
    redis_client: Redis,
    admin_conn: asyncpg.Connection,
) -> None:
    rich, poor = f"r-{unique}", f"p-{unique}"
    items = [(rich, "5.00"), (poor, "1.00"), (rich, "2")]
    body = batch_body("spend", items, atomic=False)
    body["items"][0]["metadata"] = {"order": 7, "price": Decimal("1.10")}
    assert (await topup(api, auth, rich, "10.00")).status_code == 201
    key = f"repeat-{unique}"
    meta = {"order": 7, "price": Decimal("1.1")}
    first = await post_batch(api, auth, body, key)
    assert first.status_code == 201, first.text
    assert [i["status"] for i in first.json()["items"]] == ["completed", "failed", "completed"]
    # the same batch, written otherwise: amounts as numbers, metadata as its jsonb text (keys
    # in any order, numbers written alike: 1e1 is 10)
    same = batch_body("spend", [(rich, "5"), (poor, "1"), (rich, "2.00")], atomic=False)
    same["items"][0]["metadata"] = {"price": Decimal("0.110e1"), "order": Decimal("7e0")}
    assert repeat_verdict(first, await post_batch(api, auth, same, key)) == "replayed"
    await redis_client.flushdb()
    assert repeat_verdict(first, await post_batch(api, auth, same, key)) == "replayed"
    await redis_client.flushdb()
    assert repeat_verdict(first, await post_batch(api, auth, body, key)) == "replayed"
    assert await balances(admin_conn, rich, poor) == {rich: "3.00"}, "moved once"
    # another batch under the key: in Redis (which has the first answer again, from the
    # ledger's replay), then in the ledger
    for changed in (
        {**body, "atomic": True},
        batch_body("spend", [(rich, "5.00"), (poor, "1.00")], atomic=False),
        batch_body("spend", list(reversed(items)), atomic=False),
        {**body, "description": "Another pass"},
        {**body, "items": [{**body["items"][0], "metadata": {"order": 8}}, *body["items"][1:]]},
        # a batch's metadata is compared as its jsonb text, places included (api.post_batch's
        # fingerprint): 1.1 is not 1.10, unlike a single call's
        {**body, "items": [{**body["items"][0], "metadata": meta}, *body["items"][1:]]},
    ):
        assert repeat_verdict(first, await post_batch(api, auth, body, key)) == "replayed"
        assert await redis_client.keys(f"wallet:idem:*:{key}"), "the answer is in Redis"
        assert repeat_verdict(first, await post_batch(api, auth, changed, key)) == (
            "idempotency_key_reused"
        )
        await redis_client.flushdb()
        assert repeat_verdict(first, await post_batch(api, auth, changed, key)) == (
            "idempotency_key_reused"
        )
    assert await balances(admin_conn, rich, poor) == {rich: "3.00"}


async def test_a_single_calls_key_is_refused_to_a_batch_by_redis_and_after_a_flush_by_the_ledger(
    api: Client,
    auth: dict[str, str],
    unique: str,
    redis_client: Redis,
    admin_conn: asyncpg.Connection,
) -> None:
    user, key = f"k-{unique}", f"shared-{unique}"
    body = {"userId": user, "assetTypeId": GOLD, "amount": "4.00"}
    single = await api.post("/api/v1/wallet/topup", json=body, headers=money_headers(auth, key))
    assert single.status_code == 201, single.text
    batch = batch_body("topup", [(user, "4.00")])
    assert_problem(await post_batch(api, auth, batch, key), 422, "idempotency_key_reused")
    await redis_client.flushdb()
    # the ledger keeps single calls' keys and batches' keys in two tables: the batch looks in both
    assert_problem(await post_batch(api, auth, batch, key), 422, "idempotency_key_reused")
    assert await balances(admin_conn, user) == {user: "4.00"}, "only the single top-up moved"


# ----------------------------------------------------------------------------------------------
# Rate limits and who calls the ledger
# ----------------------------------------------------------------------------------------------
async def test_a_batch_counts_once_against_the_keys_limit_and_against_no_users(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    # an hour's window: a window ending during the test would reset the counts it checks
    async with running_app(
        settings,
        rate_limit_general=RateLimit(3, 3600),
        rate_limit_transactions=RateLimit(1, 3600),
    ) as api:
        body = batch_body("topup", [(user, "1.00")] * 5)
        first = await post_batch(api, auth, body)
        assert first.status_code == 201, first.text
        assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == (
            "3",
            "2",
        ), "five items, one request"
        single = await topup(api, auth, user, "1.00")
        assert single.status_code == 201, "the batch used none of the user's limit"
        assert single.headers["ratelimit-remaining"] == "0"  # the user's: 1 of 1 used
        again = await topup(api, auth, user, "1.00")
        assert_problem(again, 429, "rate_limited")
        assert "user's transaction" in again.json()["detail"]
        assert_problem(await post_batch(api, auth, body), 429, "rate_limited")


async def test_the_service_calls_post_batch_as_wallet_service_with_its_keys_client(
    api: Client,
    auth: dict[str, str],
    unique: str,
    service_conn: asyncpg.Connection,
    admin_conn: asyncpg.Connection,
) -> None:
    assert await service_conn.fetchval("SELECT current_user") == "wallet_service"
    signature = (
        "api.post_batch(ledger.transaction_type, text, text[], numeric[], text, text, boolean,"
        " jsonb[], text)"
    )
    assert await admin_conn.fetchval(
        "SELECT has_function_privilege('wallet_service', $1, 'EXECUTE')", signature
    )
    response = await post_batch(api, auth, batch_body("topup", [(f"u-{unique}", "1.00")]))
    assert response.status_code == 201, response.text
    row = await admin_conn.fetchrow(
        "SELECT client_id, type::text, atomic, items FROM ledger.batches WHERE id = $1",
        int(response.json()["batchId"]),
    )
    assert row is not None
    key_name = f"test-{unique}-0"  # the `key` fixture's, the first new_key makes
    # api:<key name> is a client id that only wallet_service may use (WCLNS for any other login)
    assert tuple(row.values()) == (f"api:{key_name}", "topup", True, 1)


# ----------------------------------------------------------------------------------------------
# The OpenAPI document
# ----------------------------------------------------------------------------------------------
async def test_the_openapi_document_has_the_batch_route_its_bodies_and_problems(
    api: Client,
) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    operation = document["paths"][BATCH]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    schemas = document["components"]["schemas"]
    request = schemas["BatchRequest"]
    assert set(request["required"]) == {"type", "assetTypeId", "items"}
    assert (request["properties"]["items"]["minItems"], request["properties"]["items"]["maxItems"])\
        == (1, 1000)  # fmt: skip
    assert set(request["properties"]["type"]["enum"]) == {"topup", "bonus", "spend"}
    assert {"$ref": "#/components/schemas/BatchResponse"} == operation["responses"]["201"][
        "content"
    ]["application/json"]["schema"]
    item = schemas["BatchItemResult"]["properties"]
    assert set(item["status"]["enum"]) == {"completed", "failed"}
    responses = operation["responses"]
    codes = {
        status: {part.partition(": ")[0] for part in responses[status]["description"].split("; ")}
        for status in responses
        if status != "201"
    }
    assert {"validation_failed", "idempotency_key_missing"} <= codes["400"]
    assert codes["413"] == {"payload_too_large"} and codes["403"] == {"forbidden"}
    assert codes["422"] == {"unknown_asset", "batch_rejected", "idempotency_key_reused"}
    errors = schemas["Problem"]["properties"]["errors"]
    shapes = schemas["ProblemItem"]["properties"]
    assert {"field", "message", "index", "code", "detail"} == set(shapes), errors
