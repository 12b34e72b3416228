"""Property-based fuzzing of the HTTP API (hypothesis), against the real PostgreSQL and Redis.

Whatever a client sends:
- the answer is never a 500, and its status is one the OpenAPI document of the same app lists
  for the operation (404 not_found / 405 method_not_allowed where no route or method matches);
- an error is an RFC 9457 problem (application/problem+json) that decodes strictly into
  service.problems.Problem, with a `code` the document names for that status (and `errors` of
  its code's shape: {field, message}, or batch_rejected's {index, code, detail});
- a success decodes strictly (no unknown fields) into its Struct of service/http/wire.py;
- a rejected request moves no money, and an accepted one moves exactly what it reports; a
  batch's items complete or fail as their users' funds and limits say, in a 201 or in its
  batch_rejected, and its Idempotency-Key replays the same batch and refuses another.

WALLET_FUZZ_EXAMPLES sets the examples per test: the default 200 takes about 30 s for the file,
2000 about 3 min. Each test prints its figures (requests sent, answers per status and per
problem code): `pytest -s tests/http/test_fuzz.py | grep ^fuzz`. With WALLET_FUZZ_SERVER (a base
URL) the requests go to that running `wallet serve` instead of the app in process: that is how
tests/faults/test_bad_input.py sends 10,000 and more through Granian.
"""

from __future__ import annotations

import asyncio
import decimal
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote

import asyncpg
import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, note, reject
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from service import rules
from service.config import Settings
from service.http.batches import BATCH_MAX_BODY_BYTES
from service.http.codec import encode_canonical
from service.http.metadata import measured_metadata
from service.http.wire import (
    BATCH_MAX_ITEMS,
    Balance,
    BalancesResponse,
    BatchItemResult,
    BatchResponse,
    Event,
    EventLeg,
    EventsResponse,
    HealthResponse,
    HoldDetail,
    HoldResolutionResponse,
    HoldResponse,
    LedgerEntry,
    LedgerResponse,
    StatementResponse,
    TransactionDetail,
    TransactionEntry,
    TransactionResponse,
    TransferResponse,
    TypeTotals,
)
from service.keys import revoke_key
from service.problems import Problem, ProblemItem
from tests.support import running_app

