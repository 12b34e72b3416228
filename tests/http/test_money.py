"""The three money endpoints over HTTP: answers, every error code, and idempotency."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from decimal import Decimal

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.admission import Admissions, idempotency_key
from service.config import Settings, claim_ttl_seconds
from service.ledger import Ledger, RefusedArgumentError
from tests.support import GOLD, assert_problem, money_headers, repeat_verdict, topup

Client = httpx.AsyncClient


async def test_topup_answers_201_with_the_transaction_at_the_assets_places(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    response = await topup(api, auth, f"u-{unique}", "100", metadata={"paymentId": "pi_1"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "topup" and body["status"] == "completed"
    assert (body["userId"], body["assetTypeId"]) == (f"u-{unique}", GOLD)
    assert (body["amount"], body["balance"]) == ("100.00", "100.00")
    assert body["transactionId"].isdigit() and body["walletId"].isdigit() and body["createdAt"]
    assert "idempotent-replayed" not in response.headers


async def test_bonus_and_spend_move_money_and_show_the_balance_after(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    bonus = await api.post(
        "/api/v1/wallet/bonus",
        json={"userId": user, "assetTypeId": GOLD, "amount": "50.00", "reason": "Referral"},
        headers=money_headers(auth),
    )
    assert bonus.status_code == 201, bonus.text
    assert (bonus.json()["type"], bonus.json()["balance"]) == ("bonus", "50.00")
    spend = await api.post(
        "/api/v1/wallet/spend",
        json={"userId": user, "assetTypeId": GOLD, "amount": "30.5", "serviceDescription": "Sword"},
        headers=money_headers(auth),
    )
    assert spend.status_code == 201, spend.text
    assert (spend.json()["type"], spend.json()["amount"], spend.json()["balance"]) == (
        "spend",
        "30.50",
        "19.50",
    )


async def test_unknown_field_is_validation_failed_naming_it(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    response = await api.post(
        "/api/v1/wallet/topup",
        json={"userId": f"u-{unique}", "assetTypeId": GOLD, "ammount": "1.00"},
        headers=money_headers(auth),
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert {"field": "ammount", "message": "unknown field `ammount`"} in problem["errors"]


async def test_amount_as_json_number_is_validation_failed_saying_send_a_string(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    for amount in (100, 1.5):
        response = await api.post(
            "/api/v1/wallet/topup",
            json={"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": amount},
            headers=money_headers(auth),
        )
        problem = assert_problem(response, 400, "validation_failed")
        assert problem["errors"][0]["field"] == "amount"
        assert "decimal string" in problem["errors"][0]["message"]


async def test_malformed_fields_are_validation_failed_naming_the_field(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    good = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"}
    cases = [
        ({**good, "userId": "has space"}, "userId"),
        ({**good, "userId": "x" * 129}, "userId"),
        ({**good, "userId": ""}, "userId"),
        ({**good, "amount": "1e3"}, "amount"),
        ({**good, "amount": "NaN"}, "amount"),
        ({**good, "amount": ""}, "amount"),
        ({**good, "metadata": [1, 2]}, "metadata"),
        ({**good, "metadata": "text"}, "metadata"),
        ({k: v for k, v in good.items() if k != "amount"}, "amount"),
    ]
    for body, field in cases:
        response = await api.post("/api/v1/wallet/topup", json=body, headers=money_headers(auth))
        problem = assert_problem(response, 400, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [field], (body, problem)
    spend = {**good, "serviceDescription": ""}
    response = await api.post("/api/v1/wallet/spend", json=spend, headers=money_headers(auth))
    assert_problem(response, 400, "validation_failed")
    response = await api.post("/api/v1/wallet/bonus", json=good, headers=money_headers(auth))
    problem = assert_problem(response, 400, "validation_failed")
    assert problem["errors"][0]["field"] == "reason"


async def test_a_blank_description_or_reason_is_validation_failed_naming_the_routes_own_field(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    """Only whitespace passes the wire's length rule and is refused by the ledger (WDESC): the
    problem names the field the client sent, which each route calls differently."""
    user = f"u-{unique}"
    original = (await topup(api, auth, user, "5.00")).json()["transactionId"]
    money = {"userId": user, "assetTypeId": GOLD, "amount": "1.00"}
    cases = [
        ("/api/v1/wallet/spend", {**money, "serviceDescription": "  "}, "serviceDescription"),
        ("/api/v1/wallet/bonus", {**money, "reason": " \t "}, "reason"),
        (
            "/api/v1/wallet/transfer",
            {"fromUserId": user, "toUserId": f"v-{unique}", "assetTypeId": GOLD, "amount": "1.00",
             "description": "   "},
            "description",
        ),
        (f"/api/v1/transactions/{original}/reversals", {"reason": "  "}, "reason"),
    ]  # fmt: skip
    for path, body, field in cases:
        response = await api.post(path, json=body, headers=money_headers(auth))
        problem = assert_problem(response, 400, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [field], (path, problem)


async def test_body_that_is_not_json_is_validation_failed(
    api: Client, auth: dict[str, str]
) -> None:
    response = await api.post(
        "/api/v1/wallet/topup",
        content=b'{"userId": ',
        headers={**money_headers(auth), "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "validation_failed")


async def test_metadata_over_4_kib_is_validation_failed_on_metadata(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    response = await topup(api, auth, f"u-{unique}", "1.00", metadata={"note": "x" * 5000})
    problem = assert_problem(response, 400, "validation_failed")
    assert problem["errors"][0]["field"] == "metadata"


async def post_json_text(
    api: Client, auth: dict[str, str], kind: str, fields: str, key: str | None = None
) -> httpx.Response:
    """POSTs the body `{fields}` exactly as written: numbers as the client wrote them."""
    return await api.post(
        f"/api/v1/wallet/{kind}",
        content=f"{{{fields}}}".encode(),
        headers={**money_headers(auth, key), "Content-Type": "application/json"},
    )


def topup_fields(user: str, metadata: str) -> str:
    return f'"userId": "{user}", "assetTypeId": "{GOLD}", "amount": "1.00", "metadata": {metadata}'


async def test_metadata_numbers_beyond_the_range_are_validation_failed_naming_them(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    sixteen = ",".join(f'"a{i}":1e131000' for i in range(16))  # 131,001 digits each, written out
    cases = [
        ("{" + sixteen + "}", "metadata.a0"),
        ('{"a": 1e200000}', "metadata.a"),  # beyond PostgreSQL's numeric: it was a 500
        ('{"a": 0e-20000}', "metadata.a"),
        ('{"n": [1, 1e-401]}', "metadata.n[1]"),
        ('{"n": {"m": -1.5e401}}', "metadata.n.m"),
        ('{"a": 1' + "0" * 100 + "}", "metadata.a"),  # 101 digits
        ('{"a": 0.' + "1" * 101 + "}", "metadata.a"),
    ]
    for metadata, field in cases:
        response = await post_json_text(api, auth, "topup", topup_fields(user, metadata))
        problem = assert_problem(response, 400, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [field], (metadata[:40], problem)
    at_the_limits = '{"big": 1e400, "small": -9.9e-400, "long": ' + "9" * 100 + "}"
    response = await post_json_text(api, auth, "topup", topup_fields(user, at_the_limits))
    assert response.status_code == 201, response.text


async def test_metadata_nested_deeper_than_32_levels_is_validation_failed_naming_it(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"

    def nested(levels: int) -> str:  # the metadata object is the first level, then arrays
        return '{"a": ' + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "}"

    response = await post_json_text(api, auth, "topup", topup_fields(user, nested(32)))
    assert response.status_code == 201, response.text
    response = await post_json_text(api, auth, "topup", topup_fields(user, nested(33)))
    problem = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["metadata.a" + "[0]" * 31], problem


async def test_metadata_size_is_measured_as_postgresql_writes_it_before_the_ledger_call(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    # 11 numbers of 401 digits written out: 4500 bytes of jsonb text, from 140 bytes sent. The
    # edge measures it (the ledger's own check would only say "larger than 4096 bytes").
    metadata = "{" + ", ".join(f'"a{i}": 1e400' for i in range(11)) + "}"
    response = await post_json_text(api, auth, "topup", topup_fields(f"u-{unique}", metadata))
    problem = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["metadata"], problem
    assert "4500 bytes" in problem["errors"][0]["message"], problem


async def test_an_argument_postgresql_refuses_to_take_in_is_a_client_error_of_the_ledger(
    settings: Settings, unique: str
) -> None:
    # behind the edge's checks, should one miss: 22003 while PostgreSQL binds the call's jsonb
    # parameter was a 500 (the app answers RefusedArgumentError with validation_failed)
    ledger = Ledger(settings)
    await ledger.open()
    try:
        with pytest.raises(RefusedArgumentError, match="numeric"):
            await ledger.topup(
                f"u-{unique}", GOLD, Decimal("1.00"), f"k-{unique}", '{"a": 1e200000}', "test"
            )
    finally:
        await ledger.close()


async def test_json_nested_too_deep_to_decode_is_validation_failed_on_every_route_with_a_body(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    with_body = [
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    money = {f"/api/v1/wallet/{kind}" for kind in ("topup", "bonus", "spend")}
    assert {path for _, path in with_body} >= money, with_body  # and any route added later
    deep = "[" * 1200 + "1" + "]" * 1200  # beyond what msgspec decodes (about 1,000 levels)
    fields = f'"userId": "u-{unique}", "assetTypeId": "{GOLD}", "amount": "1.00"'
    bodies = [
        f'{{{fields}, "metadata": {{"a": {deep}}}}}',
        f'{{{fields}, "other": {deep}}}',
        deep,
    ]
    for method, template in with_body:
        path = re.sub(r"\{[^}]*\}", "1", template)  # any id: the body is refused first
        for body in bodies:
            response = await api.request(
                method,
                path,
                content=body.encode(),
                headers={**money_headers(auth), "Content-Type": "application/json"},
            )
            problem = assert_problem(response, 400, "validation_failed")
            assert problem["errors"][0]["field"] == "body", problem


async def test_wrong_content_type_is_unsupported_media_type(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    response = await api.post(
        "/api/v1/wallet/topup",
        content=f'{{"userId": "u-{unique}", "assetTypeId": "{GOLD}", "amount": "1"}}',
        headers={**money_headers(auth), "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported_media_type")


async def test_body_over_16_kib_is_payload_too_large(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    body = {
        "userId": f"u-{unique}",
        "assetTypeId": GOLD,
        "amount": "1",
        "metadata": {"x": "y" * 17000},
    }
    response = await api.post("/api/v1/wallet/topup", json=body, headers=money_headers(auth))
    assert_problem(response, 413, "payload_too_large")


async def test_missing_and_invalid_idempotency_keys(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00"}
    response = await api.post("/api/v1/wallet/topup", json=body, headers=auth)
    assert_problem(response, 400, "idempotency_key_missing")
    for bad in ("k" * 256, "", "caf\u00e9", "tab\there"):
        response = await api.post(
            "/api/v1/wallet/topup",
            json=body,
            headers={**auth, "Idempotency-Key": bad.encode("utf-8")},  # type: ignore[dict-item]
        )
        assert_problem(response, 400, "idempotency_key_invalid")
    response = await api.post(
        "/api/v1/wallet/topup", json=body, headers={**auth, "Idempotency-Key": "k" * 255}
    )
    assert response.status_code == 201, "255 printable characters is a valid key"


async def test_ledger_rejections_are_422_with_their_codes(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    for amount in ("0", "-5.00", "1.001", "1000000000.01"):
        assert_problem(await topup(api, auth, user, amount), 422, "invalid_amount")
    response = await api.post(
        "/api/v1/wallet/topup",
        json={"userId": user, "assetTypeId": "asset-nope", "amount": "1"},
        headers=money_headers(auth),
    )
    assert_problem(response, 422, "unknown_asset")
    spend = {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "serviceDescription": "x"}
    response = await api.post("/api/v1/wallet/spend", json=spend, headers=money_headers(auth))
    problem = assert_problem(response, 422, "insufficient_funds")
    assert "0.00" in problem["detail"]


async def test_replay_returns_the_same_status_and_body_marked_replayed(
    api: Client,
    auth: dict[str, str],
    unique: str,
    service_conn: asyncpg.Connection,
    redis_client: Redis,
    settings: Settings,
) -> None:
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "7.00"}
    sent = money_headers(auth)
    first = await api.post("/api/v1/wallet/topup", json=body, headers=sent)
    again = await api.post("/api/v1/wallet/topup", json=body, headers=sent)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    # the answer is kept for WALLET_IDEMPOTENCY_TTL (24 h by default), under the key's name
    ttl = await redis_client.ttl(idempotency_key(f"test-{unique}-0", sent["Idempotency-Key"]))
    assert settings.idempotency_ttl - 60 < ttl <= settings.idempotency_ttl
    balances = await service_conn.fetch(
        "SELECT balance FROM api.balances($1, $2)", body["userId"], GOLD
    )
    assert balances[0]["balance"] == 7, "the replay moved nothing"


async def test_a_claim_outlives_the_longest_request_and_no_more(
    settings: Settings, redis_client: Redis, unique: str
) -> None:
    # a connection wait (5 s) + the statement timeout + 2 s of client slack + 2 s for Redis
    assert claim_ttl_seconds(dataclasses.replace(settings, statement_timeout_ms=5000)) == 14
    assert claim_ttl_seconds(dataclasses.replace(settings, statement_timeout_ms=20500)) == 30
    # no statement timeout: no request has a bound
    assert claim_ttl_seconds(dataclasses.replace(settings, statement_timeout_ms=0)) == 30
    admissions = Admissions(dataclasses.replace(settings, statement_timeout_ms=5000))
    try:
        admission = await admissions.admit(f"c-{unique}", key="k", fingerprint="f", user_id="u")
        assert admission.claimed
        ttl = await redis_client.ttl(idempotency_key(f"c-{unique}", "k"))
        assert 12 <= ttl <= 14
    finally:
        await admissions.close()


async def test_same_key_with_a_different_body_is_idempotency_key_reused(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sent = money_headers(auth)
    body = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "7.00"}
    assert (await api.post("/api/v1/wallet/topup", json=body, headers=sent)).status_code == 201
    changed = {**body, "amount": "8.00"}
    response = await api.post("/api/v1/wallet/topup", json=changed, headers=sent)
    assert_problem(response, 422, "idempotency_key_reused")
    response = await api.post(
        "/api/v1/wallet/bonus", json={**body, "reason": "other endpoint"}, headers=sent
    )
    assert_problem(response, 422, "idempotency_key_reused")


async def test_a_rejected_request_does_not_use_up_its_key(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    sent = money_headers(auth)
    spend = {"userId": user, "assetTypeId": GOLD, "amount": "5.00", "serviceDescription": "hat"}
    response = await api.post("/api/v1/wallet/spend", json=spend, headers=sent)
    assert_problem(response, 422, "insufficient_funds")
    assert (await topup(api, auth, user, "5.00")).status_code == 201
    response = await api.post("/api/v1/wallet/spend", json=spend, headers=sent)
    assert response.status_code == 201, "the same key works once the spend can succeed"
    assert response.json()["balance"] == "0.00"


async def test_repeat_while_the_first_is_running_is_in_flight_409(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    sent = money_headers(auth)
    spend = {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "serviceDescription": "hat"}
    # a lock on the user's wallet holds the first spend inside the ledger
    tx = admin_conn.transaction()
    await tx.start()
    await admin_conn.execute(
        "SELECT 1 FROM ledger.wallets WHERE owner_id = $1 AND asset_id = $2 FOR UPDATE", user, GOLD
    )
    first = asyncio.create_task(api.post("/api/v1/wallet/spend", json=spend, headers=sent))
    await asyncio.sleep(0.3)
    second = await api.post("/api/v1/wallet/spend", json=spend, headers=sent)
    problem = assert_problem(second, 409, "idempotency_key_in_flight")
    assert second.headers["retry-after"] == "1" and problem["detail"]
    await tx.rollback()
    assert (await first).status_code == 201
    third = await api.post("/api/v1/wallet/spend", json=spend, headers=sent)
    assert third.status_code == 201 and third.headers["idempotent-replayed"] == "true"
    assert third.json()["balance"] == "9.00"


# Two requests with one Idempotency-Key, as the ledger (ledger._replay) tells them apart: the same
# type, user, asset and description, amounts equal as numbers, and metadata equal as jsonb (its
# numbers as numbers, its keys in any order, no metadata the same as {}). Each pair is sent with
# Redis remembering the first answer and again with Redis flushed: the verdict must not depend on
# which layer gives it (docs/http-api.md#idempotency).
USER_ASSET = '"userId": "{user}", "assetTypeId": "' + GOLD + '"'
ONE = '"amount": "1", "metadata": '
SAME, REUSED = "replayed", "idempotency_key_reused"
SAMENESS = [
    ("topup", '"amount": "7"', '"amount": "7.00"', SAME),
    ("topup", '"amount": "7.00"', '"amount": "007.0"', SAME),
    ("topup", '"amount": "7.00"', '"amount": "7.00", "metadata": {}', SAME),
    ("topup", '"amount": "7.00", "metadata": {}', '"amount": "7.00"', SAME),
    ("topup", ONE + '{"a": 1.1}', ONE + '{"a": 1.10}', SAME),
    ("topup", ONE + '{"a": 100, "b": [0, 2.5]}', ONE + '{"b": [-0.0, 25e-1], "a": 1e2}', SAME),
    ("bonus", '"reason": "r", ' + ONE + '{"x": 1.000}', ONE + '{"x": 1}, "reason": "r"', SAME),
    ("topup", '"amount": "7.00"', '"amount": "7.01"', REUSED),
    ("topup", ONE + '{"a": 1.1}', ONE + '{"a": "1.1"}', REUSED),
    ("topup", ONE + '{"a": 1}', ONE + '{"a": true}', REUSED),
    ("topup", ONE + '{"a": [1, 2]}', ONE + '{"a": [2, 1]}', REUSED),
    ("topup", ONE + '{"a": 1}', ONE + '{"a": 1.0000000000000000000000000000001}', REUSED),
    ("bonus", '"amount": "1", "reason": "r"', '"amount": "1", "reason": "r "', REUSED),
]


@pytest.mark.parametrize(("kind", "first", "second", "verdict"), SAMENESS)
async def test_redis_and_the_ledger_agree_on_what_the_same_request_is(
    api: Client,
    auth: dict[str, str],
    unique: str,
    redis_client: Redis,
    kind: str,
    first: str,
    second: str,
    verdict: str,
) -> None:
    user = USER_ASSET.format(user=f"u-{unique}")
    verdicts = []
    for flush in (False, True):
        key = f"same-{unique}-{flush}"
        original = await post_json_text(api, auth, kind, f"{user}, {first}", key)
        assert original.status_code == 201, original.text
        if flush:
            await redis_client.flushdb()  # Redis forgot: the ledger answers the repeat
        repeat = await post_json_text(api, auth, kind, f"{user}, {second}", key)
        verdicts.append(repeat_verdict(original, repeat))
    assert verdicts == [verdict, verdict], "with Redis, then after a flush"
