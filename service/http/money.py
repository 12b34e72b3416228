"""Money: top-up, bonus and spend. Each validates what the edge can, then passes the gate, which
makes the one ledger call exactly once per Idempotency-Key."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter, JSONBody

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate
from service.http.guards import AnyRequest, guarded_client
from service.http.metadata import check_metadata_size, measured_metadata, request_fingerprint
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import (
    BonusRequest,
    MoneyRequest,
    SpendRequest,
    TopupRequest,
    TransactionResponse,
)
from service.ledger import Ledger, Posting
from service.observability import TRANSACTIONS
from service.problems import FieldError, ProblemError, validation_failed

MONEY_PROBLEMS = problem_responses(
    "validation_failed",
    "idempotency_key_missing",
    "idempotency_key_invalid",
    "idempotency_key_in_flight",
    "payload_too_large",
    "unsupported_media_type",
    "insufficient_funds",
    "unknown_asset",
    "invalid_amount",
    "idempotency_key_reused",
    *API_PROBLEMS,
)

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description=f"Required. {rules.IDEMPOTENCY_KEY_RULE}, unique per API key; a repeat "
        "returns the first answer (Idempotent-Replayed: true) and moves nothing.",
    ),
]


def idempotency_key(value: str | None) -> str:
    if value is None:
        raise ProblemError(
            "idempotency_key_missing",
            "send an Idempotency-Key header (for example a UUID) with every money-moving request",
        )
    if not rules.is_idempotency_key(value):
        raise ProblemError(
            "idempotency_key_invalid", f"an Idempotency-Key is {rules.IDEMPOTENCY_KEY_RULE}"
        )
    return value


def _description(data: MoneyRequest) -> str | None:
    if isinstance(data, SpendRequest):
        return data.service_description
    if isinstance(data, BonusRequest):
        return data.reason
    return None


async def _call_ledger(
    ledger: Ledger, data: MoneyRequest, amount: Decimal, key: str, metadata: str, client: str
) -> Posting:
    if isinstance(data, SpendRequest):
        return await ledger.spend(
            data.user_id, data.asset_type_id, amount, data.service_description, key, metadata,
            client,
        )  # fmt: skip
    if isinstance(data, BonusRequest):
        return await ledger.grant_bonus(
            data.user_id, data.asset_type_id, amount, data.reason, key, metadata, client
        )
    return await ledger.topup(data.user_id, data.asset_type_id, amount, key, metadata, client)


def transaction_body(kind: str, data: MoneyRequest, posting: Posting) -> bytes:
    """A money request's 201 body: the bytes sent, and stored for the key's repeats."""
    return encode(
        TransactionResponse(
            transaction_id=str(posting.transaction_id),
            type=kind,  # type: ignore[arg-type]
            status="completed",
            user_id=data.user_id,
            asset_type_id=data.asset_type_id,
            amount=decimal_text(posting.amount),
            balance=decimal_text(posting.balance),
            wallet_id=str(posting.wallet_id),
            created_at=posting.created_at,
        )
    )


async def move_money(
    kind: str,
    data: MoneyRequest,
    key_header: str | None,
    client: ApiClient,
    ledger: Ledger,
    gate: Gate,
) -> Response[Any]:
    if not rules.is_amount(data.amount):
        # msgspec checks the documented pattern with Python's `$`, which also matches before a
        # final newline; the amount must be exactly a decimal
        raise validation_failed(
            "the request is not valid",
            [FieldError("amount", 'the amount must be a decimal string such as "100.00"')],
        )
    key = idempotency_key(key_header)
    metadata = "{}"  # no metadata is {} to the ledger
    same_metadata: dict[str, Any] = {}
    if data.metadata:
        metadata, same_metadata, size = measured_metadata(data.metadata)
        check_metadata_size(size)
    amount = Decimal(data.amount)
    fingerprint = request_fingerprint(
        kind, data.user_id, data.asset_type_id, amount, _description(data), same_metadata
    )

    async def move() -> tuple[bytes, bool]:
        posting = await _call_ledger(ledger, data, amount, key, metadata, client.idempotency_scope)
        if not posting.replayed:
            TRANSACTIONS.labels(kind, data.asset_type_id).inc()
        return transaction_body(kind, data, posting), posting.replayed

    answer = await gate.exactly_once(client, key, fingerprint, data.user_id, move)
    return json_response(answer.body, answer.status, answer.headers)


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """The money routes, bound to the ledger they post to and the gate in front of it."""

    @post(
        "/wallet/topup",
        opt={"scope": rules.SCOPE_TOPUP},
        responses=MONEY_PROBLEMS,
        summary="Top up: credits a user's wallet from the asset's Treasury",
        tags=["money"],
    )
    async def topup(
        data: JSONBody[TopupRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[TransactionResponse]:
        client = guarded_client(request)
        return await move_money("topup", data, idempotency_key, client, ledger, gate)

    @post(
        "/wallet/bonus",
        opt={"scope": rules.SCOPE_BONUS},
        responses=MONEY_PROBLEMS,
        summary="Grant a bonus: credits a user's wallet from the Treasury, with a reason",
        tags=["money"],
    )
    async def bonus(
        data: JSONBody[BonusRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[TransactionResponse]:
        client = guarded_client(request)
        return await move_money("bonus", data, idempotency_key, client, ledger, gate)

    @post(
        "/wallet/spend",
        opt={"scope": rules.SCOPE_SPEND},
        responses=MONEY_PROBLEMS,
        summary="Spend: debits a user's wallet to the asset's Revenue; never below zero",
        tags=["money"],
    )
    async def spend(
        data: JSONBody[SpendRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[TransactionResponse]:
        client = guarded_client(request)
        return await move_money("spend", data, idempotency_key, client, ledger, gate)

    return [topup, bonus, spend]