EXAMPLES = int(os.environ.get("WALLET_FUZZ_EXAMPLES", "200"))
SERVER = os.environ.get("WALLET_FUZZ_SERVER", "")
# a header's value as RFC 9110 allows it: visible ASCII, space, tab and obs-text (no controls)
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
FUZZ = hypothesis_settings(
    max_examples=EXAMPLES,
    derandomize=False,
    deadline=None,
    database=None,  # no .hypothesis/ in the checkout: a failure prints its shrunk example
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one app per test, shared by its examples
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# The fuzzing found eight bugs, all fixed: U+0000 reaching PostgreSQL, invalid UTF-8 inside a JSON
# string, Unicode digits in paging, an amount with a trailing newline (Python's `$`), OPTIONS
# answers missing from the contract, a hold's expiresInSeconds taken from a string, and in the
# batch route, `atomic` taken from a string or a number ("false", 0) and an item's userId with a
# trailing newline. Their reproductions are regression tests at the end (the batch route's, in
# tests/http/test_batches.py).

PROBLEM = "application/problem+json"
MONEY = ("topup", "bonus", "spend")
SCOPES = {
    "read": "wallet:read",
    "topup": "wallet:topup",
    "bonus": "wallet:bonus",
    "spend": "wallet:spend",
    "transfer": "wallet:transfer",
    "reversal": "wallet:refund",
    "hold": "wallet:hold",
    "batch": "wallet:batch",
}
DESCRIPTION = {"bonus": "reason", "spend": "serviceDescription"}
FUNDING = Decimal("1000.00")
# Python's `$` also matches before a final newline; the document's patterns (JSON Schema) do not
USER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
AMOUNT = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
SERVICE_JSON = msgspec.json.Decoder(float_hook=Decimal)  # as the service decodes bodies


# ----------------------------------------------------------------------------------------------
# The contract: the OpenAPI document of the app under test, and strict views of the bodies
# ----------------------------------------------------------------------------------------------
# The bodies' Structs, refusing unknown fields (nested Structs too: hence the narrowed lists)
class StrictProblemItem(ProblemItem, forbid_unknown_fields=True):
    pass


class StrictProblem(Problem, forbid_unknown_fields=True):
    errors: list[StrictProblemItem] | None = None  # type: ignore[assignment]


# The members of a problem's errors by its code (one Struct of optional members on the wire)
ERROR_SHAPES = {
    "validation_failed": frozenset({"field", "message"}),
    "batch_rejected": frozenset({"index", "code", "detail"}),
}


class StrictTransaction(TransactionResponse, forbid_unknown_fields=True):
    pass


class StrictTransfer(TransferResponse, forbid_unknown_fields=True):
    pass


class StrictReversal(StrictTransaction, forbid_unknown_fields=True):
    # ReversalResponse's own fields, on the strict view of its base
    type: Literal["reversal"]  # type: ignore[assignment]
    reverses_transaction_id: str
    remaining: str


class StrictBalance(Balance, forbid_unknown_fields=True):
    pass


class StrictBalances(BalancesResponse, forbid_unknown_fields=True):
    balances: list[StrictBalance]  # type: ignore[assignment]


class StrictLedgerEntry(LedgerEntry, forbid_unknown_fields=True):
    pass


class StrictLedger(LedgerResponse, forbid_unknown_fields=True):
    entries: list[StrictLedgerEntry]  # type: ignore[assignment]


class StrictTypeTotals(TypeTotals, forbid_unknown_fields=True):
    pass


class StrictStatement(StatementResponse, forbid_unknown_fields=True):
    by_type: dict[str, StrictTypeTotals] | None  # type: ignore[assignment]
    entries: list[StrictLedgerEntry]  # type: ignore[assignment]


class StrictLeg(TransactionEntry, forbid_unknown_fields=True):
    pass


class StrictDetail(TransactionDetail, forbid_unknown_fields=True):
    entries: list[StrictLeg]  # type: ignore[assignment]


class StrictHealth(HealthResponse, forbid_unknown_fields=True):
    pass


class StrictHold(HoldResponse, forbid_unknown_fields=True):
    pass


class StrictHoldResolution(HoldResolutionResponse, forbid_unknown_fields=True):
    pass


class StrictHoldDetail(HoldDetail, forbid_unknown_fields=True):
    pass


class StrictEventLeg(EventLeg, forbid_unknown_fields=True):
    pass


class StrictEvent(Event, forbid_unknown_fields=True):
    entries: list[StrictEventLeg]  # type: ignore[assignment]


class StrictEvents(EventsResponse, forbid_unknown_fields=True):
    events: list[StrictEvent]  # type: ignore[assignment]


class StrictBatchItem(BatchItemResult, forbid_unknown_fields=True):
    pass


class StrictBatch(BatchResponse, forbid_unknown_fields=True):
    items: list[StrictBatchItem]  # type: ignore[assignment]


SUCCESS_BODIES: dict[tuple[str, str], type[msgspec.Struct]] = {
    **{("POST", f"/api/v1/wallet/{kind}"): StrictTransaction for kind in MONEY},
    ("POST", "/api/v1/wallet/transfer"): StrictTransfer,
    ("POST", "/api/v1/transactions/{transactionId}/reversals"): StrictReversal,
    ("GET", "/api/v1/wallet/{userId}/balance"): StrictBalances,
    ("GET", "/api/v1/wallet/{walletId}/ledger"): StrictLedger,
    ("GET", "/api/v1/wallet/{walletId}/statement"): StrictStatement,
    ("GET", "/api/v1/transactions/{transactionId}"): StrictDetail,
    ("GET", "/health"): StrictHealth,
    ("POST", "/api/v1/wallet/holds"): StrictHold,
    ("POST", "/api/v1/holds/{holdId}/capture"): StrictHoldResolution,
    ("POST", "/api/v1/holds/{holdId}/void"): StrictHoldResolution,
    ("GET", "/api/v1/holds/{holdId}"): StrictHoldDetail,
    ("POST", "/api/v1/wallet/batch"): StrictBatch,
    ("GET", "/api/v1/events"): StrictEvents,
}


@dataclass(frozen=True)
class Documented:
    media_types: frozenset[str]
    codes: frozenset[str] | None  # the problem codes the description names; None: no problem


UNMATCHED = {
    404: Documented(frozenset({PROBLEM}), frozenset({"not_found"})),
    405: Documented(frozenset({PROBLEM}), frozenset({"method_not_allowed"})),
}
# OPTIONS on a route answers 204 with its Allow header (HTTP's own discovery; docs/http-api.md)
OPTIONS_ANSWER = {204: Documented(frozenset(), None)}


def _codes(description: str) -> frozenset[str]:
    """The codes of a problem response's description, written "code: when; code: when" (one
    status's problems, as service/http/openapi.py describes them from the error catalogue)."""
    codes = frozenset(part.partition(": ")[0] for part in description.split("; "))
    assert all(re.fullmatch(r"[a-z]+(?:_[a-z]+)*", code) for code in codes), description
    return codes


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.routes: list[tuple[re.Pattern[str], str, dict[str, dict[int, Documented]]]] = []
        for template, item in document["paths"].items():
            segments = ["[^/]+" if s.startswith("{") else re.escape(s) for s in template.split("/")]
            operations: dict[str, dict[int, Documented]] = {}
            for method, operation in item.items():
                responses = {}
                for status, response in operation["responses"].items():
                    media = frozenset(m.split(";")[0] for m in response.get("content", {}))
                    codes = _codes(response["description"]) if PROBLEM in media else None
                    responses[int(status)] = Documented(media, codes)
                operations[method.upper()] = responses
            self.routes.append((re.compile("/".join(segments) + "/?"), template, operations))

    def expect(self, method: str, path: str) -> tuple[str | None, dict[int, Documented]]:
        """The operation (its template) a request reaches, and the answers documented for it."""
        for pattern, template, operations in self.routes:
            if pattern.fullmatch(path):
                if method in operations:
                    return template, operations[method]
                if method == "OPTIONS":
                    return None, OPTIONS_ANSWER
                return None, {405: UNMATCHED[405]}
        # Not a route's path as written: Litestar answers 404 or 405, or serves the route that the
        # path normalises to (it ignores some empty segments)
        collapsed = re.sub("/{2,}", "/", path)
        for pattern, template, operations in self.routes:
            if pattern.fullmatch(collapsed) and method in operations:
                return template, _either(operations[method], UNMATCHED)
        return None, dict(UNMATCHED)


def _either(one: dict[int, Documented], other: dict[int, Documented]) -> dict[int, Documented]:
    """The answers of two documents at once, a status both name allowing either's codes (the
    route's 404 wallet_not_found and the router's 404 not_found)."""
    merged = {**one, **other}
    for status in one.keys() & other.keys():
        a, b = one[status], other[status]
        codes = (
            None if a.codes is None and b.codes is None else (a.codes or set()) | (b.codes or set())
        )
        merged[status] = Documented(
            a.media_types | b.media_types, frozenset(codes) if codes is not None else None
        )
    return merged


def check(contract: Contract, response: httpx.Response) -> Any:
    """Asserts the answer is documented and its body well formed; returns the decoded body."""
    request = response.request
    status = response.status_code
    template, documented = contract.expect(request.method, request.url.path)
    sent = f"{request.method} {request.url.raw_path.decode('ascii', 'replace')}"
    assert status in documented, (
        f"{sent} answered {status}, not one of {sorted(documented)}: {response.text[:400]}"
    )
    expected = documented[status]
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if expected.media_types:
        assert media in expected.media_types, f"{sent}: {status} as {media!r}"
    if request.method == "HEAD":
        return None  # an answer to HEAD has no body
    if status >= 400:
        assert media == PROBLEM, f"{sent}: {status} as {media!r}: {response.text[:400]}"
        problem = msgspec.json.decode(response.content, type=StrictProblem)
        assert problem.status == status and problem.title == HTTPStatus(status).phrase, problem
        assert problem.type == f"urn:wallet:problem:{problem.code}" and problem.detail, problem
        assert expected.codes is None or problem.code in expected.codes, (
            f"{sent}: {status} {problem.code}, not one of {sorted(expected.codes or ())}"
        )
        assert problem.request_id == response.headers["x-request-id"], problem
        for error in problem.errors or ():
            members = {n for n in ProblemItem.__struct_fields__ if getattr(error, n) is not None}
            assert members == ERROR_SHAPES.get(problem.code), f"{sent}: {members} in {problem}"
        return problem
    body_type = SUCCESS_BODIES.get((request.method, template or ""))
    if body_type is None:
        return None
    return msgspec.json.decode(response.content, type=body_type)


async def contract_of(api: httpx.AsyncClient) -> Contract:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return Contract(response.json())


# ----------------------------------------------------------------------------------------------
# The world a test's requests live in: its app, keys, users, wallets and transactions
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    api: httpx.AsyncClient
    conn: asyncpg.Connection
    contract: Contract
    authorization: dict[str, bytes]  # a key's name in the strategies -> its header
    assets: tuple[str, ...]
    funded: tuple[str, ...]  # users holding FUNDING of every asset when the test starts
    fresh: tuple[str, ...]  # well-formed users without a wallet when the test starts
    wallet_ids: tuple[str, ...]
    transaction_ids: tuple[str, ...]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """What a failing example shows of it (hypothesis): no API keys, no clutter."""
        printer.text(f"World(funded={self.funded}, fresh={self.fresh})")

    async def balances(self, user: str) -> dict[str, tuple[Decimal, int]]:
        """{asset: (balance, version)} from the ledger itself (api.balances)."""
        return (await self.all_balances([user])).get(user, {})

    async def all_balances(self, users: list[str]) -> dict[str, dict[str, tuple[Decimal, int]]]:
        """{user: {asset: (balance, version)}}, in one round trip."""
        found: dict[str, dict[str, tuple[Decimal, int]]] = {}
        for row in await self._balances(users):
            found.setdefault(row["user_id"], {})[row["asset_id"]] = (row["balance"], row["version"])
        return found

    async def _balances(self, users: list[str]) -> list[asyncpg.Record]:
        return await self.conn.fetch(
            "SELECT u.user_id, b.asset_id, b.balance, b.version, b.held"
            " FROM unnest($1::text[]) AS u(user_id), LATERAL api.balances(u.user_id) AS b",
            users,
        )

    async def snapshot(self, users: list[str], holds: list[str]) -> Snapshot:
        """The users' wallets (balance, held) and the holds' statuses, at one moment of the
        ledger (one snapshot of PostgreSQL's: the sweeper's releases fall before or after)."""
        async with self.conn.transaction(isolation="repeatable_read", readonly=True):
            wallets = await self._balances(users)
            statuses = await self.conn.fetch(
                "SELECT h.hold_id, h.status"
                " FROM unnest($1::bigint[]) AS i(id), LATERAL api.get_hold(i.id) AS h",
                [int(hold) for hold in holds],
            )
        return Snapshot(
            {
                (r["user_id"], r["asset_id"]): (r["balance"], r["held"], r["version"])
                for r in wallets
            },
            {str(r["hold_id"]): r["status"] for r in statuses},
        )

    async def legs(self, transaction_id: str) -> tuple[dict[tuple[str, str], Decimal], str | None]:
        """{(account, direction): amount} of a transaction's entries ("user", "holds",
        "revenue"), and the user's balance right after it (None: no user leg)."""
        rows = await self.conn.fetch(
            "SELECT account, direction, amount, balance_after FROM api.transaction_entries($1)",
            int(transaction_id),
        )
        found: dict[tuple[str, str], Decimal] = {}
        balance = None
        for row in rows:
            leg = ((row["account"] or "user").partition("#")[0], row["direction"])
            found[leg] = found.get(leg, Decimal(0)) + row["amount"]
            balance = f"{row['balance_after']:f}" if row["account"] is None else balance
        return found, balance


Move = dict[tuple[str, str], tuple[Decimal, Decimal]]  # (user, asset) -> (balance, held) moved


@dataclass(frozen=True)
class Snapshot:
    wallets: dict[tuple[str, str], tuple[Decimal, Decimal, int]]  # -> (balance, held, version)
    statuses: dict[str, str]  # hold id -> open, captured, voided or expired

    def moved_since(self, before: Snapshot) -> Move:
        return {
            wallet: (now[0] - then[0], now[1] - then[1])
            for wallet, now in self.wallets.items()
            if now != (then := before.wallets[wallet])
        }


FRESH = b"(a fresh UUID)"  # an Idempotency-Key that send() makes unique to the request


@dataclass(frozen=True)
class Call:
    """One request; `auth` names a World key, or is the literal Authorization header."""

    method: str
    url: str  # path and query string, percent-encoded as sent
    auth: str | bytes | None = None
    idempotency_key: bytes | None = FRESH
    content_type: bytes | None = None
    content: bytes | None = None
    defects: tuple[str, ...] = ()  # what makes it invalid, for the batches of rejected calls


async def send(world: World, call: Call) -> httpx.Response:
    headers: list[tuple[bytes, bytes]] = []
    if call.auth is not None:
        auth = world.authorization[call.auth] if isinstance(call.auth, str) else call.auth
        headers.append((b"authorization", auth))
    if call.idempotency_key is not None:
        key = uuid.uuid4().hex.encode() if call.idempotency_key == FRESH else call.idempotency_key
        headers.append((b"idempotency-key", key))
    if call.content_type is not None:
        headers.append((b"content-type", call.content_type))
    if SERVER and not all(FIELD_VALUE.fullmatch(value) for _, value in headers):
        # not HTTP/1.1: Granian refuses it with a bare 400 before the app sees it (as
        # docs/http-api.md says), and only the app in process can be asked about it
        reject()
    url = call.url
    if url.startswith("//"):
        # a path of "//…" is a fine request target, but httpx reads a relative "//…" as a host
        # (and refuses it): given as an absolute URL, the same target is sent
        url = str(world.api.base_url).rstrip("/") + url
    try:
        return await world.api.request(call.method, url, headers=headers, content=call.content)
    except httpx.LocalProtocolError:
        # h11 sends no value with whitespace at its ends, which HTTP strips anyway: the request
        # the server would see is one that is drawn without it
        reject()


@dataclass
class Tally:
    name: str
    started: float = field(default_factory=time.perf_counter)
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)  # batches' items: completed, or a code

    def count(self, response: httpx.Response, body: Any) -> None:
        self.statuses[response.status_code] += 1
        if isinstance(body, Problem):
            self.codes[body.code] += 1

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Tally({self.name!r})")

    def report(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        codes = ", ".join(f"{c}: {n}" for c, n in self.codes.most_common())
        items = ", ".join(f"{c}: {n}" for c, n in self.items.most_common())
        return (
            f"fuzz {self.name}: {self.examples} examples, {self.statuses.total()} requests in "
            f"{time.perf_counter() - self.started:.1f} s; statuses {statuses}; codes {codes}"
            + (f"; batch items {items}" if items else "")
        )


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    figures = Tally(request.node.name)
    yield figures
    print(f"\n{figures.report()}")


@asynccontextmanager
async def fuzzed_api(settings: Settings, keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The app in process, or a client of the running server WALLET_FUZZ_SERVER once each of its
    workers knows the keys (made after it started) and refuses the revoked one."""
    if not SERVER:
        async with running_app(settings) as api:
            yield api
        return
    async with httpx.AsyncClient(base_url=SERVER, trust_env=False, timeout=30) as api:
        expected = {name: 401 if name == "revoked" else 200 for name in keys}
        deadline = time.monotonic() + 10  # a worker reloads its keys every 5 s at worst
        while True:
            answers = set()
            for name in ("all", "read", "revoked"):
                header = {"Authorization": f"Bearer {keys[name]}", "Connection": "close"}
                for _ in range(4):  # each on a new connection, so every worker is asked
                    response = await api.get("/api/v1/wallet/u/balance", headers=header)
                    answers.add((name, response.status_code))
            if all(status == expected[name] for name, status in answers):
                break
            assert time.monotonic() < deadline, f"the server does not know the keys: {answers}"
            await asyncio.sleep(0.2)
        yield api


@pytest.fixture
async def world(
    settings: Settings, new_key: Callable[..., str], unique: str, service_conn: asyncpg.Connection
) -> AsyncIterator[World]:
    keys = {"all": new_key()} | {name: new_key(scopes=[scope]) for name, scope in SCOPES.items()}
    keys["revoked"] = new_key(name=f"test-{unique}-revoked")
    revoke_key(settings.admin_database_url, f"test-{unique}-revoked")
    authorization = {name: f"Bearer {key}".encode() for name, key in keys.items()}
    # the same key, written the ways a client may: scheme in any case, padded
    authorization["all-lowercase"] = f"bearer {keys['all']}".encode()
    authorization["all-padded"] = f"Bearer   {keys['all']}  ".encode()
    async with fuzzed_api(settings, keys) as api:
        auth = {"Authorization": f"Bearer {keys['all']}"}
        funded = tuple(f"fuzz-{unique}-{i}" for i in range(3))
        fresh = tuple(f"fuzz-{unique}-fresh-{i}" for i in range(2))
        listed = await api.get(f"/api/v1/wallet/{funded[0]}/balance", headers=auth)
        assets = tuple(b["assetTypeId"] for b in listed.json()["balances"])
        wallet_ids, transaction_ids = [], []
        for user in funded:
            for asset in assets:
                response = await api.post(
                    "/api/v1/wallet/topup",
                    json={"userId": user, "assetTypeId": asset, "amount": str(FUNDING)},
                    headers={**auth, "Idempotency-Key": f"fund-{user}-{asset}"},
                )
                assert response.status_code == 201, response.text
                wallet_ids.append(response.json()["walletId"])
                transaction_ids.append(response.json()["transactionId"])
        yield World(
            api=api,
            conn=service_conn,
            contract=await contract_of(api),
            authorization=authorization,
            assets=assets,
            funded=funded,
            fresh=fresh,
            wallet_ids=tuple(wallet_ids),
            transaction_ids=tuple(transaction_ids),
        )


# ----------------------------------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------------------------------
def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three times in four (what shrinking goes to), else `bad`."""
    return st.integers(0, 3).flatmap(lambda n: bad if n == 3 else good)


def chance(one_in: int) -> st.SearchStrategy[bool]:
    """True about once in `one_in` draws; shrinks to False."""
    return st.integers(0, one_in - 1).map(lambda n: n == one_in - 1)


def text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any Unicode text that UTF-8 can carry, U+0000 included."""
    alphabet = st.characters(codec="utf-8")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    text(max_size=20),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
JSON_OBJECTS = st.dictionaries(text(max_size=12), JSON_VALUES, max_size=5)
NOT_STRINGS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.lists(SCALARS))
HEADER_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
VALID_AMOUNTS = st.decimals(Decimal("0.01"), Decimal("50.00"), places=2).map(lambda d: f"{d:f}")
ODD_AMOUNTS = st.one_of(
    st.from_regex(AMOUNT, fullmatch=True),  # well formed: any sign, size and places
    st.sampled_from(["0", "-0", "0.00", "-1.00", "1.001", "1000000000", "1000000000.01"]),
    st.sampled_from(["9" * 40, "1e3", "NaN", "Infinity", "", " 1", "1,00", "+1", ".5", "5."]),
    st.sampled_from(["\u0661", "\uff11", "1\n"]),
    text(max_size=45),
    NOT_STRINGS,
)
ODD_USER_IDS = st.one_of(
    st.from_regex(USER_ID, fullmatch=True),
    st.sampled_from(["", " ", "x" * 129, "\u00fc", "a b", "a/b", "user\n", "\u2603"]),
    text(max_size=140),
    NOT_STRINGS,
)


def _raw(json_text: str) -> msgspec.Raw:
    """`json_text` sent as it is written (msgspec would write a Decimal as a string)."""
    return msgspec.Raw(json_text.encode())


def _nested(levels: int, opener: str) -> msgspec.Raw:
    """A 1 inside `levels` arrays (opener "[") or objects (opener '{"a":')."""
    return _raw(opener * levels + "1" + ("]" if opener == "[" else "}") * levels)


# Numbers as clients may write them: within metadata's range (service/rules.py: at most 100
# digits, exponent from -400 to 400; 1e400 is 401 bytes of jsonb text) and beyond it, where
# PostgreSQL would write them out digit by digit (1e131000) or could not hold them (1e200000)
IN_RANGE_NUMBERS = st.builds(
    "{}{}e{}".format,
    st.sampled_from(["", "-"]),
    st.from_regex(r"[0-9](\.[0-9]{1,30})?", fullmatch=True),
    st.integers(-400, 400),
).map(_raw)
OUT_OF_RANGE_NUMBERS = st.one_of(
    st.builds(
        "{}{}e{}".format,
        st.sampled_from(["", "-"]),
        st.sampled_from(["1", "9.99", "0", "0.0"]),
        st.one_of(
            # just beyond the range; PostgreSQL's numeric limits (131,072 digits before the
            # point, 16,383 after); beyond them
            st.sampled_from([401, -401, 131_000, 131_072, -16_383, -16_384, 200_000, -200_000]),
            st.integers(401, 200_000),
            st.integers(-200_000, -401),
        ),
    )
    # the exponent as the number is written in d.ddd form (docs/http-api.md): 0.0e401 is 0e400,
    # in range (a failure the fuzzer found in its own draw, not in the service)
    .filter(lambda written: abs(Decimal(written).adjusted()) > 400),
    st.integers(101, 300).map(lambda n: "9" * n),
    st.integers(101, 300).map(lambda n: "0." + "1" * n),
).map(_raw)
NESTING = st.sampled_from(["[", '{"a":'])
# as a metadata member, 32 levels are deeper than metadata may nest (32, the object included);
# from about 1,000 deeper than the service's decoder goes
DEEP_VALUES = st.builds(_nested, st.integers(32, 1500), NESTING)
ODD_MEMBERS = st.one_of(JSON_VALUES, IN_RANGE_NUMBERS, OUT_OF_RANGE_NUMBERS, DEEP_VALUES)
METADATA = st.one_of(
    JSON_OBJECTS,
    JSON_VALUES,  # any shape, mostly not an object
    st.integers(4000, 5000).map(lambda n: {"note": "x" * n}),  # around the 4096-byte limit
    st.dictionaries(text(max_size=12), ODD_MEMBERS, min_size=1, max_size=16),
)


@st.composite
def money_body(draw: st.DrawFn, world: World, kind: str) -> dict[str, Any]:
    users = st.sampled_from(world.funded + world.fresh)
    body: dict[str, Any] = {
        "userId": draw(mostly(users, ODD_USER_IDS)),
        "assetTypeId": draw(mostly(st.sampled_from(world.assets), text(max_size=70) | NOT_STRINGS)),
        "amount": draw(mostly(VALID_AMOUNTS, ODD_AMOUNTS)),
    }
    if kind in DESCRIPTION:
        body[DESCRIPTION[kind]] = draw(DESCRIPTIONS)
    if kind == "hold":
        body["description"] = draw(DESCRIPTIONS)
        if not draw(chance(4)):  # else the default
            body["expiresInSeconds"] = draw(HOLD_SECONDS | ODD_HOLD_SECONDS)
    return _with_odd_members(draw, body)


GOOD_DESCRIPTIONS = st.sampled_from(["Sword", "Referral"]) | text(min_size=1, max_size=40)
DESCRIPTIONS = mostly(
    GOOD_DESCRIPTIONS,
    st.one_of(st.sampled_from(["", " ", "\t\n"]), text(max_size=600), NOT_STRINGS),
)
# A hold's expiresInSeconds: whole seconds from 1 to 30 days, short ones often (they expire while
# the test runs, and the sweeper releases them); else anything but that
HOLD_SECONDS = st.one_of(
    st.integers(rules.HOLD_EXPIRY_MIN_SECONDS, rules.HOLD_EXPIRY_MAX_SECONDS),
    st.sampled_from([1, 2, 3, rules.HOLD_EXPIRY_DEFAULT_SECONDS, rules.HOLD_EXPIRY_MAX_SECONDS]),
    st.none(),
)
ODD_HOLD_SECONDS = st.one_of(
    st.sampled_from([0, -1, rules.HOLD_EXPIRY_MAX_SECONDS + 1, 10**9, 10**9 + 1, -(10**9) - 1]),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -(10**30), 10**4000]),
    st.integers(),
    st.floats(),  # 1.5, 900.0, 1e300; NaN and infinities go as null
    # a number in a string, which is no JSON number
    st.integers(-10, rules.HOLD_EXPIRY_MAX_SECONDS + 10).map(str),
    st.sampled_from(["1e3", "900.0", "-0", " 900", "+900", "0x10", "1_000", "\u0669\u0660\u0660"]),
    text(max_size=12) | NOT_STRINGS,
    # numbers that are no integers as JSON writes them, and integers beyond what it may hold
    st.sampled_from(["1e3", "9e2", "900.0", "1E+3", "-0.0", "0.5", "1" + "0" * 5000]).map(_raw),
)


def _with_odd_members(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with metadata half the time, and now and then fields missing or unknown ones."""
    if draw(st.booleans()):
        body["metadata"] = draw(mostly(JSON_OBJECTS, METADATA))
    if body and draw(chance(8)):
        for name in draw(st.sets(st.sampled_from(sorted(body)), min_size=1, max_size=2)):
            del body[name]
    if draw(chance(8)):
        extra = st.dictionaries(
            text(max_size=15), JSON_VALUES | DEEP_VALUES, min_size=1, max_size=2
        )
        body.update(draw(extra))
    return body


def idempotency_keys() -> st.SearchStrategy[bytes | None]:
    good = mostly(
        st.just(FRESH),
        st.from_regex(r"[\x20-\x7e]{1,255}", fullmatch=True).map(str.encode)
        | st.sampled_from([b"fuzz-shared-1", b"fuzz-shared-2"]),  # replays and reuses
    )
    bad = st.one_of(
        st.none(),
        st.sampled_from([b"", b"k" * 256, b"caf\xc3\xa9", b"tab\there", b"\xff", b"\x7f"]),
        HEADER_BYTES,
    )
    return mostly(good, bad)


def authorizations(scope: str) -> st.SearchStrategy[str | bytes | None]:
    good = st.sampled_from(["all", scope, "all-lowercase", "all-padded"])
    lacking = sorted(name for name in SCOPES if name != scope)
    bad = st.one_of(
        st.none(),
        st.sampled_from(["revoked", *lacking]),
        st.sampled_from([b"", b"Bearer", b"Bearer ", b"Basic dXNlcjpwYXNz", b"Token abc"]),
        HEADER_BYTES,
        text(max_size=60).map(lambda t: b"Bearer " + t.encode()),
    )
    return mostly(good, bad)


CONTENT_TYPES = mostly(
    st.sampled_from([b"application/json", b"application/json; charset=utf-8", b"APPLICATION/JSON"])
    | st.sampled_from([b"application/problem+json", b"application/vnd.wallet+json"]),
    st.one_of(
        st.none(),
        st.sampled_from([b"text/plain", b"application/x-www-form-urlencoded", b"", b"json"]),
        st.sampled_from([b"multipart/form-data; boundary=x", b"application/jsonx"]),
        HEADER_BYTES,
    ),
)


@st.composite
def transfer_body(draw: st.DrawFn, world: World) -> dict[str, Any]:
    users = st.sampled_from(world.funded + world.fresh)
    body: dict[str, Any] = {
        "fromUserId": draw(mostly(users, ODD_USER_IDS)),
        "toUserId": draw(mostly(users, ODD_USER_IDS)),
        "assetTypeId": draw(mostly(st.sampled_from(world.assets), text(max_size=70) | NOT_STRINGS)),
        "amount": draw(mostly(VALID_AMOUNTS, ODD_AMOUNTS)),
        "description": draw(DESCRIPTIONS),
    }
    return _with_odd_members(draw, body)


@st.composite
def reversal_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": draw(DESCRIPTIONS)}
    if not draw(chance(4)):  # else all that remains
        body["amount"] = draw(mostly(VALID_AMOUNTS, ODD_AMOUNTS))
    if draw(st.booleans()):
        modes = st.sampled_from(["strict", "allow_negative"])
        body["mode"] = draw(mostly(modes, text(max_size=20) | NOT_STRINGS))
    return _with_odd_members(draw, body)


@st.composite
def money_content(draw: st.DrawFn, bodies: st.SearchStrategy[dict[str, Any]]) -> bytes:
    encoded = msgspec.json.encode(draw(bodies))
    shape = draw(st.integers(0, 20))
    if shape < 16:
        return encoded
    if shape == 16:
        return draw(st.binary(max_size=80))  # not JSON, or not UTF-8
    if shape == 17:
        return msgspec.json.encode(draw(JSON_VALUES | DEEP_VALUES))  # JSON, mostly not an object
    if shape == 18:
        return encoded[: draw(st.integers(0, len(encoded)))]  # cut short
    if shape == 19:  # a few bytes slipped in: broken JSON, or broken UTF-8 inside a string
        at = draw(st.integers(0, len(encoded)))
        return encoded[:at] + draw(st.binary(min_size=1, max_size=3)) + encoded[at:]
    return b" " * (16 * 1024) + encoded  # over the 16 KiB limit


def _posted(
    draw: st.DrawFn, url: str, scope: str, bodies: st.SearchStrategy[dict[str, Any]]
) -> Call:
    """A POST to `url` of a body drawn from `bodies`, with the headers of a client drawn for a
    route of `scope` (a key in SCOPES)."""
    return Call(
        method="POST",
        url=url,
        auth=draw(authorizations(scope)),
        idempotency_key=draw(idempotency_keys()),
        content_type=draw(CONTENT_TYPES),
        content=draw(money_content(bodies)),
    )


@st.composite
def money_calls(draw: st.DrawFn, world: World) -> Call:
    kind = draw(st.sampled_from(MONEY))
    return _posted(draw, f"/api/v1/wallet/{kind}", kind, money_body(world, kind))


def segment(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A path segment, percent-encoded; now and then with its slashes left as they are."""
    return st.tuples(values, chance(5)).map(lambda t: quote(t[0], safe="/" if t[1] else ""))


ODD_IDS = st.one_of(
    st.integers().map(str),
    st.sampled_from(["0", "-1", "007", "+1", "1.0", "1e3", " 1", "9" * 18, "9" * 19, "\uff11"]),
    st.just(str(2**63)),
    text(max_size=30),
)
OTHER_METHODS = st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
QUERY_NAMES = mostly(
    # not wait: a long-poll would hold a request up to 30 s (tests/http/test_events.py tests it)
    st.sampled_from(["limit", "offset", "cursor", "assetTypeId", "at", "from", "to", "after"]),
    text(max_size=10),
)


@st.composite
def moments(draw: st.DrawFn) -> str:
    """Moments as clients write them, or nearly: RFC 3339 with an offset or not, past or future,
    at the ends of the calendar, with odd digits and separators."""
    when = draw(
        st.one_of(
            st.datetimes(timezones=st.just(UTC)),
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.timezones()),
            st.just(datetime.now(UTC) - timedelta(seconds=draw(st.integers(-5, 3600)))),
        )
    )
    written = when.isoformat(timespec=draw(st.sampled_from(["seconds", "microseconds"])))
    return draw(
        st.sampled_from(
            [
                written,
                written.replace("+00:00", "Z"),
                written[:19],  # no offset
                written.replace("T", " "),
                written.lower(),
                written[:10],
                written + "0000",
                written.replace("-", "\u0663", 1),
            ]
        )
    )


@st.composite
def read_calls(draw: st.DrawFn, world: World) -> Call:
    """GETs of the reads with odd segments and query strings; other methods; other paths."""
    users = mostly(st.sampled_from(world.funded + world.fresh), ODD_USER_IDS.filter(_is_str))
    wallets = mostly(st.sampled_from(world.wallet_ids), ODD_IDS)
    transactions = mostly(st.sampled_from(world.transaction_ids), ODD_IDS)
    where = draw(st.integers(0, 9))
    if where < 3:
        path = f"/api/v1/wallet/{draw(segment(users))}/balance"
    elif where < 6:
        kind = draw(st.sampled_from(["ledger", "statement"]))
        path = f"/api/v1/wallet/{draw(segment(wallets))}/{kind}"
    elif where < 8:
        path = f"/api/v1/transactions/{draw(segment(transactions))}"
    elif where == 8:
        path = draw(
            st.sampled_from(
                ["/health", "/metrics", "/api/v1/events", *(f"/api/v1/wallet/{k}" for k in MONEY)]
            )
        )
    else:
        parts = st.lists(segment(text(max_size=12)), min_size=0, max_size=4)
        path = draw(st.sampled_from(["/", "/api/v1/", "/api/v1/wallet/"])) + "/".join(draw(parts))
    values = st.one_of(
        st.integers(-10, 300).map(str),
        st.integers().map(str),
        st.sampled_from(["", "0", "-1", "1e3", "10" * 10, " 5", "5 ", "1.5", "null"]),
        st.sampled_from(["\u0663", "\uff15", "\u00b2", "\u2460"]),  # digits beyond ASCII
        st.sampled_from(world.assets),
        moments(),
        text(max_size=20),
    )
    pairs = draw(st.lists(st.tuples(QUERY_NAMES, values), max_size=4))
    if "/statement" in path and draw(chance(2)):  # mostly a period, so that some are served
        start = datetime.now(UTC) - timedelta(hours=draw(st.integers(0, 48)))
        pairs += [("from", start.isoformat()), ("to", datetime.now(UTC).isoformat())]
    query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
    return Call(
        method=draw(mostly(st.just("GET"), OTHER_METHODS)),
        url=f"{path}?{query}" if query else path,
        auth=draw(authorizations("read")),
    )


def _is_str(value: object) -> bool:
    return isinstance(value, str)


# A reversal names a transaction: the world's top-ups, or ids that are none (a well-formed id
# beyond the world's could be another test's transaction, which the fuzzing must not touch; so
# could "1/" or "x/../1", as the router drops empty segments and httpx dot segments)
POSITIVE_ID = re.compile(r"[1-9][0-9]{0,17}")


def _names_no_id(value: str) -> bool:
    if "/" in value:
        return re.search("[1-9]", value) is None
    return not POSITIVE_ID.fullmatch(value)


NO_TRANSACTION_IDS = st.one_of(ODD_IDS.filter(_names_no_id), st.just("9" * 18))


@st.composite
def movement_calls(draw: st.DrawFn, world: World) -> Call:
    """Transfers and reversals, mostly well formed, now and then not."""
    kind = draw(st.sampled_from(["transfer", "reversal"]))
    if kind == "transfer":
        url, bodies = "/api/v1/wallet/transfer", transfer_body(world)
    else:
        transaction = mostly(st.sampled_from(world.transaction_ids), NO_TRANSACTION_IDS)
        url, bodies = (
            f"/api/v1/transactions/{draw(segment(transaction))}/reversals",
            reversal_body(),
        )
    return _posted(draw, url, kind, bodies)


# Holds: authorizations drawn as money requests are (money_body), then captures, voids and reads
# of the holds the test made first, in each state, or of ids that name none
HOLD = "{hold}"  # in a drawn path: the id of the hold the example made (or the pool's)
HOLD_KINDS = ("authorize", "capture", "void", "read")
TARGETS = ("open", "captured", "voided", "expired", "none")
SETTLED = ("captured", "voided", "expired")
NO_HOLD_IDS = st.one_of(
    NO_TRANSACTION_IDS,
    st.sampled_from(["9" * 20, "\u0661", "\u0663\u0662", "\uff11\uff12", "\u00b9", "1" * 300]),
    st.integers(19, 2000).map(lambda n: "9" * n),  # beyond bigint, and very long
)
SETUP_AMOUNTS = st.decimals(Decimal("0.01"), Decimal("5.00"), places=2).map(lambda d: f"{d:f}")
CAPTURE_AMOUNTS = mostly(SETUP_AMOUNTS, VALID_AMOUNTS)  # the latter mostly more than is held


def setup_call(kind: str, body: dict[str, Any] | None) -> Call:
    """A well-formed hold call with every scope: an authorization, or a capture or void of the
    hold just made."""
    url = "/api/v1/wallet/holds" if kind == "authorize" else f"/api/v1/holds/{HOLD}/{kind}"
    if body is None:
        return Call("POST", url, auth="all")
    content = msgspec.json.encode(body)
    return Call("POST", url, "all", content_type=b"application/json", content=content)


@st.composite
def resolution_body(draw: st.DrawFn, capture: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if capture and not draw(chance(3)):  # else all of it
        body["amount"] = draw(mostly(CAPTURE_AMOUNTS, ODD_AMOUNTS))
    return _with_odd_members(draw, body)


@st.composite
def hold_calls(draw: st.DrawFn, world: World, kind: str, hold: str) -> Call:
    """A call of the hold routes of `kind`; `hold` is its path segment."""
    if kind == "read":
        method = draw(mostly(st.just("GET"), OTHER_METHODS))
        return Call(method, f"/api/v1/holds/{hold}", auth=draw(authorizations("read")))
    if kind == "authorize":
        return _posted(draw, "/api/v1/wallet/holds", "hold", money_body(world, "hold"))
    url = f"/api/v1/holds/{hold}/{kind}"
    call = _posted(draw, url, "hold", resolution_body(capture=kind == "capture"))
    if kind == "void" and draw(chance(3)):  # no body at all
        content_type = draw(st.sampled_from([None, b"application/json", b"text/plain"]))
        return replace(call, content=None, content_type=content_type)
    return call


@dataclass(frozen=True)
class HoldPlan:
    """An example of the holds property: well-formed calls that make a hold in the state `target`
    (the pool's holds are expired already: `pick` chooses one), then the drawn calls on it: one,
    or two with the same Idempotency-Key (the same call again, or another)."""

    setup: tuple[Call, ...]
    target: str
    pick: int
    calls: tuple[Call, ...]


@st.composite
def hold_plans(draw: st.DrawFn, world: World) -> HoldPlan:
    kind = draw(st.sampled_from(HOLD_KINDS))
    target = "none" if kind == "authorize" else draw(st.sampled_from(TARGETS))
    hold = draw(segment(NO_HOLD_IDS)) if target == "none" else HOLD
    well_formed = {
        "userId": draw(st.sampled_from(world.funded)),
        "assetTypeId": draw(st.sampled_from(world.assets)),
        "amount": draw(SETUP_AMOUNTS),
        "description": "Entry fee",
    }
    setup: tuple[Call, ...] = ()
    if target in ("open", "captured", "voided"):
        setup = (setup_call("authorize", well_formed),)
    if target == "captured":
        part = draw(st.sampled_from([{}, {"amount": "0.01"}]))
        setup += (setup_call("capture", part),)
    elif target == "voided":
        setup += (setup_call("void", None),)
    if kind == "authorize" and draw(st.booleans()):
        # well formed but for its expiry, drawn from all that may be sent
        seconds = draw(HOLD_SECONDS | ODD_HOLD_SECONDS)
        first = setup_call("authorize", {**well_formed, "expiresInSeconds": seconds})
    else:
        first = draw(hold_calls(world, kind, hold))
    other = st.sampled_from(HOLD_KINDS).flatmap(lambda k: hold_calls(world, k, hold))
    again = draw(mostly(st.none(), st.just(first) | other))
    pick = draw(st.integers(0, 63)) if target == "expired" else 0
    return HoldPlan(setup, target, pick, (first,) if again is None else (first, again))


# Batches: a body of one type and asset and its items, well formed half the time (its items'
# amounts still any the ledger may refuse: zero, negative, too precise, above the maximum, more
# than the balance), else hostile at every level; then, now and then, a second call under its key
BATCH = "/api/v1/wallet/batch"
BATCH_TEXT = {"bonus": "reason", "spend": "description"}
LEDGER_AMOUNTS = st.one_of(
    st.sampled_from(["0", "-0", "0.00", "-1.00", "1.001", "0.005", "1000000000.01", "9" * 40]),
    st.sampled_from(["1500.00", "999999.99"]),  # more than a funded user holds
    st.from_regex(AMOUNT, fullmatch=True),  # well formed: any sign, size and places
)
ITEM_AMOUNTS = mostly(VALID_AMOUNTS, LEDGER_AMOUNTS)
# an amount as a JSON number, which the document says is a string
NUMBER_AMOUNTS = st.sampled_from(["1", "1.00", "1e2", "-1", "0.1"]).map(_raw)
BATCH_TEXTS = st.sampled_from(["Season 12", "Referral"]) | st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40
).filter(str.strip)
ODD_ATOMIC = st.sampled_from(["true", "false", "yes", 0, 1, None, [], {}, 1.0])


@st.composite
def batch_item(draw: st.DrawFn, named: tuple[str, ...], clean: bool) -> dict[str, Any]:
    users = st.sampled_from(named)
    if clean:
        item: dict[str, Any] = {"userId": draw(users), "amount": draw(ITEM_AMOUNTS)}
        if draw(chance(3)):
            item["metadata"] = draw(STORABLE_METADATA)
        return item
    item = {
        "userId": draw(mostly(users, ODD_USER_IDS)),
        "amount": draw(mostly(ITEM_AMOUNTS, ODD_AMOUNTS | NUMBER_AMOUNTS)),
    }
    return _with_odd_members(draw, item)


@st.composite
def batch_items(draw: st.DrawFn, users: tuple[str, ...], clean: bool) -> Any:
    """None, one to six items (a user often more than once), now and then 1,000 or 1,001 (the
    most a batch may hold, and one more); or, hostile, not a list of items at all."""
    if not clean and draw(chance(12)):
        return draw(JSON_VALUES.filter(lambda v: not isinstance(v, list)))
    size = draw(st.integers(0, 49))
    if size == 0:
        return []
    if size in (1, 2):
        amount = draw(st.sampled_from(["0.01", "0.02"]))
        return [{"userId": users[n % len(users)], "amount": amount} for n in range(999 + size)]
    return draw(st.lists(batch_item(users, clean), min_size=1, max_size=6))


@st.composite
def batch_body(draw: st.DrawFn, world: World, users: tuple[str, ...], clean: bool) -> Any:
    kinds = st.sampled_from(("topup", "bonus", "spend"))
    odd_kinds = st.sampled_from(["hold", "transfer", "TOPUP", "reversal", ""]) | text(max_size=10)
    kind = draw(kinds if clean else mostly(kinds, odd_kinds | NOT_STRINGS))
    assets = st.sampled_from(world.assets)
    body: dict[str, Any] = {
        "type": kind,
        "assetTypeId": draw(assets if clean else mostly(assets, text(max_size=70) | NOT_STRINGS)),
        "items": draw(batch_items(users, clean)),
    }
    # the text its type takes, mostly; else none, the other, or both
    needed = BATCH_TEXT.get(kind) if isinstance(kind, str) else None
    texts = [needed] if needed else []
    if not clean and draw(chance(4)):
        texts = draw(st.sampled_from([[], ["reason"], ["description"], ["reason", "description"]]))
    for name in texts:
        body[name] = draw(BATCH_TEXTS if clean else DESCRIPTIONS)
    if draw(st.integers(0, 3)):  # else the default: atomic
        atomic = st.booleans()
        body["atomic"] = draw(atomic if clean else mostly(atomic, ODD_ATOMIC))
    if clean:
        return body
    if draw(chance(8)):
        for name in draw(st.sets(st.sampled_from(sorted(body)), min_size=1, max_size=2)):
            del body[name]
    if draw(chance(8)):
        body.update(draw(st.dictionaries(text(max_size=15), JSON_VALUES, min_size=1, max_size=2)))
    if draw(chance(20)):
        return draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))  # not an object
    return body


@st.composite
def batch_content(draw: st.DrawFn, body: Any) -> bytes:
    encoded = msgspec.json.encode(body)
    shape = draw(st.integers(0, 20))
    if shape < 16:
        return encoded
    if shape == 16:
        return draw(st.binary(max_size=80))  # not JSON, or not UTF-8
    if shape == 17:
        return encoded[: draw(st.integers(0, len(encoded)))]  # cut short
    if shape == 18:  # a few bytes slipped in: broken JSON, or broken UTF-8 inside a string
        at = draw(st.integers(0, len(encoded)))
        return encoded[:at] + draw(st.binary(min_size=1, max_size=3)) + encoded[at:]
    if shape == 19:
        return b" " * (200 * 1024) + encoded  # over the others' 16 KiB, within a batch's limit
    return b" " * BATCH_MAX_BODY_BYTES + encoded  # over the batch's 256 KiB


@dataclass(frozen=True)
class BatchPlan:
    """An example of the batches property: a call, and now and then a second one under its key:
    the same call again, the same batch written otherwise ("respelled"), or another batch."""

    call: Call
    again: tuple[str, Call] | None


def _respelled_amount(amount: Any) -> Any:
    """The same amount as a number, spelled otherwise ("10.50": "10.5" or "10.500")."""
    if not isinstance(amount, str) or not rules.is_amount(amount):
        return amount
    shorter = format(Decimal(amount).normalize(EXACT), "f")
    longer = amount + ("0" if "." in amount else ".00")
    for spelled in (shorter, longer):
        if spelled != amount and rules.is_amount(spelled):
            return spelled
    return amount


@st.composite
def respelled_batch(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """The same batch as api.post_batch's fingerprint has it (docs/http-api.md#batches): members
    in another order, amounts spelled otherwise, atomic true left to its default, no metadata
    written as {} or null."""
    items = []
    for item in body["items"]:
        same = dict(item)
        if "amount" in same:
            same["amount"] = _respelled_amount(same["amount"])
        if not same.get("metadata") and draw(st.booleans()):
            same["metadata"] = draw(st.sampled_from([{}, None]))
        elif isinstance(same.get("metadata"), dict):
            same["metadata"] = dict(draw(st.permutations(list(same["metadata"].items()))))
        items.append(dict(draw(st.permutations(list(same.items())))))
    respelled = {**body, "items": items}
    if respelled.get("atomic", True) is True and draw(st.booleans()):
        if "atomic" in respelled:
            del respelled["atomic"]
        else:
            respelled["atomic"] = True
    return dict(draw(st.permutations(list(respelled.items()))))


@st.composite
def another_batch(draw: st.DrawFn, body: dict[str, Any]) -> dict[str, Any]:
    """A batch that is not `body`'s as api.post_batch's fingerprint has it (well formed if `body`
    is): one thing changed."""
    items = [dict(item) for item in body["items"]]
    other = {**body, "items": items}
    at = draw(st.integers(0, len(items) - 1))
    pairs = [(item.get("userId"), _number(item.get("amount"))) for item in items]
    change = draw(st.sampled_from(["atomic", "amount", "metadata", "order", "fewer", "text"]))
    if change == "atomic":
        other["atomic"] = body.get("atomic", True) is not True
    elif change == "amount":
        number = _number(items[at].get("amount"))
        changed = "1.00" if number is None else f"{EXACT.add(number, Decimal('0.01')):f}"
        items[at]["amount"] = changed if rules.is_amount(changed) else "1.00"
    elif change == "metadata":
        changed = {"another batch": True}
        items[at]["metadata"] = (
            {"another batch": False} if items[at].get("metadata") == changed else changed
        )
    elif change == "order" and pairs[::-1] != pairs:
        other["items"] = items[::-1]
    elif change == "fewer" and len(items) > 1:
        other["items"] = items[:-1]
    elif change == "text" and isinstance(body.get(BATCH_TEXT.get(body["type"], "")), str):
        name = BATCH_TEXT[body["type"]]
        other[name] = body[name] + " again" if len(body[name]) < 400 else "another"
    elif len(items) < BATCH_MAX_ITEMS:  # the first item once more
        other["items"] = [*items, items[0]]
    else:
        other["atomic"] = body.get("atomic", True) is not True
    return other


def _number(amount: Any) -> Decimal | None:
    """A well-formed amount as the number it is (None: not one)."""
    return Decimal(amount) if isinstance(amount, str) and rules.is_amount(amount) else None


@st.composite
def batch_plans(draw: st.DrawFn, world: World, users: tuple[str, ...]) -> BatchPlan:
    """A batch of `users` (well-formed ids; hostile items draw others too) in `world`."""
    clean = draw(st.booleans())
    body = draw(batch_body(world, users, clean))
    content = msgspec.json.encode(body)
    if clean:
        auth = draw(st.sampled_from(["all", "batch", "all-lowercase", "all-padded"]))
        call = Call("POST", BATCH, auth, content_type=b"application/json", content=content)
    else:
        call = Call(
            method=draw(OTHER_METHODS) if draw(chance(16)) else "POST",
            url=BATCH,
            auth=draw(authorizations("batch")),
            idempotency_key=draw(idempotency_keys()),
            content_type=draw(CONTENT_TYPES),
            content=draw(batch_content(body)),
        )
    if not draw(chance(3)):
        return BatchPlan(call, None)
    plain = call.content == content and _is_batch(body)
    again = draw(st.sampled_from(["same", "respelled", "other"]) if plain else st.just("same"))
    if again == "respelled":
        content = msgspec.json.encode(draw(respelled_batch(body)))
    elif again == "other":
        content = msgspec.json.encode(draw(another_batch(body)))
    return BatchPlan(call, (again, replace(call, content=content)))


def _is_batch(body: Any) -> bool:
    """A batch's shape, whose variants the plan can draw (its values still any)."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("type"), str)
        and isinstance(body.get("items"), list)
        and bool(body["items"])
        and all(isinstance(item, dict) for item in body["items"])
    )


# What makes a money request invalid, whatever else it holds. Each returns what it replaces.
DEFECTS = [
    "no-auth",
    "bad-auth",
    "revoked-key",
    "wrong-scope",
    "no-idempotency-key",
    "bad-idempotency-key",
    "not-json-content-type",
    "not-json-body",
    "not-an-object",
    "missing-field",
    "unknown-field",
    "amount-as-number",
    "amount-malformed",
    "amount-not-positive",
    "amount-too-precise",
    "amount-too-large",
    "bad-user-id",
    "unknown-asset",
    "bad-metadata",
    "metadata-number-out-of-range",
    "metadata-too-deep",
    "body-too-deep",
    "too-large",
    "wrong-method",
]
ONLY = {"insufficient-funds": ("spend",), "bad-description": ("bonus", "spend")}
REQUIRED = {"userId", "assetTypeId", "amount", *DESCRIPTION.values()}
FIELDS = {*REQUIRED, "metadata"}
MALFORMED_AMOUNTS = st.one_of(
    st.sampled_from(["", " 1", "1 ", "1e3", "NaN", "Infinity", "1,00", "+1", ".5", "5.", "0x10"]),
    st.sampled_from(["\u0661", "\uff11", "1.2.3", "--1", "1\n", "0.50\n"]),
    text(max_size=45),
)


def _not_json(content: bytes) -> bool:
    try:
        SERVICE_JSON.decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return True
    return False


def _malformed_amount(value: str) -> bool:
    return AMOUNT.fullmatch(value) is None


@st.composite
def rejected_calls(draw: st.DrawFn, world: World) -> Call:
    """A valid money request with one to three defects: each alone is enough for a rejection."""
    kind = draw(st.sampled_from(MONEY))
    user = draw(st.sampled_from(world.funded + world.fresh))
    body: dict[str, Any] = {
        "userId": user,
        "assetTypeId": draw(st.sampled_from(world.assets)),
        "amount": draw(VALID_AMOUNTS),
    }
    if kind in DESCRIPTION:
        body[DESCRIPTION[kind]] = draw(text(min_size=1, max_size=20).filter(str.strip))
    if draw(st.booleans()):
        body["metadata"] = draw(JSON_OBJECTS)
    applicable = DEFECTS + [name for name, kinds in ONLY.items() if kind in kinds]
    defects = draw(st.lists(st.sampled_from(applicable), min_size=1, max_size=3, unique=True))
    call: dict[str, Any] = {
        "method": "POST",
        "auth": draw(st.sampled_from(["all", kind])),
        "idempotency_key": FRESH,
        "content_type": b"application/json",
    }
    content: bytes | None = None
    padded = False
    for defect in defects:
        if defect == "no-auth":
            call["auth"] = None
        elif defect == "bad-auth":
            call["auth"] = draw(
                st.one_of(HEADER_BYTES, text().map(lambda t: f"Bearer {t}".encode()))
            )
        elif defect == "revoked-key":
            call["auth"] = "revoked"
        elif defect == "wrong-scope":
            call["auth"] = draw(st.sampled_from(sorted(set(SCOPES) - {kind})))
        elif defect == "no-idempotency-key":
            call["idempotency_key"] = None
        elif defect == "bad-idempotency-key":
            call["idempotency_key"] = draw(
                st.sampled_from([b"", b"k" * 256, b"caf\xc3\xa9", b"tab\there", b"\x7f"])
            )
        elif defect == "not-json-content-type":
            call["content_type"] = draw(
                st.sampled_from([None, b"text/plain", b"application/x-www-form-urlencoded", b""])
            )
        elif defect == "not-json-body":
            content = draw(st.binary(max_size=60).filter(_not_json))
        elif defect == "not-an-object":
            content = msgspec.json.encode(
                draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict)))
            )
        elif defect == "missing-field":
            del body[draw(st.sampled_from(sorted(k for k in body if k in REQUIRED)))]
        elif defect == "unknown-field":
            name = draw(text(max_size=15).filter(lambda n: n not in FIELDS))
            body[name] = draw(JSON_VALUES)
        elif defect == "amount-as-number":
            body["amount"] = draw(st.one_of(st.integers(), st.floats(allow_nan=False)))
        elif defect == "amount-malformed":
            body["amount"] = draw(MALFORMED_AMOUNTS.filter(_malformed_amount) | NOT_STRINGS)
        elif defect == "amount-not-positive":
            negative = st.decimals(max_value=0, places=2, allow_nan=False, allow_infinity=False)
            body["amount"] = draw(
                st.sampled_from(["0", "-0", "0.00"]) | negative.map("{:f}".format)
            )
        elif defect == "amount-too-precise":
            places = draw(st.integers(3, 40))
            body["amount"] = f"{draw(st.integers(0, 10**6))}.{'0' * (places - 1)}1"
        elif defect == "amount-too-large":
            body["amount"] = draw(st.sampled_from(["1000000000.01", "9" * 40, "1" + "0" * 39]))
        elif defect == "bad-user-id":
            body["userId"] = draw(
                ODD_USER_IDS.filter(lambda u: not isinstance(u, str) or not USER_ID.fullmatch(u))
            )
        elif defect == "unknown-asset":
            body["assetTypeId"] = draw(
                (text(max_size=70) | NOT_STRINGS).filter(lambda a: a not in world.assets)
            )
        elif defect == "bad-metadata":
            body["metadata"] = draw(st.one_of(
                JSON_VALUES.filter(lambda v: v is not None and not isinstance(v, dict)),
                st.integers(4100, 8000).map(lambda n: {"note": "x" * n}),
            ))  # fmt: skip
        elif defect == "metadata-number-out-of-range":
            number = st.one_of(
                OUT_OF_RANGE_NUMBERS,
                OUT_OF_RANGE_NUMBERS.map(lambda n: [1, n]),
                OUT_OF_RANGE_NUMBERS.map(lambda n: {"n": n}),
            )
            kept = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            body["metadata"] = {**kept, draw(text(max_size=12)): draw(number)}
        elif defect == "metadata-too-deep":
            kept = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            deep = st.builds(_nested, st.integers(32, 900), NESTING)
            body["metadata"] = {**kept, draw(text(max_size=12)): draw(deep)}
        elif defect == "body-too-deep":
            # deeper than the decoder goes, wherever it is
            deep = st.builds(_nested, st.integers(1000, 2000), NESTING)
            body[draw(st.sampled_from(["metadata", "amount", "userId", "extra"]))] = draw(deep)
        elif defect == "too-large":
            padded = True
        elif defect == "wrong-method":
            call["method"] = draw(st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]))
        elif defect == "insufficient-funds":
            body["amount"] = "999999999.99"  # more than any user of the world holds
        elif defect == "bad-description":
            blank = st.text(st.sampled_from(" \t\n"), max_size=4)
            body[DESCRIPTION[kind]] = draw(st.one_of(blank, text(501, 600), NOT_STRINGS))
    if content is None:
        content = msgspec.json.encode(body)
    if padded:
        content = b" " * (16 * 1024) + content
    return Call(url=f"/api/v1/wallet/{kind}", content=content, defects=tuple(defects), **call)


