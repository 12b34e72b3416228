"""Balances in time over HTTP: GET /api/v1/wallet/{userId}/balance?at= (the balances as they were
at a moment) and GET /api/v1/wallet/{walletId}/statement?from=&to= (opening + credits - debits =
closing, by type, and the period's entries a page at a time by cursor); the moments checked at the
edge, and the database's own refusal (its clock a little behind the service's) answered the same.

The moments are read from the clock the service and PostgreSQL share (one machine): a moment taken
between two answers lies between the two postings' posted_at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from service.config import Settings
from service.http import reads
from service.rules import SCOPE_AUDIT, SCOPE_READ
from tests.support import GOLD, assert_problem, money_headers, running_app, topup

Client = httpx.AsyncClient


def moment() -> str:
    """Now, as a client writes it: RFC 3339 in UTC."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def spend(api: Client, auth: dict[str, str], user: str, amount: str) -> Any:
    body = {"userId": user, "assetTypeId": GOLD, "amount": amount, "serviceDescription": "a hat"}
    response = await api.post("/api/v1/wallet/spend", json=body, headers=money_headers(auth))
    assert response.status_code == 201, response.text
    return response


async def gold_wallet(api: Client, auth: dict[str, str], user: str) -> str:
    response = await api.get(
        f"/api/v1/wallet/{user}/balance", params={"assetTypeId": GOLD}, headers=auth
    )
    wallet: str = response.json()["balances"][0]["walletId"]
    return wallet


