"""Money: top-up, bonus, spend and transfer, and what every money-moving request shares (its
checks at the edge, its one pass through the gate). Each validates what the edge can, then
passes the gate, which makes the one ledger call exactly once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter, JSONBody

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate, Moved
from service.http.guards import AnyRequest, guarded_client
from service.http.metadata import check_metadata_size, measured_metadata, request_fingerprint
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import (
    BonusRequest,
    MoneyRequest,
    SpendRequest,
    TopupRequest,
    TransactionResponse,
    TransferRequest,
    TransferResponse,
)
from service.ledger import Ledger, Posting, TransferPosting
from service.observability import TRANSACTIONS
from service.problems import DESCRIPTION_FIELD, FieldError, ProblemError, validation_failed

# What every money-moving POST may answer: the edge's checks, the idempotency flow, the guard
POSTING_CODES = (
    "validation_failed",
    "idempotency_key_missing",
    "idempotency_key_invalid",
    "idempotency_key_in_flight",
    "payload_too_large",
    "unsupported_media_type",
    "invalid_amount",
    "idempotency_key_reused",
    *API_PROBLEMS,
)
# A limit (ledger._check_limits) may refuse any of them and a hold's authorization: the problem
# carries the limit's fields (service/problems.py, limit_facts)
MONEY_CODES = (
    *POSTING_CODES,
    "insufficient_funds",
    "unknown_asset",
    "balance_limit_exceeded",
    "velocity_limit_exceeded",
)
MONEY_PROBLEMS = problem_responses(*MONEY_CODES)

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


@dataclass(frozen=True, slots=True)
class Checked:
    """The parts every money request has, as the edge checked them: the Idempotency-Key, the
    amount (None where the route lets it be absent), and the metadata as JSON text for the
    ledger and in its form for the fingerprint."""

    key: str
    amount: Decimal | None
    metadata: str
    same_metadata: dict[str, Any]


def edge_amount(amount: str | None, field: str = "amount") -> Decimal | None:
    """A request's amount (at `field`) as the edge checked it: None where the route lets it be
    absent; validation_failed where it is not exactly a decimal."""
    if amount is None:
        return None
    if not rules.is_amount(amount):
        # msgspec checks the documented pattern with Python's `$`, which also matches before a
        # final newline; the amount must be exactly a decimal
        raise validation_failed(
            "the request is not valid",
            [FieldError(field, 'the amount must be a decimal string such as "100.00"')],
        )
    return Decimal(amount)


def edge_metadata(
    metadata: dict[str, Any] | None, field: str = "metadata"
) -> tuple[str, dict[str, Any]]:
    """A request's metadata (at `field`) as JSON text for the ledger and in its form for the
    fingerprint ({} for none); validation_failed naming the field where it breaks a rule."""
    if not metadata:
        return "{}", {}
    text, same_metadata, size = measured_metadata(metadata, field)
    check_metadata_size(size, field)
    return text, same_metadata


def checked(amount: str | None, metadata: dict[str, Any] | None, key_header: str | None) -> Checked:
    """The edge's checks of a money request, before the gate and the ledger: validation_failed
    or an idempotency problem where they fail."""
    value = edge_amount(amount)
    key = idempotency_key(key_header)
    text, same_metadata = edge_metadata(metadata)
    return Checked(key, value, text, same_metadata)


def moved(
    kind: str, asset_id: str, body: bytes, replayed: bool, also_same: tuple[str, ...] = ()
) -> Moved:
    """A ledger call's outcome for the gate, counted in the transactions metric if it is new."""
    if not replayed:
        TRANSACTIONS.labels(kind, asset_id).inc()
    return Moved(body, replayed, also_same)


async def once(
    gate: Gate,
    client: ApiClient,
    key: str,
    fingerprint: str,
    user_id: str | None,
    move: Callable[[], Awaitable[Moved]],
) -> Response[Any]:
    """The 201 of `move`, made once per key by the gate (a repeat: the same answer)."""
    answer = await gate.exactly_once(client, key, fingerprint, user_id, move)
    return json_response(answer.body, answer.status, answer.headers)