# ----------------------------------------------------------------------------------------------
# The properties
# ----------------------------------------------------------------------------------------------
def _body_of(call: Call) -> dict[str, Any]:
    """The call's body as the service decodes it, if that is an object; else {}."""
    try:
        body = SERVICE_JSON.decode(call.content or b"")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _users_of(call: Call) -> list[str]:
    """The well-formed user ids the call's body names (userId, fromUserId, toUserId), whose
    balances it could change."""
    body = _body_of(call)
    named = (body.get(field) for field in ("userId", "fromUserId", "toUserId"))
    return [user for user in named if isinstance(user, str) and USER_ID.fullmatch(user)]


def _user_of(call: Call) -> str | None:
    """The well-formed userId the call's body names, whose balances it could change."""
    users = _users_of(call)
    return users[0] if users else None


@FUZZ
@given(data=st.data())
async def test_money_requests_answer_as_documented_and_move_exactly_what_they_report(
    world: World, tally: Tally, data: st.DataObject
) -> None:
    call = data.draw(money_calls(world), label="call")
    tally.examples += 1
    user = _user_of(call)
    before = await world.balances(user) if user else {}
    response = await send(world, call)
    note(f"answer {response.status_code}: {response.text[:300]}")
    body = check(world.contract, response)
    tally.count(response, body)
    after = await world.balances(user) if user else {}
    if isinstance(body, TransactionResponse) and "idempotent-replayed" not in response.headers:
        assert (body.user_id, f"/api/v1/wallet/{body.type}") == (user, call.url), body
        sign = -1 if body.type == "spend" else 1
        moved = {
            asset: after[asset][0] - before[asset][0]
            for asset in after
            if after[asset] != before[asset]
        }
        assert moved == {body.asset_type_id: sign * Decimal(body.amount)}, (body, before, after)
        assert after[body.asset_type_id][0] == Decimal(body.balance), (body, after)
    else:
        assert after == before, f"{response.status_code} yet balances changed: {before} {after}"