async def balance_at(api: Client, auth: dict[str, str], user: str, at: str) -> dict[str, Any]:
    response = await api.get(
        f"/api/v1/wallet/{user}/balance", params={"at": at, "assetTypeId": GOLD}, headers=auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_balance_at_a_moment_between_postings_is_the_balance_then(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"bt-{unique}"
    before = moment()
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    between = moment()
    await spend(api, auth, user, "3.25")
    after = moment()

    then = await balance_at(api, auth, user, between)
    assert then["userId"] == user
    assert then["at"] == between
    (gold,) = then["balances"]
    assert (gold["balance"], gold["version"], gold["held"], gold["total"]) == (
        "10.00",
        1,
        None,
        None,
    )
    assert gold["updatedAt"] is not None
    assert datetime.fromisoformat(gold["updatedAt"]) <= datetime.fromisoformat(between)
    first = (await balance_at(api, auth, user, before))["balances"][0]
    assert (first["balance"], first["version"], first["updatedAt"]) == ("0.00", 0, None)
    last = (await balance_at(api, auth, user, after))["balances"][0]
    assert (last["balance"], last["version"]) == ("6.75", 2)
    now = await api.get(f"/api/v1/wallet/{user}/balance", headers=auth)
    assert "at" not in now.json()  # the balances now: the body as it always was
    by_asset = {b["assetTypeId"]: b for b in now.json()["balances"]}
    assert (by_asset[GOLD]["balance"], by_asset[GOLD]["held"]) == ("6.75", "0.00")


async def test_balance_at_a_moment_lists_every_asset_or_one(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"bt-{unique}"
    assert (await topup(api, auth, user, "1.00")).status_code == 201
    response = await api.get(
        f"/api/v1/wallet/{user}/balance", params={"at": moment()}, headers=auth
    )
    assert response.status_code == 200, response.text
    by_asset = {b["assetTypeId"]: b for b in response.json()["balances"]}
    assert set(by_asset) == {GOLD, "asset-diamond-001", "asset-loyalty-001"}
    assert (
        by_asset["asset-diamond-001"]["walletId"],
        by_asset["asset-diamond-001"]["balance"],
    ) == (
        None,
        "0.00",
    )
    unknown = await api.get(
        f"/api/v1/wallet/{user}/balance",
        params={"at": moment(), "assetTypeId": "asset-nope"},
        headers=auth,
    )
    assert_problem(unknown, 404, "asset_not_found")
    malformed = await api.get(
        "/api/v1/wallet/bad%20user/balance", params={"at": moment()}, headers=auth
    )
    assert [e["field"] for e in assert_problem(malformed, 400, "validation_failed")["errors"]] == [
        "userId"
    ]


async def test_statement_adds_up_exactly_and_by_type(
    settings: Settings, new_key: Callable[..., str], unique: str
) -> None:
    user, friend = f"st-{unique}", f"st-{unique}-friend"
    auth = {"Authorization": f"Bearer {new_key()}"}
    async with running_app(settings) as api:
        assert (await topup(api, auth, user, "10.50")).status_code == 201
        assert (await topup(api, auth, friend, "5.00")).status_code == 201
        start = moment()
        await spend(api, auth, user, "3.25")
        bonus = {"userId": user, "assetTypeId": GOLD, "amount": "0.75", "reason": "streak"}
        posted = await api.post("/api/v1/wallet/bonus", json=bonus, headers=money_headers(auth))
        assert posted.status_code == 201, posted.text
        for sender, recipient, amount in ((user, friend, "2.00"), (friend, user, "1.10")):
            gift = {"fromUserId": sender, "toUserId": recipient, "assetTypeId": GOLD,
                    "amount": amount, "description": "a gift"}  # fmt: skip
            posted = await api.post(
                "/api/v1/wallet/transfer", json=gift, headers=money_headers(auth)
            )
            assert posted.status_code == 201, posted.text
        hold = {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "description": "a match"}
        held = await api.post("/api/v1/wallet/holds", json=hold, headers=money_headers(auth))
        assert held.status_code == 201, held.text
        voided = await api.post(
            f"/api/v1/holds/{held.json()['holdId']}/void", headers=money_headers(auth)
        )
        assert voided.status_code == 201, voided.text
        end = moment()
        assert (await topup(api, auth, user, "100.00")).status_code == 201  # after the period

        wallet = await gold_wallet(api, auth, user)
        response = await api.get(
            f"/api/v1/wallet/{wallet}/statement", params={"from": start, "to": end}, headers=auth
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["walletId"], body["userId"], body["assetTypeId"]) == (wallet, user, GOLD)
    assert (body["opening"], body["credits"], body["debits"], body["closing"]) == (
        "10.50",
        "2.85",  # 0.75 + 1.10 + 1.00 released
        "6.25",  # 3.25 + 2.00 + 1.00 held
        "7.10",
    )
    opening, credits, debits, closing = (
        Decimal(body[k]) for k in ("opening", "credits", "debits", "closing")
    )
    assert opening + credits - debits == closing
    assert body["byType"] == {
        "spend": {"credits": "0.00", "debits": "3.25", "count": 1},
        "bonus": {"credits": "0.75", "debits": "0.00", "count": 1},
        "transfer": {"credits": "1.10", "debits": "2.00", "count": 2},
        "hold": {"credits": "0.00", "debits": "1.00", "count": 1},
        "release": {"credits": "1.00", "debits": "0.00", "count": 1},
    }
    assert (body["openingVersion"], body["closingVersion"]) == (1, 7)
    assert [e["type"] for e in body["entries"]] == [
        "release", "hold", "transfer", "transfer", "bonus", "spend",
    ]  # fmt: skip
    assert body["entries"][0]["balanceAfter"] == "7.10" and body["nextCursor"] is None
    assert body["from"].startswith(start[:19]) and body["to"].startswith(end[:19])


async def test_paging_through_a_period_by_cursor_gets_every_entry_once(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"st-{unique}"
    assert (await topup(api, auth, user, "0.01")).status_code == 201
    start = moment()
    for i in range(12):
        assert (await topup(api, auth, user, f"{i + 1}.00")).status_code == 201
    end = moment()
    wallet = await gold_wallet(api, auth, user)
    path = f"/api/v1/wallet/{wallet}/statement"
    params: dict[str, str] = {"from": start, "to": end, "limit": "5"}
    pages: list[dict[str, Any]] = []
    while True:
        response = await api.get(path, params=params, headers=auth)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        # postings after the period change nothing of it, nor where the cursor goes on
        assert (await topup(api, auth, user, "50.00")).status_code == 201
        if pages[-1]["nextCursor"] is None:
            break
        params["cursor"] = pages[-1]["nextCursor"]
    amounts = [e["amount"] for page in pages for e in page["entries"]]
    ids = [e["entryId"] for page in pages for e in page["entries"]]
    assert [len(page["entries"]) for page in pages] == [5, 5, 2]
    assert amounts == [f"{n}.00" for n in range(12, 0, -1)]  # newest first, each once
    assert len(set(ids)) == 12 == pages[0]["closingVersion"] - pages[0]["openingVersion"]
    assert (pages[0]["credits"], pages[0]["debits"]) == ("78.00", "0.00")
    for page in pages:
        assert (page["opening"], page["closing"]) == ("0.01", "78.01")
    for page in pages[1:]:  # the sums come with the first page only
        assert (page["credits"], page["debits"], page["byType"]) == (None, None, None)


BAD_MOMENTS = [
    "2026-01-01T00:00:00",  # no offset
    "2026-01-01",
    "yesterday",
    "",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00 01:00",  # a + sent unencoded reads as a space
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:60Z",
    "2026-01-01T00:00:00+24:00",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "2999-01-01T00:00:00Z",  # in the future
    "\u0662026-01-01T00:00:00Z",
]


@pytest.mark.parametrize("at", BAD_MOMENTS)
async def test_a_bad_moment_is_validation_failed_naming_at(
    api: Client, auth: dict[str, str], at: str
) -> None:
    response = await api.get("/api/v1/wallet/someone/balance", params={"at": at}, headers=auth)
    problem = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["at"], problem


async def test_moments_in_any_offset_and_case_are_one_moment(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"bt-{unique}"
    assert (await topup(api, auth, user, "2.00")).status_code == 201
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=-1)
    answers = [
        await balance_at(api, auth, user, text)
        for text in (
            now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            now.strftime("%Y-%m-%dt%H:%M:%Sz"),
            now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000+00:00"),
            (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"),
            (now - timedelta(hours=5, minutes=30)).strftime("%Y-%m-%dT%H:%M:%S-05:30"),
        )
    ]
    assert {a["at"] for a in answers} == {now.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def test_bad_statement_arguments_are_validation_failed_naming_each_field(
    api: Client, auth: dict[str, str], unique: str
) -> None:
    assert (await topup(api, auth, f"st-{unique}", "1.00")).status_code == 201
    wallet = await gold_wallet(api, auth, f"st-{unique}")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"to": past}, ["from"]),
        ({"from": past}, ["to"]),
        ({}, ["from", "to"]),
        ({"from": past, "to": earlier}, ["to"]),
        ({"from": past, "to": future}, ["to"]),
        ({"from": future, "to": future}, ["from", "to"]),
        ({"from": "2026-01-01", "to": past}, ["from"]),
        ({"from": earlier, "to": past, "limit": "0"}, ["limit"]),
        ({"from": earlier, "to": past, "limit": "201"}, ["limit"]),
        ({"from": earlier, "to": past, "cursor": "0"}, ["cursor"]),
        ({"from": earlier, "to": past, "cursor": "x"}, ["cursor"]),
        ({"to": past, "limit": "x"}, ["from", "limit"]),
    ]
    for params, fields in cases:
        response = await api.get(f"/api/v1/wallet/{wallet}/statement", params=params, headers=auth)
        problem = assert_problem(response, 400, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == fields, (params, problem)


async def test_statement_of_an_unknown_wallet_is_wallet_not_found(
    api: Client, auth: dict[str, str]
) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for wallet in ("999999999999", "abc", "0", "-1", "99999999999999999999999"):
        response = await api.get(
            f"/api/v1/wallet/{wallet}/statement",
            params={"from": past, "to": past},
            headers=auth,
        )
        assert_problem(response, 404, "wallet_not_found")


async def test_statements_of_system_accounts_need_the_audit_scope(
    settings: Settings, new_key: Callable[..., str], admin_conn: asyncpg.Connection
) -> None:
    reader = {"Authorization": f"Bearer {new_key([SCOPE_READ])}"}
    auditor = {"Authorization": f"Bearer {new_key([SCOPE_READ, SCOPE_AUDIT])}"}
    slot = await admin_conn.fetchval(
        "SELECT id FROM ledger.wallets WHERE kind = 'treasury' AND version > 0 ORDER BY id LIMIT 1"
    )
    params = {"from": (datetime.now(UTC) - timedelta(days=1)).isoformat(), "to": moment()}
    async with running_app(settings) as api:
        refused = await api.get(f"/api/v1/wallet/{slot}/statement", params=params, headers=reader)
        problem = assert_problem(refused, 403, "forbidden")
        assert SCOPE_AUDIT in problem["detail"] and "entries" not in problem
        allowed = await api.get(f"/api/v1/wallet/{slot}/statement", params=params, headers=auditor)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["userId"] is None


class _AheadClock(datetime):
    """The service's clock an hour ahead of the database's."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(hours=1)


@pytest.fixture
async def clock_ahead(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, key: str
) -> AsyncIterator[Client]:
    """The app (started once the test's key exists) with its clock an hour ahead."""
    monkeypatch.setattr(reads, "datetime", _AheadClock)
    async with running_app(settings) as client:
        yield client


async def test_a_moment_the_database_finds_future_is_validation_failed_naming_the_field(
    clock_ahead: Client, auth: dict[str, str], unique: str
) -> None:
    """The edge took it for past; the database (22023) does not: the same 400, never a 500."""
    api = clock_ahead
    assert (await topup(api, auth, f"bt-{unique}", "1.00")).status_code == 201
    wallet = await gold_wallet(api, auth, f"bt-{unique}")
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    response = await api.get(
        f"/api/v1/wallet/bt-{unique}/balance", params={"at": soon}, headers=auth
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["at"], problem
    # the database's words (the edge's would be "at is in the future: ..."), in the query's terms
    assert problem["detail"].startswith("at is a moment in the past, not "), problem
    response = await api.get(
        f"/api/v1/wallet/{wallet}/statement", params={"from": moment(), "to": soon}, headers=auth
    )
    problem = assert_problem(response, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["to"], problem


async def test_the_auditor_can_call_the_sql_functions(
    admin_conn: asyncpg.Connection, api: Client, auth: dict[str, str], unique: str
) -> None:
    user = f"au-{unique}"
    assert (await topup(api, auth, user, "4.00")).status_code == 201
    wallet = int(await gold_wallet(api, auth, user))
    async with admin_conn.transaction():
        await admin_conn.execute("SET LOCAL ROLE wallet_auditor")
        row = await admin_conn.fetchrow(
            "SELECT balance, version FROM api.balances_at($1, clock_timestamp(), $2)", user, GOLD
        )
        assert (row["balance"], row["version"]) == (Decimal("4.00"), 1)
        statement = await admin_conn.fetchrow(
            "SELECT opening, credits, closing, cardinality(entries) AS n"
            " FROM api.statement($1, clock_timestamp() - interval '1 hour', clock_timestamp())",
            wallet,
        )
        assert tuple(statement) == (Decimal("0.00"), Decimal("4.00"), Decimal("4.00"), 1)
