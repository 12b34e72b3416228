"""The REST endpoints. Each authenticates (a guard), validates, asks Redis for admission, then
makes one call of an SQL API function. Bodies are encoded once, with msgspec, and the bytes are
what a repeat of the same Idempotency-Key gets back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import ClientException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.types import Empty

from service.admission import Admission, Admissions
from service.auth import ApiClient, KeyRing
from service.db import Database, Posting
from service.observability import RATE_LIMITED, REPLAYS, TRANSACTIONS, metrics_text
from service.problems import (
    PROBLEM_MEDIA_TYPE,
    FieldError,
    Problem,
    ProblemError,
    validation_failed,
)
from service.schemas import (
    AMOUNT_PATTERN,
    Balance,
    BalancesResponse,
    BonusRequest,
    HealthResponse,
    LedgerEntry,
    LedgerResponse,
    SpendRequest,
    TopupRequest,
    TransactionDetail,
    TransactionEntry,
    TransactionResponse,
)

_encode = msgspec.json.Encoder(decimal_format="number").encode
_fingerprint_encode = msgspec.json.Encoder(decimal_format="number", order="sorted").encode
# JSON numbers with a fraction become Decimals, never floats: metadata keeps 1.10 as 1.10 and
# 12345678901234567890.12 to the last digit.
_exact_json = msgspec.json.Decoder(float_hook=Decimal)


class ExactJSONRequest(Request[Any, Any, Any]):
    """Litestar's Request, decoding JSON bodies without floats."""

    async def json(self) -> Any:
        if self._json is Empty:
            try:
                self._json = _exact_json.decode(await self.body() or b"null")
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise ClientException(f"JSON is malformed: {exc}") from exc
        return self._json


_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
# re.ASCII and \Z: "²" and "٣" are not digits here, and "1\n" is not "1"
_POSITIVE_ID = re.compile(r"[1-9][0-9]{0,17}\Z", re.ASCII)  # within bigint, no leading zeros
_COUNT = re.compile(r"[0-9]{1,9}\Z", re.ASCII)
_AMOUNT = re.compile(AMOUNT_PATTERN.removesuffix("$") + r"\Z", re.ASCII)
JSON = "application/json"


# ----------------------------------------------------------------------------------------------
# Documentation of the problems each route can answer (RFC 9457 bodies)
# ----------------------------------------------------------------------------------------------
def _problems(**codes: str) -> dict[int, ResponseSpec]:
    """{status: ResponseSpec} from keyword `s<status>="code, code: when"`."""
    return {
        int(status[1:]): ResponseSpec(
            data_container=Problem,
            description=text,
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status, text in codes.items()
    }


_COMMON = {
    "s401": "unauthenticated: no API key, or an unknown or revoked one",
    "s403": "forbidden: the API key lacks this route's scope",
    "s429": "rate_limited: over a limit (see Retry-After and RateLimit-* headers)",
    "s503": "service_unavailable: the database cannot answer now; retry (safe with the same key)",
}
MONEY_PROBLEMS = _problems(
    s400="validation_failed (with the field errors), idempotency_key_missing, "
    "idempotency_key_invalid",
    s409="idempotency_key_in_flight: the same key is being processed (see Retry-After)",
    s413="payload_too_large: a body over 16 KiB",
    s415="unsupported_media_type: the body is not application/json",
    s422="insufficient_funds, unknown_asset, invalid_amount, idempotency_key_reused",
    **_COMMON,
)
BALANCE_PROBLEMS = _problems(
    s400="validation_failed: the userId is malformed", s404="asset_not_found", **_COMMON
)
LEDGER_PROBLEMS = _problems(
    s400="validation_failed: limit, offset or cursor", s404="wallet_not_found", **_COMMON
)
TRANSACTION_PROBLEMS = _problems(s404="transaction_not_found", **_COMMON)


# ----------------------------------------------------------------------------------------------
# Authentication and the request's shape
# ----------------------------------------------------------------------------------------------
async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard of every /api/v1 route: a valid key with the route's scope (opt["scope"]).
    A coroutine though it never awaits: Litestar runs a plain function guard in a thread pool,
    a hand-off that cost more than the rest of a request's Python."""
    keyring: KeyRing = connection.app.state.keyring
    client = keyring.authenticate(connection.headers.get("authorization"), handler.opt["scope"])
    connection.scope["wallet.client"] = client.name  # type: ignore[typeddict-unknown-key]
    connection.scope["wallet.api_client"] = client  # type: ignore[typeddict-unknown-key]
    if connection.scope.get("method") == "POST":
        media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON and not media_type.endswith("+json"):
            raise ProblemError(
                415,
                "unsupported_media_type",
                "send the body as JSON: Content-Type: application/json",
            )


def _client(request: Request[Any, Any, Any]) -> ApiClient:
    client: ApiClient = request.scope["wallet.api_client"]  # type: ignore[typeddict-item]
    return client


def _rate_headers(admission: Admission) -> dict[str, str]:
    quota = admission.quota
    if quota is None:
        return {}
    return {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset_seconds),
    }