@FUZZ
@given(data=st.data())
async def test_transfers_and_reversals_answer_as_documented_and_move_exactly_what_they_report(
    world: World, tally: Tally, data: st.DataObject
) -> None:
    call = data.draw(movement_calls(world), label="call")
    tally.examples += 1
    users = sorted(set(world.funded + world.fresh) | set(_users_of(call)))
    before = await world.all_balances(users)
    response = await send(world, call)
    note(f"answer {response.status_code}: {response.text[:300]}")
    body = check(world.contract, response)
    tally.count(response, body)
    after = await world.all_balances(users)
    moved = {
        (user, asset): balance - before[user][asset][0]
        for user, assets in after.items()
        for asset, (balance, version) in assets.items()
        if (balance, version) != before[user][asset]
    }
    if response.status_code != 201 or "idempotent-replayed" in response.headers:
        assert moved == {}, f"{response.status_code} yet balances changed: {moved}"
    elif isinstance(body, TransferResponse):
        amount, asset = Decimal(body.amount), body.asset_type_id
        assert moved == {(body.from_user_id, asset): -amount, (body.to_user_id, asset): amount}
        assert after[body.from_user_id][asset][0] == Decimal(body.from_balance), body
        assert after[body.to_user_id][asset][0] == Decimal(body.to_balance), body
    else:
        # only the world's top-ups can be reversed here: a reversal takes from their user
        assert isinstance(body, TransactionResponse) and body.type == "reversal", body
        assert body.user_id in world.funded, body
        assert moved == {(body.user_id, body.asset_type_id): -Decimal(body.amount)}, body
        assert after[body.user_id][body.asset_type_id][0] == Decimal(body.balance), body


