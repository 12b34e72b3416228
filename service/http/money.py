"""Money: top-up, bonus and spend. Each validates what the edge can, then passes the gate, which
makes the one ledger call exactly once per Idempotency-Key."""

from __future__ import annotations

import hashlib
import re
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


# Metadata is measured as PostgreSQL will write it (its jsonb text, where a number is written out
# digit by digit: 1e400 is 401 bytes), after its numbers and nesting are found within the rules of
# service/rules.py, all before the ledger call: nothing large is ever built, here or there.
_INT_BOUND = 10**rules.METADATA_NUMBER_MAX_DIGITS  # an int below it has at most that many digits
_ESCAPED = re.compile(r'[\x00-\x1f"\\]')  # what jsonb's text escapes in a string
_SHORT_ESCAPES = frozenset('\b\f\n\r\t"\\')  # written \n, \", ...; other controls \u00XX
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


def _string_bytes(text: str) -> int:
    """A JSON string's bytes in jsonb's text: its quotes, UTF-8, and escapes as PostgreSQL
    writes them."""
    size = (len(text) if text.isascii() else len(text.encode())) + 2
    for char in _ESCAPED.findall(text):
        size += 1 if char in _SHORT_ESCAPES else 5
    return size


def _number_bytes(value: int | Decimal) -> int:
    """A number's bytes as PostgreSQL's numeric writes it: every digit, no exponent, and no sign
    on a zero; _RefusedError outside the rules."""
    if isinstance(value, int):
        if not -_INT_BOUND < value < _INT_BOUND:
            raise _RefusedError(_NUMBER_RULE)
        return len(str(value))
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


def _metadata_bytes(value: Any, depth: int) -> int:
    """`value`'s bytes in jsonb's text, at `depth` (the metadata object is at 1)."""
    if isinstance(value, str):
        return _string_bytes(value)
    if isinstance(value, dict):
        if depth > rules.METADATA_MAX_DEPTH:
            raise _RefusedError(_DEPTH_RULE)
        size = 4 * len(value) or 2  # {}, and ": " and ", " per member, less the last ", "
        for key, item in value.items():
            try:
                size += _string_bytes(key) + _metadata_bytes(item, depth + 1)
            except _RefusedError as refused:
                refused.path.append(f".{key}")
                raise
        return size
    if isinstance(value, list):
        if depth > rules.METADATA_MAX_DEPTH:
            raise _RefusedError(_DEPTH_RULE)
        size = 2 * len(value) or 2  # [], and ", " per item, less the last
        for index, item in enumerate(value):
            try:
                size += _metadata_bytes(item, depth + 1)
            except _RefusedError as refused:
                refused.path.append(f"[{index}]")
                raise
        return size
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    return _number_bytes(value)  # an int or a Decimal: nothing else is decoded


def metadata_bytes(metadata: dict[str, Any]) -> int:
    """The metadata's size in bytes as PostgreSQL stores it (its jsonb text), once its numbers
    and nesting are found within the rules; else validation_failed naming the field."""
    try:
        return _metadata_bytes(metadata, 1)
    except _RefusedError as refused:
        error = FieldError("metadata" + "".join(reversed(refused.path)), refused.message)
        raise validation_failed("the metadata is not valid", [error]) from None


def _check_metadata_size(size: int) -> None:
    if size > rules.METADATA_MAX_BYTES:
        message = (
            f"metadata is {size} bytes as PostgreSQL stores it (its jsonb text), over the "
            f"{rules.METADATA_MAX_BYTES} allowed"
        )
        raise validation_failed("the metadata is too large", [FieldError("metadata", message)])


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
    if data.metadata:
        _check_metadata_size(metadata_bytes(data.metadata))
    amount = Decimal(data.amount)
    # what makes two requests "the same": the ledger compares these same arguments
    fingerprint = hashlib.sha256(
        encode_canonical([kind, data, format(amount.normalize(), "f")])
    ).hexdigest()

    async def move() -> tuple[bytes, bool]:
        metadata = encode(data.metadata if data.metadata is not None else {}).decode()
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
