"""POST /api/v1/wallet/transfer: a user's coins to another user, once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis

from service.config import RateLimit, Settings
from service.rules import SCOPE_READ, SCOPE_SPEND, SCOPE_TOPUP, SCOPE_TRANSFER
from tests.support import (
    GOLD,
    assert_problem,
    gold_balance,
    money_headers,
    running_app,
    topup,
    transfer,
)

Client = httpx.AsyncClient


async def golds(api: Client, auth: dict[str, str], *users: str) -> tuple[str, ...]:
    """The users' gold balances, read over HTTP."""
    return tuple([await gold_balance(api, auth, user) for user in users])


async def test_transfer_answers_201_with_both_users_sides(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sender, recipient = f"a-{unique}", f"b-{unique}"
    assert (await topup(api, auth, sender, "50.00")).status_code == 201
    response = await transfer(api, auth, sender, recipient, "20", metadata={"giftId": "g-1"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == [
        "transactionId",
        "type",
        "status",
        "fromUserId",
        "toUserId",
        "assetTypeId",
        "amount",
        "fromBalance",
        "toBalance",
        "fromWalletId",
        "toWalletId",
        "createdAt",
    ]
    assert (body["type"], body["status"]) == ("transfer", "completed")
    assert (body["fromUserId"], body["toUserId"], body["assetTypeId"]) == (sender, recipient, GOLD)
    assert (body["amount"], body["fromBalance"], body["toBalance"]) == ("20.00", "30.00", "20.00")
    assert body["transactionId"].isdigit() and body["createdAt"]
    assert body["fromWalletId"].isdigit() and body["toWalletId"].isdigit()
    assert body["fromWalletId"] != body["toWalletId"]
    assert await golds(api, auth, sender, recipient) == ("30.00", "20.00")
    detail = await api.get(f"/api/v1/transactions/{body['transactionId']}", headers=auth)
    assert detail.json()["description"] == "Gift"
    assert detail.json()["metadata"] == {"giftId": "g-1"}


async def test_transfer_refusals_are_422_with_their_codes_and_move_nothing(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sender, recipient = f"a-{unique}", f"b-{unique}"
    assert (await topup(api, auth, sender, "10.00")).status_code == 201
    assert_problem(await transfer(api, auth, sender, sender, "1.00"), 422, "same_user")
    short = assert_problem(
        await transfer(api, auth, sender, recipient, "10.01"), 422, "insufficient_funds"
    )
    assert "10.00" in short["detail"]
    no_wallet = await transfer(api, auth, f"nobody-{unique}", recipient, "1.00")
    assert_problem(no_wallet, 422, "insufficient_funds")
    for amount in ("0", "-1.00", "1.001", "1000000000.01"):
        response = await transfer(api, auth, sender, recipient, amount)
        assert_problem(response, 422, "invalid_amount")
    unknown = await transfer(api, auth, sender, recipient, "1.00", assetTypeId="asset-nope")
    assert_problem(unknown, 422, "unknown_asset")
    assert await golds(api, auth, sender, recipient) == ("10.00", "0.00")


async def test_malformed_transfers_are_validation_failed_naming_the_field(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sender, recipient = f"a-{unique}", f"b-{unique}"
    cases = [
        ({"toUserId": "has space"}, "toUserId"),
        ({"fromUserId": ""}, "fromUserId"),
        ({"amount": 5}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"description": ""}, "description"),
        ({"description": None}, "description"),
        ({"metadata": [1]}, "metadata"),
        ({"metadata": {"note": "x" * 5000}}, "metadata"),
        ({"userId": sender}, "userId"),  # the top-up's field: unknown here
        # the document's pattern, as msgspec checks it (Python's `$`), takes a final newline: the
        # ledger refused it, as WUSER, named userId, a field the transfer does not have
        ({"toUserId": f"{recipient}\n"}, "toUserId"),
        ({"fromUserId": f"{sender}\n"}, "fromUserId"),
    ]
    for extra, field in cases:
        response = await transfer(api, auth, sender, recipient, "1.00", **extra)
        problem = assert_problem(response, 400, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == [field], (extra, problem)
    body = {"fromUserId": sender, "toUserId": recipient, "assetTypeId": GOLD, "amount": "1"}
    response = await api.post("/api/v1/wallet/transfer", json=body, headers=money_headers(auth))
    problem = assert_problem(response, 400, "validation_failed")
    assert problem["errors"] == [{"field": "description", "message": "`description` is required"}]


async def test_transfer_needs_an_idempotency_key_and_the_transfer_scope(
    settings: Settings, new_key: Callable[..., str], unique: str
) -> None:
    sender, recipient = f"a-{unique}", f"b-{unique}"
    everything_else = {"Authorization": f"Bearer {new_key([SCOPE_READ, SCOPE_TOPUP, SCOPE_SPEND])}"}
    transfers = {"Authorization": f"Bearer {new_key([SCOPE_TRANSFER])}"}
    async with running_app(settings) as api:
        assert (await topup(api, everything_else, sender, "5.00")).status_code == 201
        refused = await transfer(api, everything_else, sender, recipient, "1.00")
        problem = assert_problem(refused, 403, "forbidden")
        assert "wallet:transfer" in problem["detail"]
        body = {
            "fromUserId": sender,
            "toUserId": recipient,
            "assetTypeId": GOLD,
            "amount": "1.00",
            "description": "Gift",
        }
        no_key = await api.post("/api/v1/wallet/transfer", json=body, headers=transfers)
        assert_problem(no_key, 400, "idempotency_key_missing")
        bad_key = {**transfers, "Idempotency-Key": "k" * 256}
        response = await api.post("/api/v1/wallet/transfer", json=body, headers=bad_key)
        assert_problem(response, 400, "idempotency_key_invalid")
        assert (await transfer(api, transfers, sender, recipient, "1.00")).status_code == 201
        assert await gold_balance(api, everything_else, recipient) == "1.00"


@pytest.mark.parametrize("flush", [False, True], ids=["redis", "ledger"])
async def test_a_repeated_transfer_answers_the_same_body_and_moves_nothing(
    api: Client, auth: dict[str, str], unique: str, redis_client: Redis, flush: bool
) -> None:
    """Answered by Redis, then (after FLUSHDB: Redis forgot) by the ledger's own key."""
    sender, recipient = f"a-{unique}", f"b-{unique}"
    assert (await topup(api, auth, sender, "10.00")).status_code == 201
    key = f"gift-{unique}"
    first = await transfer(api, auth, sender, recipient, "4.00", key)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    if flush:
        await redis_client.flushdb()
    # the same request written otherwise: the amount as another decimal, metadata as {}
    again = await transfer(api, auth, sender, recipient, "4", key, metadata={})
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content, "the first answer, byte for byte"
    assert await golds(api, auth, sender, recipient) == ("6.00", "4.00")
    if flush:
        await redis_client.flushdb()
    for changed in ({"amount": "5.00"}, {"toUserId": f"c-{unique}"}, {"description": "Other"}):
        response = await transfer(api, auth, sender, recipient, "4.00", key, **changed)
        assert_problem(response, 422, "idempotency_key_reused")
    topup_with_the_key = await api.post(
        "/api/v1/wallet/topup",
        json={"userId": sender, "assetTypeId": GOLD, "amount": "4.00"},
        headers=money_headers(auth, key),
    )
    assert_problem(topup_with_the_key, 422, "idempotency_key_reused")
    assert await golds(api, auth, sender, recipient) == ("6.00", "4.00")


async def test_a_transfer_counts_against_the_senders_transaction_limit_only(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    sender, recipient = f"a-{unique}", f"b-{unique}"
    # an hour's window: a window ending during the test would reset the counts it checks
    async with running_app(settings, rate_limit_transactions=RateLimit(3, 3600)) as api:
        assert (await topup(api, auth, sender, "10.00")).status_code == 201
        for _ in range(2):
            assert (await transfer(api, auth, sender, recipient, "1.00")).status_code == 201
        refused = await transfer(api, auth, sender, recipient, "1.00")
        assert_problem(refused, 429, "rate_limited")
        assert await golds(api, auth, sender, recipient) == ("8.00", "2.00")
        # the recipient's own limit is untouched by what it received
        answers = [await transfer(api, auth, recipient, sender, "0.50") for _ in range(2)]
        assert [a.status_code for a in answers] == [201, 201]
        # a transfer to oneself could never move money: each gives the sender's count back
        for _ in range(3):
            assert_problem(await transfer(api, auth, recipient, recipient, "1"), 422, "same_user")
        assert (await transfer(api, auth, recipient, sender, "0.50")).status_code == 201
        assert_problem(await transfer(api, auth, recipient, sender, "0.50"), 429, "rate_limited")