# ----------------------------------------------------------------------------------------------
# Holds: what the test made, and how money moves for each answer
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Made:
    user: str
    asset: str
    amount: Decimal
    expires_at: datetime


@dataclass
class Holds:
    """The holds a test made (from their 201 answers); those that may still be open, whose
    release by the sweeper once they expire a call's before and after must allow for; and the
    pool made at the start to expire one after another."""

    made: dict[str, Made] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)
    pool: list[str] = field(default_factory=list)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Holds({len(self.made)} made, {len(self.unresolved)} unresolved)")

    def add(self, hold: HoldResponse) -> None:
        amount = Decimal(hold.amount)
        self.made[hold.hold_id] = Made(hold.user_id, hold.asset_type_id, amount, hold.expires_at)
        self.unresolved.add(hold.hold_id)

    def expired(self, pick: int) -> str:
        """One of the pool's holds past its expiry (by a margin: PostgreSQL's clock is this
        machine's), swept or not."""
        due = datetime.now(UTC) - timedelta(seconds=0.2)
        expired = [hold for hold in self.pool if self.made[hold].expires_at <= due]
        return expired[pick % len(expired)]

    async def settle(self, world: World) -> None:
        """Voids, through the SQL API, what earlier examples left open (but the holds about to
        expire, which the sweeper releases), so that the funded users can hold again."""
        soon = datetime.now(UTC) + timedelta(seconds=2)
        for hold in sorted(self.unresolved - set(self.pool), key=int):
            if self.made[hold].expires_at > soon:
                await world.conn.execute("SELECT api.void_hold($1, $2)", int(hold), f"fuzz-{hold}")
                self.unresolved.discard(hold)

    def swept(self, before: Snapshot, after: Snapshot) -> Move:
        """What the sweeper released between two snapshots: each hold it expired, back to its
        user. Those no longer open are no longer followed."""
        released: Move = {}
        for hold, status in after.statuses.items():
            if status != "open":
                self.unresolved.discard(hold)
            if before.statuses[hold] == "open" and status == "expired":
                made = self.made[hold]
                _add(released, (made.user, made.asset), made.amount, -made.amount)
        return released


