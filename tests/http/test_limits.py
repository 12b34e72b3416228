"""Limits (issue 16) over HTTP: a maximum balance, a daily earn and a daily spend limit refuse a
request with 422 balance_limit_exceeded or velocity_limit_exceeded, whose problem gives the limit,
what was used of it, what was asked and when it resets; nothing moves; a refund passes them; the
same Idempotency-Key succeeds once the limit allows it; concurrency cannot exceed them.

Each test gives its own users an override (api.set_user_limits, as the owner), cleared at its end,
so no other test of the run sees a limit. A refusal's problem is made by service/problems.py from
the ledger's DETAIL; its parsing is tested at the end of this file on DETAILs the ledger does not
write, which must still answer the problem, with its text only."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.config import RateLimit, Settings
from service.ledger import LedgerError
from service.problems import from_ledger
from tests.support import (
    GOLD,
    assert_problem,
    gold_balance,
    money_headers,
    repeat_verdict,
    reverse,
    running_app,
    transactions_of,
    transfer,
)

Client = httpx.AsyncClient

# The fields of a limit's problem besides the ones every problem has
BALANCE_FIELDS = {"limitType", "limit", "used", "requested"}
VELOCITY_FIELDS = {*BALANCE_FIELDS, "resetsAt"}
COMMON_FIELDS = {"type", "title", "status", "code", "detail", "requestId"}


@asynccontextmanager
async def limited(
    admin_conn: asyncpg.Connection,
    user: str,
    max_balance: str | None = None,
    earn: str | None = None,
    spend: str | None = None,
) -> AsyncIterator[None]:
    """`user`'s override of the gold coin's limits (None: no limit) for the block, then cleared,
    so that the asset's own configuration (none, seeded) applies to everyone again."""
    values = [None if v is None else Decimal(v) for v in (max_balance, earn, spend)]
    await admin_conn.execute("SELECT api.set_user_limits($1, $2, $3, $4, $5)", user, GOLD, *values)
    try:
        yield
    finally:
        await admin_conn.execute("SELECT api.clear_user_limits($1, $2)", user, GOLD)


async def post(
    api: Client, auth: dict[str, str], kind: str, user: str, amount: str, key: str | None = None
) -> httpx.Response:
    """POST /api/v1/wallet/{kind} (topup, bonus or spend) of `amount` gold coins."""
    body: dict[str, Any] = {"userId": user, "assetTypeId": GOLD, "amount": amount}
    if kind == "bonus":
        body["reason"] = "streak"
    elif kind == "spend":
        body["serviceDescription"] = "a sword"
    return await api.post(f"/api/v1/wallet/{kind}", json=body, headers=money_headers(auth, key))


async def usage(conn: asyncpg.Connection, user: str) -> tuple[str, str, str]:
    """(earned today, spent today, when the day resets as the ledger writes it) for gold."""
    row = await conn.fetchrow(
        "SELECT earned_today::text, spent_today::text, resets_at FROM api.limits($1, $2)",
        user,
        GOLD,
    )
    assert row is not None
    resets_at: datetime = row["resets_at"]
    return row["earned_today"], row["spent_today"], resets_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def facts(problem: dict[str, Any]) -> tuple[str | None, ...]:
    """(limitType, limit, used, requested, resetsAt) of a limit's problem, None where absent."""
    return tuple(problem.get(k) for k in ("limitType", "limit", "used", "requested", "resetsAt"))


def limit_problem(response: httpx.Response, code: str) -> dict[str, Any]:
    """The problem `code` (422), asserted to have exactly the limit fields of its code."""
    problem = assert_problem(response, 422, code)
    fields = BALANCE_FIELDS if code == "balance_limit_exceeded" else VELOCITY_FIELDS
    assert set(problem) == COMMON_FIELDS | fields, problem
    return problem


