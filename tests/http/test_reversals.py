"""POST /api/v1/transactions/{id}/reversals: a top-up, bonus, spend or transfer taken back, in full
or in part, once per Idempotency-Key; and what GET /api/v1/transactions/{id} says of it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.config import RateLimit, Settings
from service.rules import SCOPE_READ, SCOPE_REFUND, SCOPE_SPEND, SCOPE_TOPUP
from tests.support import (
    GOLD,
    assert_problem,
    gold_balance,
    money_headers,
    repeat_verdict,
    reverse,
    running_app,
    topup,
    transfer,
    wallet_locked,
)

Client = httpx.AsyncClient


async def topped_up(api: Client, auth: dict[str, str], user: str, amount: str) -> str:
    """The id of a new top-up of `amount` gold coins to `user`."""
    response = await topup(api, auth, user, amount)
    assert response.status_code == 201, response.text
    transaction_id: str = response.json()["transactionId"]
    return transaction_id


async def spend(api: Client, auth: dict[str, str], user: str, amount: str) -> httpx.Response:
    body = {"userId": user, "assetTypeId": GOLD, "amount": amount, "serviceDescription": "Sword"}
    return await api.post("/api/v1/wallet/spend", json=body, headers=money_headers(auth))


async def read(api: Client, auth: dict[str, str], transaction_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/v1/transactions/{transaction_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_store_refund_in_part_then_the_rest_then_nothing_remains(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    partial = await reverse(api, auth, original, amount="3.00", metadata={"refundId": "re_1"})
    assert partial.status_code == 201, partial.text
    body = partial.json()
    assert list(body) == [
        "transactionId",
        "type",
        "status",
        "userId",
        "assetTypeId",
        "amount",
        "balance",
        "walletId",
        "createdAt",
        "reversesTransactionId",
        "remaining",
    ]
    assert (body["type"], body["status"], body["userId"], body["assetTypeId"]) == (
        "reversal",
        "completed",
        user,
        GOLD,
    )
    assert (body["amount"], body["balance"], body["remaining"]) == ("3.00", "7.00", "7.00")
    assert body["reversesTransactionId"] == original and body["transactionId"].isdigit()
    rest = await reverse(api, auth, original, reason="Store refund, the rest")
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount"], rest.json()["balance"], rest.json()["remaining"]) == (
        "7.00",
        "0.00",
        "0.00",
    )
    assert rest.json()["walletId"] == body["walletId"]
    for more in ({"amount": "0.01"}, {}):
        problem = assert_problem(
            await reverse(api, auth, original, **more), 422, "reversal_exceeds_original"
        )
        assert "remaining: 0.00" in problem["detail"], problem
    assert await gold_balance(api, auth, user) == "0.00"


async def test_more_than_remains_is_reversal_exceeds_original_saying_what_remains(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    assert (await reverse(api, auth, original, amount="4.00")).status_code == 201
    problem = assert_problem(
        await reverse(api, auth, original, amount="6.01"), 422, "reversal_exceeds_original"
    )
    assert "remaining: 6.00, requested: 6.01" in problem["detail"], problem
    assert await gold_balance(api, auth, user) == "6.00"


async def test_a_refund_after_the_player_spent_the_coins(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    """strict refuses to take a balance below zero; allow_negative takes it all and leaves a
    debt, which refuses spends and which the next top-ups pay first."""
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    assert (await spend(api, auth, user, "8.00")).status_code == 201
    for mode in ({}, {"mode": "strict"}):
        refused = await reverse(api, auth, original, **mode)
        problem = assert_problem(refused, 422, "insufficient_funds")
        assert "2.00" in problem["detail"], problem
    assert await gold_balance(api, auth, user) == "2.00"
    taken = await reverse(api, auth, original, mode="allow_negative")
    assert taken.status_code == 201, taken.text
    assert (taken.json()["amount"], taken.json()["balance"], taken.json()["remaining"]) == (
        "10.00",
        "-8.00",
        "0.00",
    )
    assert await gold_balance(api, auth, user) == "-8.00"
    assert_problem(await spend(api, auth, user, "0.01"), 422, "insufficient_funds")
    after = await topup(api, auth, user, "5.00")
    assert after.status_code == 201 and after.json()["balance"] == "-3.00", after.text
    assert_problem(await spend(api, auth, user, "1.00"), 422, "insufficient_funds")
    after = await topup(api, auth, user, "10.00")
    assert after.json()["balance"] == "7.00", after.text
    assert (await spend(api, auth, user, "7.00")).json()["balance"] == "0.00"


async def test_a_spend_refund_gives_the_coins_back(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"u-{unique}"
    await topped_up(api, auth, user, "10.00")
    spent = await spend(api, auth, user, "6.00")
    refund = await reverse(api, auth, spent.json()["transactionId"], amount="2.50")
    assert refund.status_code == 201, refund.text
    assert (refund.json()["userId"], refund.json()["balance"], refund.json()["remaining"]) == (
        user,
        "6.50",
        "3.50",
    )
    detail = await read(api, auth, refund.json()["transactionId"])
    legs = {
        (e["ownerType"], e["direction"], e["account"].split("#")[0] if e["account"] else None)
        for e in detail["entries"]
    }
    assert legs == {("user", "credit", None), ("system", "debit", "revenue")}, detail


async def test_a_transfer_and_its_reversal_show_in_both_users_ledgers(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    sender, recipient = f"a-{unique}", f"b-{unique}"
    await topped_up(api, auth, sender, "10.00")
    gift = await transfer(api, auth, sender, recipient, "4.00")
    assert gift.status_code == 201, gift.text
    back = await reverse(api, auth, gift.json()["transactionId"], amount="1.50", reason="Mistake")
    assert back.status_code == 201, back.text
    # the user a transfer's reversal takes from is the recipient
    assert (back.json()["userId"], back.json()["balance"], back.json()["remaining"]) == (
        recipient,
        "2.50",
        "2.50",
    )
    assert back.json()["walletId"] == gift.json()["toWalletId"]
    assert (await gold_balance(api, auth, sender), await gold_balance(api, auth, recipient)) == (
        "7.50",
        "2.50",
    )
    ids = (gift.json()["transactionId"], back.json()["transactionId"])
    expected = {
        gift.json()["fromWalletId"]: [
            ("reversal", "credit", "1.50", "7.50", "Mistake"),
            ("transfer", "debit", "4.00", "6.00", "Gift"),
            ("topup", "credit", "10.00", "10.00", None),
        ],
        gift.json()["toWalletId"]: [
            ("reversal", "debit", "1.50", "2.50", "Mistake"),
            ("transfer", "credit", "4.00", "4.00", "Gift"),
        ],
    }
    for wallet, entries in expected.items():
        page = await api.get(f"/api/v1/wallet/{wallet}/ledger", headers=auth)
        assert page.status_code == 200, page.text
        shown = [
            (e["type"], e["direction"], e["amount"], e["balanceAfter"], e["description"])
            for e in page.json()["entries"]
        ]
        assert shown == entries, (wallet, shown)
        assert [e["transactionId"] for e in page.json()["entries"][:2]] == list(ids)[::-1]


async def test_a_transaction_read_shows_its_reversals_and_a_reversal_its_original(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    untouched = await read(api, auth, original)
    assert (
        untouched["reversedAmount"],
        untouched["reversals"],
        untouched["reversesTransactionId"],
    ) == ("0.00", [], None)
    first = (await reverse(api, auth, original, amount="3.00")).json()["transactionId"]
    second = (await reverse(api, auth, original, amount="2.00")).json()["transactionId"]
    detail = await read(api, auth, original)
    assert (detail["reversedAmount"], detail["reversals"], detail["reversesTransactionId"]) == (
        "5.00",
        [first, second],
        None,
    )
    assert (detail["amount"], detail["balance"]) == ("10.00", "10.00"), "the original, as it was"
    reversal = await read(api, auth, first)
    assert (reversal["type"], reversal["amount"], reversal["description"]) == (
        "reversal",
        "3.00",
        "Store refund",
    )
    assert (
        reversal["reversesTransactionId"],
        reversal["reversedAmount"],
        reversal["reversals"],
    ) == (original, None, None)
    opening = await admin_conn.fetchval(
        "SELECT id FROM ledger.transactions WHERE type = 'opening_balance' ORDER BY id LIMIT 1"
    )
    seeded = await read(api, auth, str(opening))
    assert (seeded["reversedAmount"], seeded["reversals"], seeded["reversesTransactionId"]) == (
        None,
        None,
        None,
    )


async def test_reversal_refusals_answer_their_codes_and_move_nothing(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    for missing in ("999999999999999999", "0", "abc", "-1", "1.0", "%C2%B2"):
        problem = assert_problem(await reverse(api, auth, missing), 404, "transaction_not_found")
        assert problem["detail"], problem
    reversal = (await reverse(api, auth, original, amount="1.00")).json()["transactionId"]
    opening = await admin_conn.fetchval(
        "SELECT id FROM ledger.transactions WHERE type = 'opening_balance' ORDER BY id LIMIT 1"
    )
    for not_reversible in (reversal, str(opening)):
        assert_problem(await reverse(api, auth, not_reversible), 422, "not_reversible")
    for amount in ("0", "-1.00", "1.001", "1000000000.01"):
        assert_problem(await reverse(api, auth, original, amount=amount), 422, "invalid_amount")
    edge = [
        ({"mode": "lenient"}, "mode"),
        ({"mode": None}, "mode"),
        ({"amount": 3}, "amount"),
        ({"amount": "3e0"}, "amount"),
        ({"amount": "1\n"}, "amount"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"metadata": "text"}, "metadata"),
        ({"userId": user}, "userId"),
    ]
    for body, field in edge:
        problem = assert_problem(
            await reverse(api, auth, original, **body), 400, "validation_failed"
        )
        assert [e["field"] for e in problem["errors"]] == [field], (body, problem)
    no_reason = await api.post(
        f"/api/v1/transactions/{original}/reversals",
        json={"amount": "1.00"},
        headers=money_headers(auth),
    )
    problem = assert_problem(no_reason, 400, "validation_failed")
    assert problem["errors"] == [{"field": "reason", "message": "`reason` is required"}]
    assert await gold_balance(api, auth, user) == "9.00"


async def test_a_reversal_needs_the_refund_scope_and_an_idempotency_key(
    settings: Settings, new_key: Callable[..., str], unique: str
) -> None:
    user = f"u-{unique}"
    everything_else = {"Authorization": f"Bearer {new_key([SCOPE_READ, SCOPE_TOPUP, SCOPE_SPEND])}"}
    refunds = {"Authorization": f"Bearer {new_key([SCOPE_REFUND])}"}
    async with running_app(settings) as api:
        original = await topped_up(api, everything_else, user, "10.00")
        problem = assert_problem(await reverse(api, everything_else, original), 403, "forbidden")
        assert "wallet:refund" in problem["detail"]
        path = f"/api/v1/transactions/{original}/reversals"
        body = {"reason": "Store refund"}
        assert_problem(
            await api.post(path, json=body, headers=refunds), 400, "idempotency_key_missing"
        )
        bad_key = {**refunds, "Idempotency-Key": "caf\u00e9".encode()}
        response = await api.post(path, json=body, headers=bad_key)  # type: ignore[arg-type]
        assert_problem(response, 400, "idempotency_key_invalid")
        assert (await reverse(api, refunds, original, amount="1.00")).status_code == 201
        assert await gold_balance(api, everything_else, user) == "9.00"


@pytest.mark.parametrize("flush", [False, True], ids=["redis", "ledger"])
async def test_a_repeated_reversal_answers_the_same_body_and_moves_nothing_twice(
    api: Client, auth: dict[str, str], unique: str, redis_client: Redis, flush: bool
) -> None:
    """Answered by Redis, then (after FLUSHDB on the stack's Redis: it forgot the answer) by the
    ledger's own key: the same transaction, the same body, nothing moved again."""
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    key = f"refund-{unique}"
    first = await reverse(api, auth, original, key, amount="3.00", metadata={"a": 1.5})
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    if flush:
        await redis_client.flushdb()
    again = await reverse(api, auth, original, key, amount="3", metadata={"a": 1.50})
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content, "the first answer, byte for byte"
    # another reversal in between does not change what a repeat of the first answers
    assert (await reverse(api, auth, original, amount="2.00")).status_code == 201
    if flush:
        await redis_client.flushdb()
    late = await reverse(api, auth, original, key, amount="3.00", metadata={"a": 1.5})
    assert late.content == first.content and late.json()["remaining"] == "7.00"
    assert await gold_balance(api, auth, user) == "5.00"
    assert (await read(api, auth, original))["reversedAmount"] == "5.00"
    for changed in ({"amount": "2.00"}, {"mode": "allow_negative"}, {"reason": "Other"}, {}):
        body = {"amount": "3.00", "metadata": {"a": 1.5}, **changed}
        if not changed:
            body.pop("amount")  # all that remains: not the 3.00 that left 7.00
        response = await reverse(api, auth, original, key, **body)
        assert_problem(response, 422, "idempotency_key_reused")
    other_original = await topped_up(api, auth, user, "10.00")
    response = await reverse(api, auth, other_original, key, amount="3.00", metadata={"a": 1.5})
    assert_problem(response, 422, "idempotency_key_reused")
    assert await gold_balance(api, auth, user) == "15.00"


# The ledger's sameness of two reversals with one key (ledger._replay_reversal) depends on what
# the first one did: "all that remains" (no amount) and the amount that came to are the same
# request once nothing remains. Redis must agree, with its answer and after a flush.
ALL: dict[str, Any] = {}
SAMENESS = [
    (ALL, {"amount": "10.00"}, "replayed"),
    ({"amount": "10"}, ALL, "replayed"),
    ({"amount": "4.00"}, {"amount": "4"}, "replayed"),
    ({"amount": "4.00"}, ALL, "idempotency_key_reused"),
    (ALL, {"amount": "9.99"}, "idempotency_key_reused"),
    (ALL, {"mode": "strict"}, "replayed"),
    ({"mode": "strict"}, {"mode": "allow_negative"}, "idempotency_key_reused"),
    ({"metadata": {"a": 1.10}}, {"metadata": {"a": 1.1}}, "replayed"),
    ({"metadata": {}}, ALL, "replayed"),
    ({"reason": "r"}, {"reason": "r "}, "idempotency_key_reused"),
]


@pytest.mark.parametrize(("first", "second", "verdict"), SAMENESS)
async def test_redis_and_the_ledger_agree_on_what_the_same_reversal_is(
    api: Client,
    auth: dict[str, str],
    unique: str,
    redis_client: Redis,
    first: dict[str, Any],
    second: dict[str, Any],
    verdict: str,
) -> None:
    verdicts = []
    for flush in (False, True):
        original = await topped_up(api, auth, f"u-{unique}", "10.00")
        key = f"same-{unique}-{flush}"
        answer = await reverse(api, auth, original, key, **first)
        assert answer.status_code == 201, answer.text
        if flush:
            await redis_client.flushdb()
        verdicts.append(repeat_verdict(answer, await reverse(api, auth, original, key, **second)))
    assert verdicts == [verdict, verdict], "with Redis, then after a flush"


async def test_a_repeat_while_the_reversal_runs_is_in_flight_409(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    original = await topped_up(api, auth, user, "10.00")
    key = f"refund-{unique}"
    async with wallet_locked(admin_conn, user):  # holds the first reversal inside the ledger
        first = asyncio.create_task(reverse(api, auth, original, key, amount="1.00"))
        await asyncio.sleep(0.3)
        second = await reverse(api, auth, original, key, amount="1.00")
        assert_problem(second, 409, "idempotency_key_in_flight")
        assert second.headers["retry-after"] == "1"
    assert (await first).status_code == 201
    third = await reverse(api, auth, original, key, amount="1.00")
    assert third.status_code == 201 and third.headers["idempotent-replayed"] == "true"
    assert await gold_balance(api, auth, user) == "9.00"


async def test_reversals_count_against_the_keys_limit_but_no_users_transaction_limit(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    # an hour's window: a window ending during the test would reset the counts it checks
    limits = {"rate_limit_transactions": RateLimit(2, 3600), "rate_limit_general": None}
    async with running_app(settings, **limits) as api:
        originals = [await topped_up(api, auth, user, "10.00") for _ in range(2)]
        assert_problem(await topup(api, auth, user, "1.00"), 429, "rate_limited")
        answers = [await reverse(api, auth, t, amount="1.00") for t in originals * 2]
        assert [a.status_code for a in answers] == [201] * 4, answers[-1].text
        assert "ratelimit-limit" not in answers[0].headers
    async with running_app(settings, rate_limit_general=RateLimit(2, 3600)) as api:
        assert (await reverse(api, auth, originals[0], amount="1.00")).status_code == 201
        assert (await reverse(api, auth, originals[0], amount="1.00")).status_code == 201
        limited = await reverse(api, auth, originals[0], amount="1.00")
        assert_problem(limited, 429, "rate_limited")
    async with running_app(settings) as api:
        assert await gold_balance(api, auth, user) == "14.00"