def _add(moves: Move, wallet: tuple[str, str], balance: Decimal, held: Decimal) -> None:
    was = moves.get(wallet, (Decimal(0), Decimal(0)))
    moves[wallet] = (was[0] + balance, was[1] + held)


# The pool: holds of 0.10 that expire 1 s to 1 min after the test starts; a capture or void of one
# is hold_expired until the sweeper releases it (within WALLET_HOLD_SWEEP_SECONDS), then
# hold_not_open
POOL_SECONDS = (1, 1, 2, 3, 4, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 60)


@pytest.fixture
async def holds(world: World) -> Holds:
    made = Holds()
    for n, seconds in enumerate(POOL_SECONDS):
        body = {
            "userId": world.funded[n % len(world.funded)],
            "assetTypeId": world.assets[n % len(world.assets)],
            "amount": "0.10",
            "description": "Entry fee",
            "expiresInSeconds": seconds,
        }
        response = await send(world, setup_call("authorize", body))
        hold = check(world.contract, response)
        assert isinstance(hold, HoldResponse), response.text
        made.add(hold)
        made.pool.append(hold.hold_id)
    first = made.made[made.pool[0]].expires_at
    await asyncio.sleep((first - datetime.now(UTC)).total_seconds() + 0.3)
    return made


async def hold_exchange(
    world: World, holds: Holds, tally: Tally, call: Call
) -> tuple[httpx.Response, Any]:
    """Sends a call of the hold routes and checks its answer against the contract, and the money
    that moved meanwhile against what the answer reports (and what the sweeper released)."""
    owners = {holds.made[hold].user for hold in holds.unresolved}
    users = sorted(set(world.funded + world.fresh) | set(_users_of(call)) | owners)
    followed = sorted(holds.unresolved)
    before = await world.snapshot(users, followed)
    response = await send(world, call)
    note(f"{call.method} {call.url}: {response.status_code} {response.text[:300]}")
    body = check(world.contract, response)
    tally.count(response, body)
    after = await world.snapshot(users, followed)
    expected = holds.swept(before, after)
    if response.status_code == 201 and "idempotent-replayed" not in response.headers:
        if isinstance(body, HoldResponse):
            await _check_authorization(world, call, body)
            amount = Decimal(body.amount)
            _add(expected, (body.user_id, body.asset_type_id), -amount, amount)
            holds.add(body)
        else:
            assert isinstance(body, HoldResolutionResponse), body
            made = holds.made[body.hold_id]
            await _check_resolution(world, made, call, body)
            released = Decimal(body.released_amount)
            _add(expected, (made.user, made.asset), released, -made.amount)
            holds.unresolved.discard(body.hold_id)
    elif isinstance(body, HoldDetail):
        _check_detail(holds, call, body)
    moved = after.moved_since(before)
    assert moved == {k: v for k, v in expected.items() if v != (0, 0)}, (before, after)
    return response, body


async def _check_authorization(world: World, call: Call, hold: HoldResponse) -> None:
    sent = _body_of(call)
    assert (hold.user_id, hold.asset_type_id) == (sent["userId"], sent["assetTypeId"]), hold
    amount = Decimal(hold.amount)
    assert amount == Decimal(sent["amount"]) == Decimal(hold.remaining), hold
    seconds = sent.get("expiresInSeconds")
    # an integer, as the document says, or absent or null for the default
    assert seconds is None or type(seconds) is int, f"expiresInSeconds {seconds!r} was taken"
    expiry = timedelta(seconds=seconds or rules.HOLD_EXPIRY_DEFAULT_SECONDS)
    assert hold.expires_at - hold.created_at == expiry, hold
    legs, balance = await world.legs(hold.transaction_id)
    assert legs == {("user", "debit"): amount, ("holds", "credit"): amount}, legs
    assert hold.balance == balance, (hold, balance)


async def _check_resolution(
    world: World, made: Made, call: Call, resolved: HoldResolutionResponse
) -> None:
    """A capture's or void's answer against the hold as it was made and the call that resolved
    it; its transaction's legs: the hold's amount out of the holds account, what was captured
    to Revenue, the rest back to the user."""
    *_, hold, route = call.url.split("/")
    status = {"capture": "captured", "void": "voided"}[route]
    assert (resolved.hold_id, resolved.status) == (hold, status), resolved
    amount = Decimal(resolved.amount)
    assert (resolved.user_id, resolved.asset_type_id, amount) == (
        made.user,
        made.asset,
        made.amount,
    )
    captured, released = Decimal(resolved.captured_amount), Decimal(resolved.released_amount)
    asked = _body_of(call).get("amount") if status == "captured" else "0"
    assert captured == (amount if asked is None else Decimal(asked)), resolved
    assert captured + released == amount, resolved
    legs, balance = await world.legs(resolved.transaction_id)
    expected = {
        ("holds", "debit"): amount,
        ("revenue", "credit"): captured,
        ("user", "credit"): released,
    }
    assert legs == {leg: n for leg, n in expected.items() if n}, legs
    assert resolved.balance == balance, (resolved, balance)


def _check_detail(holds: Holds, call: Call, hold: HoldDetail) -> None:
    assert hold.hold_id == call.url.rsplit("/", 1)[-1], hold
    made = holds.made[hold.hold_id]
    amount = Decimal(hold.amount)
    assert (hold.user_id, hold.asset_type_id, amount) == (made.user, made.asset, made.amount)
    parts = [Decimal(hold.captured_amount), Decimal(hold.released_amount), Decimal(hold.remaining)]
    assert sum(parts) == amount and (hold.status == "open") == (parts[2] == amount), hold


