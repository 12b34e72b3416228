"""Reversals: taking back all or part of a top-up, bonus, spend or transfer (a store refund, a
support correction), through the same edge checks and gate as every money request
(service/http/money.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody, PathParameter

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Answer, Gate, Moved
from service.http.guards import AnyRequest, guarded_client
from service.http.metadata import request_fingerprint
from service.http.money import POSTING_CODES, IdempotencyKey, checked, moved
from service.http.openapi import problem_responses
from service.http.reads import transaction_in_path
from service.http.wire import ReversalRequest, ReversalResponse
from service.ledger import Ledger, ReversalPosting
from service.problems import DESCRIPTION_FIELD

REVERSAL_PROBLEMS = problem_responses(
    *POSTING_CODES,
    "transaction_not_found",
    "not_reversible",
    "reversal_exceeds_original",
    "insufficient_funds",
)


def reversal_body(posting: ReversalPosting) -> bytes:
    """A reversal's 201 body: the bytes sent, and stored for the key's repeats."""
    return encode(
        ReversalResponse(
            transaction_id=str(posting.transaction_id),
            type="reversal",
            status="completed",
            user_id=posting.user_id,
            asset_type_id=posting.asset_id,
            amount=decimal_text(posting.amount),
            balance=decimal_text(posting.balance),
            wallet_id=str(posting.wallet_id),
            created_at=posting.created_at,
            reverses_transaction_id=str(posting.reverses_transaction_id),
            remaining=decimal_text(posting.remaining),
        )
    )


async def reverse_once(
    ledger: Ledger,
    gate: Gate,
    client: ApiClient,
    transaction_id: str,
    data: ReversalRequest,
    idempotency_key: str | None,
) -> Answer:
    """Reverses the transaction once per (client, key), through the edge's checks and the gate,
    as every money request: the REST route and the console's refund form both come here."""
    edge = checked(data.amount, data.metadata, idempotency_key)
    original = transaction_in_path(transaction_id)

    def fingerprint(amount: Decimal | None) -> str:
        values = [original, amount, data.mode, data.reason]
        return request_fingerprint("reversal", values, edge.same_metadata)

    requested = fingerprint(edge.amount)

    async def move() -> Moved:
        posting = await ledger.reverse(
            original, edge.amount, data.reason, edge.key, data.mode, edge.metadata,
            client.idempotency_scope,
        )  # fmt: skip
        # What the ledger answers with this reversal (ledger._replay_reversal): a request for
        # the amount it took, and, once nothing remains, one for "all that remains"; Redis
        # is told, so that its verdict on a repeat is the ledger's
        same = {fingerprint(posting.amount)}
        if not posting.remaining:
            same.add(fingerprint(None))
        also_same = tuple(sorted(same - {requested}))
        body = reversal_body(posting)
        return moved("reversal", posting.asset_id, body, posting.replayed, also_same)

    # No user's transaction limit counts it (docs/http-api.md, Rate limits): the request names
    # no user, and the ledger says whose money it moved only once it has moved it
    return await gate.exactly_once(client, edge.key, requested, None, move)


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """The reversal route, bound to the ledger it posts to and the gate in front of it."""

    @post(
        "/transactions/{transactionId:str}/reversals",
        opt={"scope": rules.SCOPE_REFUND, DESCRIPTION_FIELD: "reason"},
        responses=REVERSAL_PROBLEMS,
        summary="Reverse a top-up, bonus, spend or transfer, in full or in part: its legs "
        "mirrored (a store refund takes the coins back, a spend's refund gives them back)",
        tags=["money"],
    )
    async def reverse(
        transaction_id: Annotated[str, PathParameter(name="transactionId")],
        data: JSONBody[ReversalRequest],
        request: AnyRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ReversalResponse]:
        client = guarded_client(request)
        answer = await reverse_once(ledger, gate, client, transaction_id, data, idempotency_key)
        return json_response(answer.body, answer.status, answer.headers)

    return [reverse]