def _description(data: MoneyRequest) -> str | None:
    if isinstance(data, SpendRequest):
        return data.service_description
    if isinstance(data, BonusRequest):
        return data.reason
    return None


async def _call_ledger(ledger: Ledger, data: MoneyRequest, edge: Checked, client: str) -> Posting:
    amount, key, metadata = edge.amount, edge.key, edge.metadata
    assert amount is not None, "the amount of a top-up, bonus or spend is required"
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
    edge = checked(data.amount, data.metadata, key_header)
    fingerprint = request_fingerprint(
        kind,
        [data.user_id, data.asset_type_id, edge.amount, _description(data)],
        edge.same_metadata,
    )

    async def move() -> Moved:
        posting = await _call_ledger(ledger, data, edge, client.idempotency_scope)
        body = transaction_body(kind, data, posting)
        return moved(kind, data.asset_type_id, body, posting.replayed)

    return await once(gate, client, edge.key, fingerprint, data.user_id, move)


def transfer_body(data: TransferRequest, posting: TransferPosting) -> bytes:
    return encode(
        TransferResponse(
            transaction_id=str(posting.transaction_id),
            type="transfer",
            status="completed",
            from_user_id=data.from_user_id,
            to_user_id=data.to_user_id,
            asset_type_id=data.asset_type_id,
            amount=decimal_text(posting.amount),
            from_balance=decimal_text(posting.from_balance),
            to_balance=decimal_text(posting.to_balance),
            from_wallet_id=str(posting.from_wallet_id),
            to_wallet_id=str(posting.to_wallet_id),
            created_at=posting.created_at,
        )
    )


async def transfer_money(
    data: TransferRequest, key_header: str | None, client: ApiClient, ledger: Ledger, gate: Gate
) -> Response[Any]:
    edge = checked(data.amount, data.metadata, key_header)
    sender, recipient, asset = data.from_user_id, data.to_user_id, data.asset_type_id
    fingerprint = request_fingerprint(
        "transfer", [sender, recipient, asset, edge.amount, data.description], edge.same_metadata
    )

    async def move() -> Moved:
        assert edge.amount is not None, "a transfer's amount is required"
        posting = await ledger.transfer(
            sender, recipient, asset, edge.amount, data.description, edge.key, edge.metadata,
            client.idempotency_scope,
        )  # fmt: skip
        return moved("transfer", asset, transfer_body(data, posting), posting.replayed)

    # the sender's transaction limit counts it: the sender's money moves
    return await once(gate, client, edge.key, fingerprint, sender, move)


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
        opt={"scope": rules.SCOPE_BONUS, DESCRIPTION_FIELD: "reason"},
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
        opt={"scope": rules.SCOPE_SPEND, DESCRIPTION_FIELD: "serviceDescription"},
        responses=MONEY_PROBLEMS,
        summary="Spend: debits a user's wallet to the asset's Revenue; never below zero",
        tags=["money"],
    )
    async def spend(
        data: JSONBody[SpendRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[TransactionResponse]:
        client = guarded_client(request)
        return await move_money("spend", data, idempotency_key, client, ledger, gate)

    @post(
        "/wallet/transfer",
        opt={"scope": rules.SCOPE_TRANSFER, DESCRIPTION_FIELD: "description"},
        responses=problem_responses("same_user", *MONEY_CODES),
        summary="Transfer: debits one user's wallet and credits another's (a gift); never "
        "below zero",
        tags=["money"],
    )
    async def transfer(
        data: JSONBody[TransferRequest],
        request: AnyRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[TransferResponse]:
        return await transfer_money(data, idempotency_key, guarded_client(request), ledger, gate)

    return [topup, bonus, spend, transfer]