@FUZZ
@given(data=st.data())
async def test_hold_requests_answer_as_documented_and_move_exactly_what_they_report(
    world: World, holds: Holds, tally: Tally, data: st.DataObject
) -> None:
    """Each call is checked by hold_exchange; here, what a plan adds: its setup succeeds, a hold
    captured, voided or expired is never resolved again, and the same call twice is a replay."""
    plan = data.draw(hold_plans(world), label="plan")
    tally.examples += 1
    await holds.settle(world)
    hold = "0"
    for call in plan.setup:
        response, body = await hold_exchange(world, holds, tally, _on(call, hold))
        assert response.status_code == 201, response.text
        hold = body.hold_id
    if plan.target == "expired":
        hold = holds.expired(plan.pick)
    calls = [_on(call, hold) for call in plan.calls]
    if len(calls) == 2:  # the second with the first's key
        key = calls[0].idempotency_key
        key = uuid.uuid4().hex.encode() if key == FRESH else key
        calls = [replace(call, idempotency_key=key) for call in calls]
    answers = []
    for call in calls:
        response, _ = await hold_exchange(world, holds, tally, call)
        if plan.target in SETTLED and call.url.startswith(f"/api/v1/holds/{hold}/"):
            assert response.status_code != 201, f"a {plan.target} hold: {response.text}"
        answers.append(response)
    if len(calls) == 2 and calls[0] == calls[1] and answers[0].status_code == 201:
        # the same request again: the first answer, replayed
        assert answers[1].headers.get("idempotent-replayed") == "true", answers[1].text
        assert (answers[1].status_code, answers[1].content) == (201, answers[0].content)


def _on(call: Call, hold: str) -> Call:
    return replace(call, url=call.url.replace(HOLD, hold))


# ----------------------------------------------------------------------------------------------
# Batches: each item's result against what moved, and the batch's key repeated
# ----------------------------------------------------------------------------------------------
# what an item may fail with, in its result or in batch_rejected's errors (docs/http-api.md)
ITEM_CODES = frozenset(
    {"invalid_amount", "insufficient_funds", "balance_limit_exceeded", "velocity_limit_exceeded"}
)
# The limits of the user the batches test caps on the world's first asset (a user override):
# maximum balance, daily earn and daily spend limits, low enough for the drawn batches to reach
# each of them within a run
CAPS = (Decimal("150.00"), Decimal("200.00"), Decimal("60.00"))


@dataclass(frozen=True)
class Batches:
    """The users a batch names (the world's, and one with limits on the world's first asset),
    and each asset's rules for an amount: its most, and its places."""

    users: tuple[str, ...]
    amounts: dict[str, tuple[Decimal, int]]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Batches(users={self.users})")


@pytest.fixture
async def batches(
    world: World, unique: str, admin_conn: asyncpg.Connection
) -> AsyncIterator[Batches]:
    capped, asset = f"fuzz-{unique}-capped", world.assets[0]
    await admin_conn.execute("SELECT api.set_user_limits($1, $2, $3, $4, $5)", capped, asset, *CAPS)
    rows = await admin_conn.fetch("SELECT id, max_amount, scale FROM ledger.assets")
    try:
        yield Batches(
            users=(*world.funded, *world.fresh, capped),
            amounts={row["id"]: (row["max_amount"], row["scale"]) for row in rows},
        )
    finally:  # an override makes the ledger count every user's usage of the asset
        await admin_conn.execute("SELECT api.clear_user_limits($1, $2)", capped, asset)


@dataclass
class Account:
    """A user's wallet of a batch's asset as the ledger's rules see it, item after item: its
    balance, the limits that apply to it (None: none) and what the day has used of them."""

    balance: Decimal
    max_balance: Decimal | None
    earn_limit: Decimal | None
    spend_limit: Decimal | None
    earned: Decimal
    spent: Decimal

    def post(self, credit: bool, amount: Decimal) -> frozenset[str]:
        """The codes the amount fails with now, if any; else it is posted (and counted)."""
        failing = set()
        if credit:
            if self.max_balance is not None and self.balance + amount > self.max_balance:
                failing.add("balance_limit_exceeded")
            if self.earn_limit is not None and self.earned + amount > self.earn_limit:
                failing.add("velocity_limit_exceeded")
        else:
            if amount > self.balance:
                failing.add("insufficient_funds")
            if self.spend_limit is not None and self.spent + amount > self.spend_limit:
                failing.add("velocity_limit_exceeded")
        if not failing:
            self.balance += amount if credit else -amount
            if credit:
                self.earned += amount
            else:
                self.spent += amount
        return frozenset(failing)


async def accounts_of(
    world: World, balances: dict[str, dict[str, tuple[Decimal, int]]], asset: str
) -> dict[str, Account]:
    """The users' accounts of `asset` (their balances as read, their limits and usage now); a
    reject() where the asset's day ends within moments, as its usage would start again."""
    rows = await world.conn.fetch(
        "SELECT u.user_id, l.max_balance, l.daily_earn_limit, l.daily_spend_limit,"
        " l.earned_today, l.spent_today, l.resets_at"
        " FROM unnest($1::text[]) AS u(user_id), LATERAL api.limits(u.user_id, $2) AS l",
        list(balances),
        asset,
    )
    if any(row["resets_at"] - datetime.now(UTC) < timedelta(seconds=10) for row in rows):
        reject()
    return {
        row["user_id"]: Account(
            balances[row["user_id"]][asset][0],
            row["max_balance"],
            row["daily_earn_limit"],
            row["daily_spend_limit"],
            row["earned_today"],
            row["spent_today"],
        )
        for row in rows
    }


def expected_items(
    batches: Batches, sent: dict[str, Any], accounts: dict[str, Account]
) -> list[tuple[frozenset[str], Decimal]]:
    """Each item's fate as docs/http-api.md (Batches, Limits) has it: the codes it fails with
    (none: it is posted) and its user's balance after it. An amount no asset takes is
    invalid_amount; else the user's funds and limits decide, each user's items in their order,
    those posted before counted. `accounts` are run through the items."""
    most, scale = batches.amounts[sent["assetTypeId"]]
    unit = Decimal(1).scaleb(-scale)
    credit = sent["type"] != "spend"
    fates = []
    for item in sent["items"]:
        amount = _number(item["amount"])
        assert item["userId"] in accounts, f"{item['userId']!r} is no user id, yet it was taken"
        account = accounts[item["userId"]]
        if (
            amount is None
            or not 0 < amount <= most
            or amount != amount.quantize(unit, context=EXACT)
        ):
            fates.append((frozenset({"invalid_amount"}), account.balance))
        else:
            fates.append((account.post(credit, amount), account.balance))
    return fates


def _sent_items(sent: dict[str, Any]) -> list[Any]:
    items = sent.get("items")
    return items if isinstance(items, list) else []


def _brief(value: Any) -> str:
    """The start of a value's repr, for a message (a batch may have 1,000 items)."""
    return repr(value)[:600]


async def batch_exchange(
    world: World, batches: Batches, tally: Tally, call: Call
) -> tuple[httpx.Response, Any]:
    """Sends a batch and checks its answer against the contract, and what moved against what it
    reports (a new 201: each completed item's amount; anything else: nothing), and each item's
    fate, in a 201 or a batch_rejected, against the users' funds and limits."""
    sent = _body_of(call)
    named = (item.get("userId") for item in _sent_items(sent) if isinstance(item, dict))
    valid = {user for user in named if isinstance(user, str) and USER_ID.fullmatch(user)}
    users = sorted(set(batches.users) | valid)
    before = await world.all_balances(users)
    asset = sent.get("assetTypeId")
    accounts = await accounts_of(world, before, asset) if asset in world.assets else {}
    response = await send(world, call)
    note(f"{call.method} {call.url}: {response.status_code} {response.text[:300]}")
    body = check(world.contract, response)
    tally.count(response, body)
    after = await world.all_balances(users)
    if response.status_code == 201 and "idempotent-replayed" not in response.headers:
        assert isinstance(body, BatchResponse), response.text
        fates = expected_items(batches, sent, accounts)
        await _check_batch(world, sent, body, fates)
        moved = {
            (user, wallet): balance - before[user][wallet][0]
            for user, assets in after.items()
            for wallet, (balance, _) in assets.items()
            if balance != before[user][wallet][0]
        }
        expected = {
            (user, asset): account.balance - before[user][asset][0]
            for user, account in accounts.items()
            if account.balance != before[user][asset][0]
        }
        assert moved == expected, (moved, expected, _brief(body))
        tally.items.update(result.code or result.status for result in body.items)
    else:
        assert after == before, f"{response.status_code} yet balances changed: {before} {after}"
    if isinstance(body, Problem) and body.code == "batch_rejected":
        _check_rejection(sent, body, expected_items(batches, sent, accounts))
        tally.items.update(error.code for error in body.errors or ())
    return response, body


async def _check_batch(
    world: World,
    sent: dict[str, Any],
    batch: BatchResponse,
    fates: list[tuple[frozenset[str], Decimal]],
) -> None:
    kind, items = sent["type"], sent["items"]
    assert (batch.type, batch.asset_type_id) == (kind, sent["assetTypeId"]), _brief(batch)
    assert batch.atomic is sent.get("atomic", True), (sent.get("atomic"), _brief(batch))
    assert [(r.index, r.user_id) for r in batch.items] == [
        (n, item["userId"]) for n, item in enumerate(items)
    ], _brief(batch)
    credit = kind != "spend"
    completed: dict[int, tuple[str, Decimal, str]] = {}
    for result, item, (failing, balance) in zip(batch.items, items, fates, strict=True):
        if result.status == "completed":
            assert not failing, f"{item} was posted, but fails with {set(failing)}: {result}"
            assert result.code is None and result.detail is None, result
            assert result.transaction_id and result.wallet_id and result.balance, result
            assert Decimal(result.balance) == balance, (item, balance, result)
            amount = Decimal(item["amount"])
            completed[int(result.transaction_id)] = (result.user_id, amount, result.balance)
        else:
            assert not batch.atomic, f"an atomic batch answered 201 with a failed item: {result}"
            assert failing, f"{item} failed, but nothing stops it: {result}"
            assert result.code in failing and result.detail, (set(failing), result)
            assert (result.transaction_id, result.wallet_id, result.balance) == (None,) * 3, result
    # each completed item's transaction, as the ledger has it: the user's leg, balanced
    rows = await world.conn.fetch(
        "SELECT t.id, e.account, e.direction, e.amount, e.balance_after"
        " FROM unnest($1::bigint[]) AS t(id), LATERAL api.transaction_entries(t.id) AS e",
        list(completed),
    )
    found: dict[int, tuple[str, Decimal, str]] = {}
    sides: Counter[tuple[int, str]] = Counter()
    for row in rows:
        sides[row["id"], row["direction"]] += row["amount"]
        if row["account"] is None:
            assert row["direction"] == ("credit" if credit else "debit"), dict(row)
            found[row["id"]] = (completed[row["id"]][0], row["amount"], f"{row['balance_after']:f}")
    assert found == completed, "each completed item's transaction, with its amount and balance"
    assert all(sides[t, "debit"] == sides[t, "credit"] for t in completed), sides


def _check_rejection(
    sent: dict[str, Any], problem: Problem, fates: list[tuple[frozenset[str], Decimal]]
) -> None:
    """batch_rejected: an atomic batch, every failing item named once, in order, with a code it
    fails with."""
    assert sent.get("atomic", True) is True, (sent.get("atomic"), _brief(problem))
    assert problem.errors, problem
    named = [(error.index, error.code) for error in problem.errors]
    failing = [(n, codes) for n, (codes, _) in enumerate(fates) if codes]
    assert [n for n, _ in named] == [n for n, _ in failing], (failing, _brief(problem))
    codes = zip(named, failing, strict=True)
    assert all(code in can for (_, code), (_, can) in codes), (failing, _brief(problem))
    assert all(error.detail for error in problem.errors), _brief(problem)


@FUZZ
@given(data=st.data())
async def test_batches_answer_as_documented_and_move_exactly_what_they_report(
    world: World, batches: Batches, tally: Tally, data: st.DataObject
) -> None:
    """Each call is checked by batch_exchange; here, the batch's key again: after a 201, the same
    batch (as sent, or written otherwise) is the first answer replayed, another batch is 422
    idempotency_key_reused, and neither moves anything; after a refusal, the key is free."""
    plan = data.draw(batch_plans(world, batches.users), label="plan")
    tally.examples += 1
    call = plan.call
    fresh = call.idempotency_key == FRESH
    if plan.again is not None and fresh:
        call = replace(call, idempotency_key=uuid.uuid4().hex.encode())
    first, _ = await batch_exchange(world, batches, tally, call)
    if plan.again is None:
        return
    how, again = plan.again
    again = replace(again, idempotency_key=call.idempotency_key)
    second, body = await batch_exchange(world, batches, tally, again)
    if first.status_code != 201:
        # a refusal (batch_rejected included) leaves its key free
        reused = isinstance(body, Problem) and body.code == "idempotency_key_reused"
        assert not (fresh and reused), (first.text, second.text)
        return
    if how == "other":
        assert second.status_code == 422, second.text
        assert isinstance(body, Problem) and body.code == "idempotency_key_reused", body
    else:
        assert second.headers.get("idempotent-replayed") == "true", second.text
        assert (second.status_code, second.content) == (201, first.content), second.text