# ----------------------------------------------------------------------------------------------
# Each limit, on each route that can pass it
# ----------------------------------------------------------------------------------------------
async def test_a_top_up_above_the_maximum_balance_is_refused_with_its_limit_and_moves_nothing(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    async with limited(admin_conn, user, max_balance="100.00"):
        assert (await post(api, auth, "topup", user, "60.00")).status_code == 201
        problem = limit_problem(
            await post(api, auth, "topup", user, "50.00"), "balance_limit_exceeded"
        )
        # used: the balance before the credit
        assert facts(problem) == ("max_balance", "100.00", "60.00", "50.00", None)
        assert problem["detail"] == (
            f"balance limit exceeded: {user} would hold 110.00 GOLD_COIN, the most it may hold is"
            " 100.00 (limit: 100.00, used: 60.00, requested: 50.00)"
        )
        assert await gold_balance(api, auth, user) == "60.00"
        assert (await usage(admin_conn, user))[:2] == ("60.00", "0.00"), "the refusal counts not"
        assert await transactions_of(admin_conn, user) == 1
        up_to = await post(api, auth, "topup", user, "40.00")
        assert up_to.status_code == 201 and up_to.json()["balance"] == "100.00", "the limit itself"


async def test_a_bonus_over_the_daily_earn_limit_is_refused_with_when_it_resets(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    async with limited(admin_conn, user, earn="20.00"):
        assert (await post(api, auth, "bonus", user, "15.00")).status_code == 201
        problem = limit_problem(
            await post(api, auth, "bonus", user, "10.00"), "velocity_limit_exceeded"
        )
        earned, spent, resets_at = await usage(admin_conn, user)
        assert resets_at.endswith("T00:00:00Z"), "the gold coin's day is UTC's"
        assert facts(problem) == ("daily_earn", "20.00", "15.00", "10.00", resets_at)
        assert problem["detail"] == (
            f"velocity limit exceeded: {user} may earn at most 20.00 GOLD_COIN a day (limit:"
            f" 20.00, used: 15.00, requested: 10.00, resets_at: {resets_at})"
        )
        assert (earned, spent) == ("15.00", "0.00")
        assert await gold_balance(api, auth, user) == "15.00"
        assert await transactions_of(admin_conn, user) == 1
        rest = await post(api, auth, "bonus", user, "5.00")
        assert rest.status_code == 201 and rest.json()["balance"] == "20.00", "the limit itself"


async def test_a_spend_over_the_daily_spend_limit_is_refused(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    async with limited(admin_conn, user, spend="50.00"):
        assert (await post(api, auth, "topup", user, "100.00")).status_code == 201
        assert (await post(api, auth, "spend", user, "30.00")).status_code == 201
        problem = limit_problem(
            await post(api, auth, "spend", user, "25.00"), "velocity_limit_exceeded"
        )
        _, spent, resets_at = await usage(admin_conn, user)
        assert facts(problem) == ("daily_spend", "50.00", "30.00", "25.00", resets_at)
        assert spent == "30.00"
        assert await gold_balance(api, auth, user) == "70.00"
        assert await transactions_of(admin_conn, user) == 2


async def test_a_hold_counts_against_the_daily_spend_limit_and_its_void_gives_it_back(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    """An authorization is spending (checked and counted like a spend); what its void gives back
    on the same day is no longer spent."""
    user = f"u-{unique}"

    async def authorize(amount: str) -> httpx.Response:
        body = {"userId": user, "assetTypeId": GOLD, "amount": amount, "description": "a match"}
        return await api.post("/api/v1/wallet/holds", json=body, headers=money_headers(auth))

    async with limited(admin_conn, user, spend="50.00"):
        assert (await post(api, auth, "topup", user, "100.00")).status_code == 201
        held = await authorize("30.00")
        assert held.status_code == 201, held.text
        problem = limit_problem(await authorize("25.00"), "velocity_limit_exceeded")
        _, spent, resets_at = await usage(admin_conn, user)
        assert facts(problem) == ("daily_spend", "50.00", "30.00", "25.00", resets_at)
        assert spent == "30.00"
        assert await gold_balance(api, auth, user) == "70.00"
        void = await api.post(
            f"/api/v1/holds/{held.json()['holdId']}/void", headers=money_headers(auth)
        )
        assert void.status_code == 201, void.text
        assert (await usage(admin_conn, user))[1] == "0.00"
        assert (await authorize("50.00")).status_code == 201, "the whole limit is free again"


async def test_a_transfer_over_the_senders_daily_spend_limit_is_refused(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    sender, recipient = f"s-{unique}", f"r-{unique}"
    async with limited(admin_conn, sender, spend="50.00"):
        assert (await post(api, auth, "topup", sender, "100.00")).status_code == 201
        problem = limit_problem(
            await transfer(api, auth, sender, recipient, "60.00"), "velocity_limit_exceeded"
        )
        assert facts(problem)[:4] == ("daily_spend", "50.00", "0.00", "60.00")
        assert problem["detail"].startswith(f"velocity limit exceeded: {sender} may spend ")
        assert await gold_balance(api, auth, sender) == "100.00"
        assert await gold_balance(api, auth, recipient) == "0.00"
        assert await transactions_of(admin_conn, sender, recipient) == 1
        sent = await transfer(api, auth, sender, recipient, "50.00")
        assert sent.status_code == 201, sent.text
        assert (sent.json()["fromBalance"], sent.json()["toBalance"]) == ("50.00", "50.00")


async def test_a_transfer_over_the_recipients_earn_limit_or_maximum_balance_is_refused(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    sender, earner, capped = f"s-{unique}", f"e-{unique}", f"c-{unique}"
    async with limited(admin_conn, earner, earn="20.00"), limited(admin_conn, capped, "25.00"):
        assert (await post(api, auth, "topup", sender, "100.00")).status_code == 201
        assert (await transfer(api, auth, sender, earner, "15.00")).status_code == 201
        problem = limit_problem(
            await transfer(api, auth, sender, earner, "10.00"), "velocity_limit_exceeded"
        )
        assert facts(problem)[:4] == ("daily_earn", "20.00", "15.00", "10.00")
        assert problem["detail"].startswith(f"velocity limit exceeded: {earner} may earn ")
        problem = limit_problem(
            await transfer(api, auth, sender, capped, "30.00"), "balance_limit_exceeded"
        )
        # no wallet yet: nothing held before the credit
        assert facts(problem) == ("max_balance", "25.00", "0.00", "30.00", None)
        for user, balance in ((sender, "85.00"), (earner, "15.00"), (capped, "0.00")):
            assert await gold_balance(api, auth, user) == balance, user
        assert await transactions_of(admin_conn, sender, earner, capped) == 2
        # the sender's day is not charged with the refused transfers: the sender has no limit,
        # but the counters run while the asset has limits
        assert (await usage(admin_conn, sender))[:2] == ("100.00", "15.00")


async def test_a_reversal_passes_the_maximum_balance_and_the_earn_limit(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    """A refund is never blocked by a cap: the reversal of a spend credits the user at the maximum
    balance and at the day's earn limit, and does not count as earned."""
    user = f"u-{unique}"
    async with limited(admin_conn, user, max_balance="100.00", earn="130.00"):
        assert (await post(api, auth, "topup", user, "100.00")).status_code == 201
        spent = await post(api, auth, "spend", user, "30.00")
        assert spent.status_code == 201, spent.text
        assert (await post(api, auth, "topup", user, "30.00")).json()["balance"] == "100.00"
        assert (await usage(admin_conn, user))[:2] == ("130.00", "30.00")
        refund = await reverse(api, auth, spent.json()["transactionId"])
        assert refund.status_code == 201, refund.text
        assert (refund.json()["type"], refund.json()["balance"]) == ("reversal", "130.00")
        assert (await usage(admin_conn, user))[:2] == ("130.00", "30.00"), "exempt: not counted"
        problem = limit_problem(
            await post(api, auth, "topup", user, "0.01"), "balance_limit_exceeded"
        )
        assert facts(problem) == ("max_balance", "100.00", "130.00", "0.01", None)
        assert await gold_balance(api, auth, user) == "130.00"


# ----------------------------------------------------------------------------------------------
# The Idempotency-Key of a refused request, as after insufficient_funds
# ----------------------------------------------------------------------------------------------
async def test_the_same_key_succeeds_once_the_limit_is_raised(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user, key = f"u-{unique}", f"k-{unique}"
    async with limited(admin_conn, user, earn="20.00"):
        assert (await post(api, auth, "bonus", user, "15.00")).status_code == 201
        limit_problem(await post(api, auth, "bonus", user, "10.00", key), "velocity_limit_exceeded")
        # the refusal is not remembered as the key's answer: the retry is tried again, and refused
        # again while the limit is what it was
        again = await post(api, auth, "bonus", user, "10.00", key)
        assert "idempotent-replayed" not in again.headers
        assert limit_problem(again, "velocity_limit_exceeded")["used"] == "15.00"
        await admin_conn.execute(
            "SELECT api.set_user_limits($1, $2, NULL, 30.00, NULL)", user, GOLD
        )
        first = await post(api, auth, "bonus", user, "10.00", key)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        assert first.json()["balance"] == "25.00"
        assert repeat_verdict(first, await post(api, auth, "bonus", user, "10.00", key)) == (
            "replayed"
        )
        assert await gold_balance(api, auth, user) == "25.00"
        assert await transactions_of(admin_conn, user) == 2


async def test_the_same_key_succeeds_once_the_day_resets(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user, key = f"u-{unique}", f"k-{unique}"
    async with limited(admin_conn, user, spend="20.00"):
        assert (await post(api, auth, "topup", user, "50.00")).status_code == 201
        assert (await post(api, auth, "spend", user, "20.00")).status_code == 201
        refused = await post(api, auth, "spend", user, "5.00", key)
        assert limit_problem(refused, "velocity_limit_exceeded")["used"] == "20.00"
        # midnight passes: the day's usage is of an earlier day, which the ledger counts as zero
        # (ledger._check_limits compares usage_day with today in the asset's zone)
        await admin_conn.execute(
            "UPDATE ledger.wallets SET usage_day = usage_day - 1"
            " WHERE owner_id = $1 AND asset_id = $2",
            user,
            GOLD,
        )
        retry = await post(api, auth, "spend", user, "5.00", key)
        assert retry.status_code == 201, retry.text
        assert retry.json()["balance"] == "25.00"
        assert (await usage(admin_conn, user))[:2] == ("0.00", "5.00"), "the new day's only"


async def test_a_limits_refusal_counts_against_the_users_transaction_limit(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    """As insufficient_funds: a valid request that a limit refused is a real attempt on the
    user's money (the same request may pass later), so it uses the user's count; an invalid
    one gives it back (tests/http/test_auth_limits.py)."""
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    # an hour's window: a window ending during the test would reset the count it checks
    async with (
        limited(admin_conn, user, earn="10.00"),
        running_app(settings, rate_limit_transactions=RateLimit(2, 3600)) as api,
    ):
        assert (await post(api, auth, "bonus", user, "10.00")).status_code == 201
        limit_problem(await post(api, auth, "bonus", user, "1.00"), "velocity_limit_exceeded")
        assert_problem(await post(api, auth, "topup", user, "1.00"), 429, "rate_limited")


# ----------------------------------------------------------------------------------------------
# Concurrency
# ----------------------------------------------------------------------------------------------
async def test_forty_concurrent_bonuses_under_a_daily_earn_limit_give_exactly_twenty(
    api: Client, auth: dict[str, str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    user = f"u-{unique}"
    async with limited(admin_conn, user, earn="200.00"):
        answers = await asyncio.gather(
            *(post(api, auth, "bonus", user, "10.00", uuid.uuid4().hex) for _ in range(40))
        )
        assert Counter(a.status_code for a in answers) == {201: 20, 422: 20}
        balances = sorted(Decimal(a.json()["balance"]) for a in answers if a.status_code == 201)
        assert balances == [Decimal(10 * n) for n in range(1, 21)], "each saw the one before"
        refusals = {
            facts(limit_problem(a, "velocity_limit_exceeded"))[:4]
            for a in answers
            if a.status_code == 422
        }
        # every refusal came after the twentieth bonus: 200.00 used, nothing more fits
        assert refusals == {("daily_earn", "200.00", "200.00", "10.00")}
        balance = await admin_conn.fetchval(
            "SELECT balance::text FROM api.balances($1) WHERE asset_id = $2", user, GOLD
        )
        assert balance == "200.00"
        assert (await usage(admin_conn, user))[:2] == ("200.00", "0.00")
        assert await transactions_of(admin_conn, user) == 20
        assert await admin_conn.fetch("SELECT * FROM api.reconcile() WHERE NOT ok") == []


# ----------------------------------------------------------------------------------------------
# The OpenAPI document
# ----------------------------------------------------------------------------------------------
async def test_the_openapi_document_shows_the_limit_problems_and_their_fields(api: Client) -> None:
    document = (await api.get("/schema/openapi.json")).json()
    properties = document["components"]["schemas"]["Problem"]["properties"]
    assert {"limitType", "limit", "used", "requested", "resetsAt"} <= set(properties)
    assert set(properties["limitType"]["enum"]) == {
        "max_balance",
        "daily_earn",
        "daily_spend",
        None,
    }
    for name in ("limit", "used", "requested"):
        assert properties[name]["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$", name
        assert {"type": "string"} in properties[name]["oneOf"], "a decimal string, not a number"
    assert {"type": "string", "format": "date-time"} in properties["resetsAt"]["oneOf"]
    assert "limit" not in document["components"]["schemas"]["Problem"]["required"]
    paths = document["paths"]
    for path in ("topup", "bonus", "spend", "transfer", "holds"):
        described = paths[f"/api/v1/wallet/{path}"]["post"]["responses"]["422"]["description"]
        codes = {part.partition(": ")[0] for part in described.split("; ")}
        assert {"balance_limit_exceeded", "velocity_limit_exceeded"} <= codes, path
    reversal = paths["/api/v1/transactions/{transactionId}/reversals"]["post"]["responses"]
    assert "limit_exceeded" not in reversal["422"]["description"], "reversals are exempt"


# ----------------------------------------------------------------------------------------------
# The DETAIL's parsing: whatever the ledger's words, the problem answers (never a 500)
# ----------------------------------------------------------------------------------------------
VELOCITY_MESSAGE = "velocity limit exceeded: u-1 may spend at most 50.00 GOLD_COIN a day"
BALANCE_MESSAGE = "balance limit exceeded: u-1 would hold 110.00 GOLD_COIN, the most it may hold"


def encoded(sqlstate: str, message: str, detail: str | None) -> dict[str, Any]:
    """The problem body (as sent) that the ledger error answers."""
    code = "balance_limit_exceeded" if sqlstate == "WBLIM" else "velocity_limit_exceeded"
    error = from_ledger(LedgerError(sqlstate, code, message, detail))
    assert (error.status, error.code) == (422, code)
    body: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(error.problem("r-1")))
    assert body["detail"] == (message if not detail else f"{message} ({detail})")
    return body


def test_the_ledgers_details_give_the_fields_exactly() -> None:
    body = encoded(
        "WVLIM",
        VELOCITY_MESSAGE,
        "limit: 50.00, used: 30.00, requested: 25.00, resets_at: 2026-11-30T00:00:00Z",
    )
    assert facts(body) == ("daily_spend", "50.00", "30.00", "25.00", "2026-11-30T00:00:00Z")
    # a balance below zero (an allow_negative reversal) and an asset of no decimal places
    body = encoded("WBLIM", BALANCE_MESSAGE, "limit: 100, used: -5, requested: 120")
    assert facts(body) == ("max_balance", "100", "-5", "120", None)
    # another zone's offset is told in UTC
    body = encoded(
        "WVLIM",
        VELOCITY_MESSAGE.replace("spend", "earn"),
        "limit: 1, used: 1, requested: 1, resets_at: 2026-11-30T00:00:00+01:00",
    )
    assert (body["limitType"], body["resetsAt"]) == ("daily_earn", "2026-11-29T23:00:00Z")
    # a DETAIL that names the limit (should the ledger write it) is taken at its word
    body = encoded(
        "WVLIM",
        "some other words",
        "limit: 1, used: 1, requested: 1, resets_at: 2026-11-30T00:00:00Z, limit_type: daily_earn",
    )
    assert body["limitType"] == "daily_earn"


WHOLE = "limit: 5, used: 3, requested: 2"


@pytest.mark.parametrize(
    ("sqlstate", "message", "detail"),
    [
        ("WBLIM", BALANCE_MESSAGE, None),
        ("WBLIM", BALANCE_MESSAGE, ""),
        ("WBLIM", BALANCE_MESSAGE, "limit: 5, used: 3"),
        ("WBLIM", BALANCE_MESSAGE, "limit: 5, used: 3, requested: 1e3"),
        ("WBLIM", BALANCE_MESSAGE, "limit: 1.0E+2, used: 3, requested: 2"),
        ("WBLIM", BALANCE_MESSAGE, "limit: 5, used: 3, requested: NaN"),
        ("WBLIM", BALANCE_MESSAGE, "limit: 5, used: 3, requested: 2.5."),
        ("WBLIM", BALANCE_MESSAGE, "limit: 5, limit: 6, used: 3, requested: 2"),
        ("WBLIM", BALANCE_MESSAGE, "limit=5 used=3 requested=2"),
        ("WBLIM", BALANCE_MESSAGE, "limit: \u0665, used: 3, requested: 2"),  # an Arabic-Indic 5
        ("WVLIM", VELOCITY_MESSAGE, WHOLE),
        ("WVLIM", VELOCITY_MESSAGE, f"{WHOLE}, resets_at: "),
        ("WVLIM", VELOCITY_MESSAGE, f"{WHOLE}, resets_at: tomorrow"),
        ("WVLIM", VELOCITY_MESSAGE, f"{WHOLE}, resets_at: 2026-11-30"),  # no time, no zone
        ("WVLIM", VELOCITY_MESSAGE, f"{WHOLE}, resets_at: 2026-11-30T00:00"),  # no zone
        ("WVLIM", VELOCITY_MESSAGE, f"{WHOLE}, resets_at: 0001-01-01T00:00+01:00"),  # year 0
    ],
)
def test_a_detail_not_of_the_ledgers_form_answers_the_problem_with_its_text_only(
    sqlstate: str, message: str, detail: str | None
) -> None:
    body = encoded(sqlstate, message, detail)
    assert set(body) == COMMON_FIELDS, body


# DETAILs near the ledger's form: each of its names absent, well formed or any text, in any
# order, with other names among them
_DECIMALS = st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{1,3})?", fullmatch=True)
_TIMES = st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat)
_FORMS = {
    "limit": _DECIMALS,
    "used": _DECIMALS,
    "requested": _DECIMALS,
    "resets_at": _TIMES,
    "limit_type": st.sampled_from(["daily_earn", "daily_spend", "max_balance", "weekly"]),
}


@st.composite
def _near_details(draw: st.DrawFn) -> str:
    pairs = [
        (name, value)
        for name, form in _FORMS.items()
        if (value := draw(st.none() | form | st.text(max_size=12))) is not None
    ]
    pairs += draw(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=2))
    return ", ".join(f"{name}: {value}" for name, value in draw(st.permutations(pairs)))


_DETAILS = st.none() | st.text(max_size=120) | _near_details()


@given(
    sqlstate=st.sampled_from(["WBLIM", "WVLIM"]),
    message=st.sampled_from([BALANCE_MESSAGE, VELOCITY_MESSAGE]) | st.text(max_size=80),
    detail=_DETAILS,
)
def test_any_ledger_words_answer_a_422_problem_with_all_its_amounts_or_none(
    sqlstate: str, message: str, detail: str | None
) -> None:
    body = encoded(sqlstate, message, detail)
    extra = set(body) - COMMON_FIELDS
    if not extra:
        return
    assert {"limit", "used", "requested"} <= extra <= VELOCITY_FIELDS, body
    for name in ("limit", "used", "requested"):
        assert Decimal(body[name]).is_finite() and "e" not in body[name].lower(), body
    if sqlstate == "WVLIM":
        assert "resetsAt" in extra and body["resetsAt"].endswith("Z"), body
        assert datetime.fromisoformat(body["resetsAt"]).utcoffset() == UTC.utcoffset(None)
    else:
        assert "resetsAt" not in extra and body["limitType"] == "max_balance", body
