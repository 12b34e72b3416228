"""Batches (issue 17): up to 1,000 top-ups, bonuses or spends of one asset in one request, for a
trusted job (scope wallet:batch), made by one call of api.post_batch. The edge checks what it
checks for the single calls (each item's amount and metadata, the Idempotency-Key, the reason or
description its type needs), then the batch passes the gate once: one count against the API key's
general limit, none against any user's transaction limit (a batch is a job, not a player)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode
from service.http.gate import Gate, Moved
from service.http.guards import AnyRequest, guarded_client
from service.http.metadata import request_fingerprint, stored_metadata
from service.http.money import (
    POSTING_CODES,
    IdempotencyKey,
    edge_amount,
    edge_metadata,
    idempotency_key,
    once,
)
from service.http.openapi import problem_responses
from service.http.wire import BatchItemResult, BatchRequest, BatchResponse
from service.ledger import BatchItemPosting, Ledger, LedgerError
from service.observability import TRANSACTIONS
from service.problems import FieldError, from_ledger, validation_failed

# A batch's body may hold 1,000 items with their metadata: a limit of its own (the other routes
# keep the app's, service/http/app.py)
BATCH_MAX_BODY_BYTES = 256 * 1024
# Each item's invalid amount, insufficient funds or limit is in its result (or, atomic, in the
# batch_rejected problem's errors): never the whole request's problem
BATCH_CODES = (
    *(code for code in POSTING_CODES if code != "invalid_amount"),
    "unknown_asset",
    "batch_rejected",
)
# The body field holding the batch's one text, by type (the ledger's p_description)
_TEXT_FIELD = {"bonus": "reason", "spend": "description"}
_ATOMIC_TYPE_RULE = "atomic is true or false, a JSON boolean"


def _text(data: BatchRequest) -> str | None:
    """The batch's reason or description, as its type requires: validation_failed for one that
    is missing, or sent with a type that takes none."""
    needed = _TEXT_FIELD.get(data.type)
    sent = {"reason": data.reason, "description": data.description}
    errors = [
        FieldError(field, f"a {data.type} batch takes no {field}")
        for field, value in sent.items()
        if value is not None and field != needed
    ]
    if needed is not None and sent[needed] is None:
        errors.append(FieldError(needed, f"`{needed}` is required for a {data.type} batch"))
    if errors:
        raise validation_failed("the request is not valid", errors)
    return None if needed is None else sent[needed]


def _check_atomic(sent: object) -> None:
    """validation_failed for an `atomic` that is no JSON boolean, as the body sent it (Litestar's
    conversion of a body would take "false", "0" or 0 for false, "true", "1" or 1 for true)."""
    if not isinstance(sent, bool):
        raise validation_failed(
            "the request is not valid", [FieldError("atomic", _ATOMIC_TYPE_RULE)]
        )


def _result(row: BatchItemPosting) -> BatchItemResult:
    return BatchItemResult(
        index=row.item_index,
        user_id=row.user_id,
        status=row.status,  # type: ignore[arg-type]
        transaction_id=None if row.transaction_id is None else str(row.transaction_id),
        wallet_id=None if row.wallet_id is None else str(row.wallet_id),
        balance=None if row.balance is None else decimal_text(row.balance),
        code=row.code,
        detail=row.detail,
    )


def batch_body(data: BatchRequest, rows: list[BatchItemPosting]) -> bytes:
    """A batch's 201 body: the bytes sent, and stored for the key's repeats (the ledger's replay
    of the batch makes the same)."""
    return encode(
        BatchResponse(
            batch_id=str(rows[0].batch_id),
            type=data.type,
            asset_type_id=data.asset_type_id,
            atomic=data.atomic,
            items=[_result(row) for row in rows],
        )
    )


async def post_batch(
    data: BatchRequest,
    key_header: str | None,
    client: ApiClient,
    ledger: Ledger,
    gate: Gate,
    atomic_sent: object = True,
) -> Response[Any]:
    amounts: list[Decimal] = []
    texts: list[str] = []
    same_metadata: list[dict[str, Any]] = []
    for index, item in enumerate(data.items):
        amount = edge_amount(item.amount, f"items[{index}].amount")
        assert amount is not None, "an item's amount is required"
        text, _ = edge_metadata(item.metadata, f"items[{index}].metadata")
        amounts.append(amount)
        texts.append(text)
        same_metadata.append(stored_metadata(item.metadata) if item.metadata else {})
    key = idempotency_key(key_header)
    _check_atomic(atomic_sent)
    description = _text(data)
    users = [item.user_id for item in data.items]
    # what api.post_batch's fingerprint holds: the type, asset, text, mode, and each item's user
    # and amount (as a number: "7" is "7.00") in order; each item's metadata as its jsonb text
    # ({} for none; numbers with their places: unlike a single call, 1.1 is not 1.10)
    pairs = [value for user, amount in zip(users, amounts, strict=True) for value in (user, amount)]
    fingerprint = request_fingerprint(
        "batch", [data.type, data.asset_type_id, description, data.atomic, *pairs], same_metadata
    )
    metadata = texts if any(item.metadata for item in data.items) else None

    async def move() -> Moved:
        try:
            rows = await ledger.post_batch(
                data.type, data.asset_type_id, users, amounts, description, key, data.atomic,
                metadata, client.idempotency_scope,
            )  # fmt: skip
        except LedgerError as exc:
            if exc.sqlstate == "WDESC":  # the reason or the description, by the batch's type
                raise from_ledger(exc, _TEXT_FIELD.get(data.type, "description")) from exc
            raise
        replayed = rows[0].replayed
        if not replayed:
            completed = sum(row.status == "completed" for row in rows)
            TRANSACTIONS.labels(data.type, data.asset_type_id).inc(completed)
        return Moved(batch_body(data, rows), replayed)

    # no user's transaction limit counts it: only the key's general limit, once
    return await once(gate, client, key, fingerprint, None, move)


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """The batch route, bound to the ledger it posts to and the gate in front of it."""

    @post(
        "/wallet/batch",
        opt={"scope": rules.SCOPE_BATCH},
        request_max_body_size=BATCH_MAX_BODY_BYTES,
        responses=problem_responses(*BATCH_CODES),
        summary="A batch: up to 1,000 top-ups, bonuses or spends of one asset, all or none "
        "(atomic) or each on its own",
        tags=["money"],
    )
    async def batch(
        data: JSONBody[BatchRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[BatchResponse]:
        # as sent: the body converted to BatchRequest has "false" as false (request.json() is the
        # body decoded once, kept by the request)
        sent = await request.json()
        client = guarded_client(request)
        return await post_batch(
            data, idempotency_key, client, ledger, gate, sent.get("atomic", True)
        )

    return [batch]