@FUZZ
@given(data=st.data())
async def test_reads_and_unrouted_requests_answer_as_documented(
    world: World, tally: Tally, data: st.DataObject
) -> None:
    call = data.draw(read_calls(world).filter(_not_docs), label="call")
    tally.examples += 1
    response = await send(world, call)
    body = check(world.contract, response)
    tally.count(response, body)
    segments = [s for s in response.request.url.path.split("/") if s]
    if isinstance(body, BalancesResponse):
        assert body.user_id == segments[-2], body
    elif isinstance(body, LedgerResponse):
        assert body.wallet_id == segments[-2], body
        query = parse_qsl(response.request.url.query.decode(), keep_blank_values=True)
        limits = [int(v) for name, v in query if name == "limit" and v.isdecimal()] or [50]
        assert len(body.entries) <= max(limits), (limits, len(body.entries))
    elif isinstance(body, TransactionDetail):
        assert body.transaction_id == segments[-1], body
        assert sum(Decimal(leg.amount) for leg in body.entries if leg.direction == "credit") == sum(
            Decimal(leg.amount) for leg in body.entries if leg.direction == "debit"
        ), body


def _not_docs(call: Call) -> bool:
    """The documentation routes (/schema...) are not API operations, so not in the document."""
    return not unquote(call.url).startswith("/schema")


@FUZZ
@given(data=st.data())
async def test_a_batch_of_rejected_money_requests_moves_no_money(
    world: World, tally: Tally, data: st.DataObject
) -> None:
    calls = data.draw(
        st.lists(rejected_calls(world), min_size=1, max_size=8),
        label="calls",
    )
    tally.examples += 1
    users = sorted(set(world.funded + world.fresh) | {u for c in calls if (u := _user_of(c))})
    before = await world.all_balances(users)
    for call in calls:
        response = await send(world, call)
        body = check(world.contract, response)
        tally.count(response, body)
        assert response.status_code >= 400, f"{call} was accepted: {response.text}"
    after = await world.all_balances(users)
    assert after == before


# ----------------------------------------------------------------------------------------------
# Metadata as PostgreSQL sees it: the edge measures its jsonb text before the ledger call
# (service/http/money.py), so its measure must be PostgreSQL's, byte for byte
# ----------------------------------------------------------------------------------------------
EXACT = decimal.Context(prec=500)  # arithmetic on the numbers drawn, without rounding
STORABLE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
NUMBER_TEXTS = st.one_of(
    st.integers(-(10**100) + 1, 10**100 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map("{:f}".format),
    st.builds(
        "{}{}e{}".format,
        st.sampled_from(["", "-"]),
        st.from_regex(r"[1-9][0-9]{0,40}(\.[0-9]{1,40})?|0(\.0{1,5})?", fullmatch=True),
        st.integers(-350, 350),
    ),
    st.sampled_from(["0", "-0", "-0.0", "0.000", "0e5", "0E-7", "1E+400", "-9.9e-400", "1.50e1"]),
).map(_raw)
STORABLE_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBER_TEXTS, STORABLE_TEXT),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(STORABLE_TEXT, inner, max_size=4),
    max_leaves=10,
)
STORABLE_METADATA = st.dictionaries(STORABLE_TEXT, STORABLE_JSON, max_size=5)


@FUZZ
@given(metadata=STORABLE_METADATA)
async def test_the_edge_measures_metadata_as_postgresql_writes_it(
    service_conn: asyncpg.Connection, metadata: dict[str, Any]
) -> None:
    sent = msgspec.json.encode(metadata)
    stored = await service_conn.fetchval("SELECT octet_length($1::jsonb::text)", sent.decode())
    assert measured_metadata(SERVICE_JSON.decode(sent))[2] == stored, sent


def _number_written_otherwise(draw: st.DrawFn, number: msgspec.Raw) -> msgspec.Raw:
    """The same number in another spelling (trailing zeros, an exponent, a sign on zero), or,
    one time in four, another number."""
    value = Decimal(bytes(number).decode())
    if draw(chance(4)):
        last_digit = Decimal((0, (1,), value.as_tuple().exponent))
        change = draw(st.sampled_from([Decimal(1), Decimal(-1), last_digit, -last_digit]))
        changed = EXACT.add(value, change)
        if len(changed.as_tuple().digits) > 100 or abs(changed.adjusted()) > 400:
            return str(value)  # out of range: a string, another change
        return _raw(str(changed))
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    zeros = draw(st.integers(0, min(5, 100 - len(digits))))
    coefficient = int("".join(map(str, digits))) * 10**zeros
    minus = "-" if sign or (not value and draw(st.booleans())) else ""
    if abs(value.adjusted()) <= 30 and draw(st.booleans()):
        return _raw(minus + format(abs(value), "f"))
    return _raw(f"{minus}{coefficient}e{exponent - zeros}")


def _written_otherwise(draw: st.DrawFn, value: Any) -> Any:
    """`value` with its members in another order and its numbers spelled otherwise; now and then
    one thing changed (a string, a type, the order of an array)."""
    if isinstance(value, msgspec.Raw):
        return _number_written_otherwise(draw, value)
    if draw(chance(12)):
        return draw(st.sampled_from(["1", 1, True, None, [], {}]).filter(lambda v: v != value))
    if isinstance(value, dict):
        members = [(k, _written_otherwise(draw, v)) for k, v in value.items()]
        return dict(draw(st.permutations(members)))
    if isinstance(value, list):
        items = [_written_otherwise(draw, v) for v in value]
        return items[::-1] if len(items) > 1 and draw(chance(8)) else items
    if isinstance(value, str) and draw(chance(8)):
        return value + draw(st.sampled_from([" ", "\u00e9", "e\u0301"]))
    return value


@FUZZ
@given(data=st.data())
async def test_the_edge_holds_metadata_the_same_exactly_when_postgresql_does(
    service_conn: asyncpg.Connection, data: st.DataObject
) -> None:
    # what the idempotency fingerprint compares (service/http/money.py) against what the ledger
    # compares (ledger._replay: jsonb's =)
    first = data.draw(STORABLE_METADATA, label="first")
    second = data.draw(st.composite(lambda draw: _written_otherwise(draw, first))(), label="second")
    texts = [msgspec.json.encode(m).decode() for m in (first, second)]
    same_to_postgresql = await service_conn.fetchval("SELECT $1::jsonb = $2::jsonb", *texts)
    forms = [encode_canonical(measured_metadata(SERVICE_JSON.decode(t))[1]) for t in texts]
    assert (forms[0] == forms[1]) == same_to_postgresql, texts


# ----------------------------------------------------------------------------------------------
# Regression tests of the bugs the fuzzing found (all fixed): each asserts the right answer
# ----------------------------------------------------------------------------------------------
GOLD = "asset-gold-coin-001"


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/wallet/%00/balance", None),
        ("GET", "/api/v1/wallet/u-1/balance?assetTypeId=%00", None),
        ("POST", "/api/v1/wallet/topup", {"assetTypeId": "\x00"}),
        ("POST", "/api/v1/wallet/topup", {"metadata": {"note": "\x00"}}),
        ("POST", "/api/v1/wallet/spend", {"serviceDescription": "a\x00"}),
    ],
)
async def test_bug_nul_character_is_a_client_error(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    unique: str,
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    sent = {"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1.00", **(body or {})}
    if url.endswith("spend"):
        sent.setdefault("serviceDescription", "hat")
    response = await api.request(
        method,
        url,
        json=sent if body is not None else None,
        headers={**auth, "Idempotency-Key": f"k-{unique}"},
    )
    check(await contract_of(api), response)
    assert response.status_code in (400, 404, 422), response.text


async def test_bug_invalid_utf8_inside_a_json_string_is_validation_failed(
    api: httpx.AsyncClient, auth: dict[str, str], unique: str
) -> None:
    response = await api.post(
        "/api/v1/wallet/topup",
        content=b'{"userId": "\xff"}',
        headers={**auth, "Idempotency-Key": f"k-{unique}", "Content-Type": "application/json"},
    )
    problem = check(await contract_of(api), response)
    assert (response.status_code, problem.code) == (400, "validation_failed")


@pytest.mark.parametrize("query", ["offset=%C2%B2", "limit=%C2%B2"])
async def test_bug_unicode_digits_in_paging_are_validation_failed(
    api: httpx.AsyncClient, auth: dict[str, str], query: str
) -> None:
    response = await api.get(f"/api/v1/wallet/1/ledger?{query}", headers=auth)
    problem = check(await contract_of(api), response)
    assert (response.status_code, problem.code) == (400, "validation_failed")


async def test_bug_options_answers_a_documented_status(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await api.options("/api/v1/wallet/topup", headers=auth)
    check(await contract_of(api), response)
    assert response.status_code == 204 and "POST" in response.headers["allow"]


async def test_bug_amount_with_a_trailing_newline_is_validation_failed(
    api: httpx.AsyncClient, auth: dict[str, str], unique: str
) -> None:
    response = await api.post(
        "/api/v1/wallet/topup",
        json={"userId": f"u-{unique}", "assetTypeId": GOLD, "amount": "1\n"},
        headers={**auth, "Idempotency-Key": f"k-{unique}"},
    )
    problem = check(await contract_of(api), response)
    assert (response.status_code, problem.code) == (400, "validation_failed")


def test_a_path_with_empty_segments_may_answer_its_routes_404_or_the_routers() -> None:
    """Found by the fuzzer: GET /api/v1/wallet/0%2F/ledger answered the route's 404
    wallet_not_found, which the contract of a path Litestar normalises had replaced with the
    router's 404 not_found."""
    problem = {"content": {PROBLEM: {}}}
    document = {"paths": {"/api/v1/wallet/{walletId}/ledger": {"get": {"responses": {
        "200": {"description": "ok", "content": {"application/json": {}}},
        "404": {"description": "wallet_not_found: no such wallet", **problem},
    }}}}}  # fmt: skip
    template, answers = Contract(document).expect("GET", "/api/v1/wallet/0//ledger")
    assert template == "/api/v1/wallet/{walletId}/ledger"
    assert answers[404].codes == {"wallet_not_found", "not_found"}
    assert answers[405].codes == {"method_not_allowed"} and 200 in answers


@pytest.mark.parametrize("seconds", ["1", "900", "1e3", "900.0"])
async def test_bug_hold_expiry_in_a_string_is_validation_failed(
    api: httpx.AsyncClient, auth: dict[str, str], unique: str, seconds: str
) -> None:
    """Found by the fuzzer: {"expiresInSeconds": "1"} authorized a hold that expired a second
    later, as Litestar's conversion of a body takes a string for an integer ("1e3" for 1000);
    the document says an integer."""
    user = f"u-{unique}"
    topped = await api.post(
        "/api/v1/wallet/topup",
        json={"userId": user, "assetTypeId": GOLD, "amount": "5.00"},
        headers={**auth, "Idempotency-Key": f"t-{unique}"},
    )
    assert topped.status_code == 201, topped.text
    body = {"userId": user, "assetTypeId": GOLD, "amount": "1.00", "description": "Entry fee"}
    response = await api.post(
        "/api/v1/wallet/holds",
        json={**body, "expiresInSeconds": seconds},
        headers={**auth, "Idempotency-Key": f"k-{unique}"},
    )
    problem = check(await contract_of(api), response)
    assert response.status_code == 400, response.text
    assert problem.code == "validation_failed" and [
        (e.field, e.message) for e in problem.errors or []
    ] == [("expiresInSeconds", "expiresInSeconds is a whole number of seconds, a JSON integer")]