def _refused(admission: Admission) -> ProblemError | None:
    """The problem answering an admission that is not a go-ahead (or a replay), if any."""
    headers = _rate_headers(admission)
    if admission.verdict == "limited":
        RATE_LIMITED.labels(admission.detail).inc()
        which = "API key's request" if admission.detail == "general" else "user's transaction"
        retry = str(admission.quota.reset_seconds if admission.quota else 1)
        return ProblemError(
            429,
            "rate_limited",
            f"the {which} limit is reached; retry after {retry} s",
            headers={**headers, "Retry-After": retry},
        )
    if admission.verdict == "in_flight":
        return ProblemError(
            409,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is being processed; retry shortly for its result",
            headers={**headers, "Retry-After": "1"},
        )
    if admission.verdict == "reused":
        return ProblemError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
            headers=headers,
        )
    return None


async def _admit_read(request: Request[Any, Any, Any]) -> dict[str, str]:
    admissions: Admissions = request.app.state.admissions
    admission = await admissions.admit(_client(request).name)
    refused = _refused(admission)
    if refused is not None:
        raise refused
    return _rate_headers(admission)


def _idempotency_key(value: str | None) -> str:
    if value is None:
        raise ProblemError(
            400,
            "idempotency_key_missing",
            "send an Idempotency-Key header (for example a UUID) with every money-moving request",
        )
    if not _IDEMPOTENCY_KEY.match(value):
        raise ProblemError(
            400,
            "idempotency_key_invalid",
            "an Idempotency-Key is 1 to 255 printable ASCII characters",
        )
    return value


def _text(value: Decimal) -> str:
    return format(value, "f")


def _json_response(body: bytes, status: int, headers: Mapping[str, str]) -> Response[bytes]:
    return Response(body, status_code=status, media_type=JSON, headers=dict(headers))


# ----------------------------------------------------------------------------------------------
# Money: topup, bonus, spend
# ----------------------------------------------------------------------------------------------
MoneyRequest = TopupRequest | BonusRequest | SpendRequest


async def _post(
    database: Database, data: MoneyRequest, amount: Decimal, key: str, metadata: str, client: str
) -> Posting:
    if isinstance(data, SpendRequest):
        return await database.spend(
            data.userId, data.assetTypeId, amount, data.serviceDescription, key, metadata, client
        )
    if isinstance(data, BonusRequest):
        return await database.grant_bonus(
            data.userId, data.assetTypeId, amount, data.reason, key, metadata, client
        )
    return await database.topup(data.userId, data.assetTypeId, amount, key, metadata, client)


def transaction_body(kind: str, data: MoneyRequest, posting: Posting) -> bytes:
    """A money request's 201 body: the bytes sent, and stored for the key's repeats."""
    return _encode(
        TransactionResponse(
            transactionId=str(posting.transaction_id),
            type=kind,  # type: ignore[arg-type]
            status="completed",
            userId=data.userId,
            assetTypeId=data.assetTypeId,
            amount=_text(posting.amount),
            balance=_text(posting.balance),
            walletId=str(posting.wallet_id),
            createdAt=posting.created_at,
        )
    )


async def _move_money(
    request: Request[Any, Any, Any],
    kind: str,
    data: MoneyRequest,
    key_header: str | None,
) -> Response[bytes]:
    if not _AMOUNT.match(data.amount):
        # msgspec checks the documented pattern with Python's `$`, which also matches before a
        # final newline; the amount must be exactly a decimal
        raise validation_failed(
            "the request is not valid",
            [FieldError("amount", 'the amount must be a decimal string such as "100.00"')],
        )
    key = _idempotency_key(key_header)
    client = _client(request)
    state: State = request.app.state
    admissions: Admissions = state.admissions
    amount = Decimal(data.amount)
    # what makes two requests "the same": the ledger compares these same arguments
    fingerprint = hashlib.sha256(
        _fingerprint_encode([kind, data, format(amount.normalize(), "f")])
    ).hexdigest()

    admission = await admissions.admit(
        client.name, key=key, fingerprint=fingerprint, user_id=data.userId
    )
    headers = _rate_headers(admission)
    if admission.verdict == "replay":
        REPLAYS.labels("redis").inc()
        status, _, stored = admission.detail.partition("|")
        headers["Idempotent-Replayed"] = "true"
        return _json_response(stored.encode(), int(status), headers)
    refused = _refused(admission)
    if refused is not None:
        raise refused

    metadata = _encode(data.metadata if data.metadata is not None else {}).decode()
    try:
        posting = await _post(state.database, data, amount, key, metadata, client.idempotency_scope)
    except BaseException:
        if admission.claimed:
            await admissions.release(client.name, key)
        raise
    body = transaction_body(kind, data, posting)
    if admission.claimed:
        await admissions.complete(client.name, key, fingerprint, 201, body)
    if posting.replayed:
        REPLAYS.labels("ledger").inc()
        headers["Idempotent-Replayed"] = "true"
    else:
        TRANSACTIONS.labels(kind, data.assetTypeId).inc()
    return _json_response(body, 201, headers)


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="Required. 1 to 255 printable ASCII characters, unique per API key; a repeat "
        "returns the first answer (Idempotent-Replayed: true) and moves nothing.",
    ),
]


