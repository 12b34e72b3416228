"""Money: top-up, bonus and spend. Each validates what the edge can, then passes the gate, which
makes the one ledger call exactly once per Idempotency-Key."""

from __future__ import annotations

import decimal
import hashlib
from decimal import Decimal
from typing import Annotated, Any

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter, JSONBody

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode, encode_canonical, json_response
from service.http.gate import Gate
from service.http.guards import AnyRequest, guarded_client
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


# Metadata is measured as PostgreSQL will store it (its jsonb text, where a number is written out
# digit by digit: 1e400 is 401 bytes), after its numbers and nesting are found within the rules of
# service/rules.py, all before the ledger call: nothing large is ever built, here or there. The
# measure starts from the compact JSON text the ledger is sent, whose strings PostgreSQL writes
# byte for byte as msgspec does (the same escapes), and adds what PostgreSQL writes besides: a
# space after each ":" and ",", and numbers written out in full.
#
# Then comes the metadata's form for the idempotency fingerprint: equal for two metadata that
# jsonb holds equal (numbers compared as numbers: 1.1 is 1.10, 100 is 1e2, 0 is -0.0; keys in any
# order), which is how ledger._replay compares them.
_INT_BOUND = 10**rules.METADATA_NUMBER_MAX_DIGITS  # an int below it has at most that many digits
# enough digits for any amount (80 at most) and any metadata number: normalize() never rounds
_EXACT = decimal.Context(prec=rules.METADATA_NUMBER_MAX_DIGITS)
_NUMBER_RULE = (
    f"a number in metadata has at most {rules.METADATA_NUMBER_MAX_DIGITS} digits and an "
    f"exponent from -{rules.METADATA_NUMBER_MAX_EXPONENT} to {rules.METADATA_NUMBER_MAX_EXPONENT}"
)
_DEPTH_RULE = f"metadata nests at most {rules.METADATA_MAX_DEPTH} levels of objects and arrays"


class _RefusedError(Exception):
    """A metadata value outside the rules; `path` is filled in on the way out, innermost first."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _decimal_bytes(value: Decimal) -> int:
    """A Decimal's bytes as PostgreSQL's numeric writes it: every digit, no exponent, no sign on
    a zero; _RefusedError outside the rules."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "JSON has no NaN or Infinity"
    if (
        len(digits) > rules.METADATA_NUMBER_MAX_DIGITS
        or abs(value.adjusted()) > rules.METADATA_NUMBER_MAX_EXPONENT
    ):
        raise _RefusedError(_NUMBER_RULE)
    fraction = -exponent + 1 if exponent < 0 else 0  # the point and the digits after it
    if not value:
        return 1 + fraction
    return sign + max(1, len(digits) + exponent) + fraction


def _extra_bytes(value: Any, depth: int, decimals: list[Decimal]) -> int:
    """What jsonb's text of `value` (at `depth`: the metadata object is at 1) has beyond its
    compact JSON text; the Decimals met are added to `decimals`."""
    if isinstance(value, dict):
        if depth > rules.METADATA_MAX_DEPTH:
            raise _RefusedError(_DEPTH_RULE)
        extra = 2 * len(value) - 1 if value else 0  # ": " per member, ", " between them
        for key, item in value.items():
            if isinstance(item, str):  # the common case, and nothing to add
                continue
            try:
                extra += _extra_bytes(item, depth + 1, decimals)
            except _RefusedError as refused:
                refused.path.append(f".{key}")
                raise
        return extra
    if isinstance(value, list):
        if depth > rules.METADATA_MAX_DEPTH:
            raise _RefusedError(_DEPTH_RULE)
        extra = len(value) - 1 if value else 0  # ", " between items
        for index, item in enumerate(value):
            if isinstance(item, str):
                continue
            try:
                extra += _extra_bytes(item, depth + 1, decimals)
            except _RefusedError as refused:
                refused.path.append(f"[{index}]")
                raise
        return extra
    if isinstance(value, Decimal):
        decimals.append(value)
        return _decimal_bytes(value) - len(str(value))  # msgspec writes str(value)
    if isinstance(value, int) and not -_INT_BOUND < value < _INT_BOUND:
        raise _RefusedError(_NUMBER_RULE)
    return 0  # an int (its digits, written alike), true, false or null


def _same_number(value: Decimal) -> int | Decimal:
    """One form per value: 1.10 -> 1.1, 1.0 and 1E+0 -> 1, 100.0 -> 100, -0.0 -> 0."""
    same = value.normalize(_EXACT)
    last = same.as_tuple().exponent  # of its last digit: 0 or more when it is whole
    return int(same) if isinstance(last, int) and last >= 0 else same


def _same(value: Any) -> Any:
    """`value` with each Decimal in its one form (once within the rules: a bounded walk)."""
    if isinstance(value, dict):
        return {key: _same(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_same(item) for item in value]
    if isinstance(value, Decimal):
        return _same_number(value)
    return value


def measured_metadata(metadata: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """The metadata as JSON text for the ledger, its form for the idempotency fingerprint (equal
    for metadata that jsonb holds equal) and its size in bytes as PostgreSQL stores it (its jsonb
    text), once its numbers and nesting are found within the rules; else validation_failed
    naming the field."""
    decimals: list[Decimal] = []
    try:
        extra = _extra_bytes(metadata, 1, decimals)
    except _RefusedError as refused:
        error = FieldError("metadata" + "".join(reversed(refused.path)), refused.message)
        raise validation_failed("the metadata is not valid", [error]) from None
    text = encode(metadata)
    # ints, strings, true, false and null have one form each already (and the fingerprint's
    # encoder sorts the keys): only numbers with a fraction or an exponent need a new form
    return text.decode(), (_same(metadata) if decimals else metadata), len(text) + extra


def _check_metadata_size(size: int) -> None:
    if size > rules.METADATA_MAX_BYTES:
        message = (
            f"metadata is {size} bytes as PostgreSQL stores it (its jsonb text), over the "
            f"{rules.METADATA_MAX_BYTES} allowed"
        )
        raise validation_failed("the metadata is too large", [FieldError("metadata", message)])


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
        _check_metadata_size(size)
    amount = Decimal(data.amount)
    # What makes two requests "the same" (docs/http-api.md#idempotency): what ledger._replay
    # compares, compared as it does: the type, user, asset and description as they are, the
    # amount as a number ("7" is "7.00"), metadata as jsonb.
    fingerprint = hashlib.sha256(
        encode_canonical(
            [
                kind,
                data.user_id,
                data.asset_type_id,
                format(amount.normalize(_EXACT), "f"),
                _description(data),
                same_metadata,
            ]
        )
    ).hexdigest()

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