@post(
    "/api/v1/wallet/topup",
    guards=[authorize],
    opt={"scope": "wallet:topup"},
    responses=MONEY_PROBLEMS,
    summary="Top up: credits a user's wallet from the asset's Treasury",
    tags=["money"],
)
async def topup(
    request: Request[Any, Any, Any],
    data: JSONBody[TopupRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[TransactionResponse]:
    return await _move_money(request, "topup", data, idempotency_key)  # type: ignore[return-value]


@post(
    "/api/v1/wallet/bonus",
    guards=[authorize],
    opt={"scope": "wallet:bonus"},
    responses=MONEY_PROBLEMS,
    summary="Grant a bonus: credits a user's wallet from the Treasury, with a reason",
    tags=["money"],
)
async def bonus(
    request: Request[Any, Any, Any],
    data: JSONBody[BonusRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[TransactionResponse]:
    return await _move_money(request, "bonus", data, idempotency_key)  # type: ignore[return-value]


@post(
    "/api/v1/wallet/spend",
    guards=[authorize],
    opt={"scope": "wallet:spend"},
    responses=MONEY_PROBLEMS,
    summary="Spend: debits a user's wallet to the asset's Revenue; never below zero",
    tags=["money"],
)
async def spend(
    request: Request[Any, Any, Any],
    data: JSONBody[SpendRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[TransactionResponse]:
    return await _move_money(request, "spend", data, idempotency_key)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# Reads
# ----------------------------------------------------------------------------------------------
@get(
    "/api/v1/wallet/{userId:str}/balance",
    guards=[authorize],
    opt={"scope": "wallet:read"},
    responses=BALANCE_PROBLEMS,
    summary="A user's balances: every asset, or one (no wallet yet means 0.00)",
    tags=["reads"],
)
async def balance(
    request: Request[Any, Any, Any],
    userId: Annotated[str, PathParameter()],  # noqa: N803 (the path's name, as documented)
    asset_type_id: Annotated[str | None, QueryParameter(name="assetTypeId")] = None,
) -> Response[BalancesResponse]:
    headers = await _admit_read(request)
    database: Database = request.app.state.database
    rows = await database.balances(userId, asset_type_id)
    body = BalancesResponse(
        userId=userId,
        balances=[
            Balance(
                assetTypeId=r.asset_id,
                assetCode=r.asset_code,
                assetName=r.asset_name,
                walletId=None if r.wallet_id is None else str(r.wallet_id),
                balance=_text(r.balance),
                version=r.version,
                updatedAt=r.updated_at,
            )
            for r in rows
        ],
    )
    return _json_response(_encode(body), 200, headers)  # type: ignore[return-value]


def _page_arguments(
    limit: str | None, offset: str | None, cursor: str | None
) -> tuple[int, int, int | None]:
    errors: list[FieldError] = []
    limit_value, offset_value, before = 50, 0, None
    if limit is not None:
        if _COUNT.match(limit) and 1 <= int(limit) <= 200:
            limit_value = int(limit)
        else:
            errors.append(FieldError("limit", "limit is a whole number from 1 to 200"))
    if offset is not None:
        if _COUNT.match(offset):
            offset_value = int(offset)
        else:
            errors.append(FieldError("offset", "offset is a whole number from 0"))
    if cursor is not None:
        if _POSITIVE_ID.match(cursor):
            before = int(cursor)
        else:
            errors.append(FieldError("cursor", "cursor is the nextCursor of an earlier page"))
        if offset_value:
            errors.append(FieldError("offset", "a cursor cannot be combined with an offset"))
    if errors:
        raise validation_failed("the paging arguments are not valid", errors)
    return limit_value, offset_value, before


@get(
    "/api/v1/wallet/{walletId:str}/ledger",
    guards=[authorize],
    opt={"scope": "wallet:read"},
    responses=LEDGER_PROBLEMS,
    summary="A page of a wallet's ledger, newest first, by offset or by cursor",
    tags=["reads"],
)
async def ledger(
    request: Request[Any, Any, Any],
    walletId: Annotated[str, PathParameter()],  # noqa: N803 (the path's name, as documented)
    limit: Annotated[str | None, QueryParameter(description="1 to 200, default 50")] = None,
    offset: Annotated[str | None, QueryParameter(description="entries to skip, default 0")] = None,
    cursor: Annotated[
        str | None, QueryParameter(description="nextCursor of the previous page (keyset paging)")
    ] = None,
) -> Response[LedgerResponse]:
    page_limit, page_offset, before = _page_arguments(limit, offset, cursor)
    if not _POSITIVE_ID.match(walletId):
        raise ProblemError(404, "wallet_not_found", f"wallet {walletId!r} not found")
    headers = await _admit_read(request)
    database: Database = request.app.state.database
    page = await database.ledger_page(int(walletId), page_limit, page_offset, before)
    body = LedgerResponse(
        walletId=str(page.wallet_id),
        userId=page.user_id,
        assetTypeId=page.asset_id,
        balance=_text(page.balance),
        entries=[
            LedgerEntry(
                entryId=str(e.entry_id),
                transactionId=str(e.transaction_id),
                type=e.type,  # type: ignore[arg-type]
                direction=e.direction,  # type: ignore[arg-type]
                amount=_text(e.amount),
                balanceAfter=_text(e.balance_after),
                description=e.description,
                metadata=e.metadata,
                createdAt=e.created_at,
            )
            for e in page.entries
        ],
        nextCursor=None if page.next_cursor is None else str(page.next_cursor),
    )
    return _json_response(_encode(body), 200, headers)  # type: ignore[return-value]


@get(
    "/api/v1/transactions/{transactionId:str}",
    guards=[authorize],
    opt={"scope": "wallet:read"},
    responses=TRANSACTION_PROBLEMS,
    summary="One transaction with all its entries",
    tags=["reads"],
)
async def transaction(
    request: Request[Any, Any, Any],
    transactionId: Annotated[str, PathParameter()],  # noqa: N803 (the path's name, as documented)
) -> Response[TransactionDetail]:
    if not _POSITIVE_ID.match(transactionId):
        raise ProblemError(404, "transaction_not_found", f"transaction {transactionId!r} not found")
    headers = await _admit_read(request)
    database: Database = request.app.state.database
    t = await database.get_transaction(int(transactionId))
    body = TransactionDetail(
        transactionId=str(t.transaction_id),
        type=t.type,  # type: ignore[arg-type]
        status="completed",
        userId=t.user_id,
        assetTypeId=t.asset_id,
        amount=_text(t.amount),
        balance=_text(t.balance),
        walletId=str(t.wallet_id),
        description=t.description,
        metadata=t.metadata,
        createdAt=t.created_at,
        entries=[
            TransactionEntry(
                entryId=str(leg.entry_id),
                walletId=str(leg.wallet_id),
                ownerType=leg.owner_type,  # type: ignore[arg-type]
                userId=leg.user_id,
                account=leg.account,
                direction=leg.direction,  # type: ignore[arg-type]
                amount=_text(leg.amount),
                balanceAfter=_text(leg.balance_after),
            )
            for leg in t.entries
        ],
    )
    return _json_response(_encode(body), 200, headers)  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# Operations
# ----------------------------------------------------------------------------------------------
@get(
    "/health",
    summary="ok; degraded when Redis is down (limits open); 503 when PostgreSQL is unreachable",
    tags=["operations"],
    responses={
        503: ResponseSpec(HealthResponse, description="PostgreSQL is unreachable"),
    },
)
async def health(request: Request[Any, Any, Any]) -> Response[HealthResponse]:
    state: State = request.app.state
    database: Database = state.database
    admissions: Admissions = state.admissions
    checks = {"postgres": "ok", "redis": "ok"}
    try:
        await database.ping()
    except ProblemError:
        checks["postgres"] = "unreachable"
    if not await admissions.ping():
        checks["redis"] = "unreachable"
    if checks["postgres"] != "ok":
        status, code = "unavailable", 503
    else:
        status, code = ("ok", 200) if checks["redis"] == "ok" else ("degraded", 200)
    body = _encode(HealthResponse(status=status, checks=checks))  # type: ignore[arg-type]
    return _json_response(body, code, {})  # type: ignore[return-value]


@get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    tags=["operations"],
    media_type="text/plain; version=0.0.4",
)
async def metrics() -> Response[bytes]:
    return Response(metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [topup, bonus, spend, balance, ledger, transaction, health, metrics]
