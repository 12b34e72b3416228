"""Holds (issue 16): money reserved from a user's wallet, then captured (all or part, to Revenue,
the rest given back), voided (all given back) or expired (given back by the sweeper,
service/sweeper.py). Each POST goes through the same edge checks and gate as every money request
(service/http/money.py); the ledger resolves a hold exactly once, whatever races."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import JSONBody, PathParameter

from service import rules
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate, Moved
from service.http.guards import BODY_OPTIONAL, AnyRequest, guarded_client
from service.http.metadata import request_fingerprint
from service.http.money import MONEY_CODES, POSTING_CODES, IdempotencyKey, checked, moved, once
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import (
    CaptureRequest,
    HoldDetail,
    HoldRequest,
    HoldResolutionResponse,
    HoldResponse,
    VoidRequest,
)
from service.ledger import HoldPosting, Ledger
from service.problems import FieldError, ProblemError, validation_failed

# re.ASCII and \Z: "²" is not a digit here, and "1\n" is not "1"
_POSITIVE_ID = re.compile(r"[1-9][0-9]{0,17}\Z", re.ASCII)  # within bigint, no leading zeros
# What the edge passes on as an interval: the ledger's own bound (WHEXI) is far inside it
_EXPIRY_PASSED = 10**9
_EXPIRY_TYPE_RULE = "expiresInSeconds is a whole number of seconds, a JSON integer"

AUTHORIZE_PROBLEMS = problem_responses(*MONEY_CODES, "invalid_hold_expiry")
RESOLVE_CODES = (*POSTING_CODES, "hold_not_found", "hold_not_open", "hold_expired")
CAPTURE_PROBLEMS = problem_responses(*RESOLVE_CODES, "capture_exceeds_hold")
VOID_PROBLEMS = problem_responses(*RESOLVE_CODES)
READ_PROBLEMS = problem_responses("hold_not_found", *API_PROBLEMS)


@dataclass
class _BodyOptional(Operation):
    """A route's OpenAPI operation whose body may be left out (Litestar marks every body
    required)."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body = replace(self.request_body, required=False)


def hold_in_path(hold_id: str) -> int:
    """A holdId of a path, or hold_not_found: one that is no id names none."""
    if not _POSITIVE_ID.match(hold_id):
        raise ProblemError("hold_not_found", f"hold {hold_id!r} not found")
    return int(hold_id)


def expiry_seconds(value: object) -> int:
    """The expiry asked for, as the body sent it: the default for none; validation_failed for
    anything but an integer (Litestar's conversion of a body would take "900" or "1e3" for one);
    invalid_hold_expiry for one no interval of the ledger's could take (the ledger refuses the
    rest outside its bound)."""
    if value is None:
        return rules.HOLD_EXPIRY_DEFAULT_SECONDS
    if type(value) is not int:
        raise validation_failed(
            "the request is not valid",
            [FieldError("expiresInSeconds", _EXPIRY_TYPE_RULE)],
        )
    if not -_EXPIRY_PASSED <= value <= _EXPIRY_PASSED:
        raise ProblemError(
            "invalid_hold_expiry",
            f"expiresInSeconds is {rules.HOLD_EXPIRY_MIN_SECONDS} to "
            f"{rules.HOLD_EXPIRY_MAX_SECONDS}",
        )
    return value


def hold_body(posting: HoldPosting) -> bytes:
    """An authorization's 201 body: the bytes sent, and stored for the key's repeats."""
    assert posting.transaction_id is not None and posting.balance is not None
    return encode(
        HoldResponse(
            hold_id=str(posting.hold_id),
            transaction_id=str(posting.transaction_id),
            status="open",
            user_id=posting.user_id,
            asset_type_id=posting.asset_id,
            amount=decimal_text(posting.amount),
            remaining=decimal_text(posting.remaining),
            balance=decimal_text(posting.balance),
            wallet_id=str(posting.wallet_id),
            expires_at=posting.expires_at,
            created_at=posting.created_at,
        )
    )


def resolution_body(posting: HoldPosting) -> bytes:
    """A capture's or void's 201 body."""
    assert posting.transaction_id is not None and posting.resolved_at is not None
    return encode(
        HoldResolutionResponse(
            hold_id=str(posting.hold_id),
            transaction_id=str(posting.transaction_id),
            status=posting.status,  # type: ignore[arg-type]
            user_id=posting.user_id,
            asset_type_id=posting.asset_id,
            amount=decimal_text(posting.amount),
            captured_amount=decimal_text(posting.captured),
            released_amount=decimal_text(posting.released),
            balance=None if posting.balance is None else decimal_text(posting.balance),
            wallet_id=str(posting.wallet_id),
            expires_at=posting.expires_at,
            created_at=posting.created_at,
            resolved_at=posting.resolved_at,
        )
    )


def hold_detail(hold: HoldPosting) -> HoldDetail:
    resolved_by = hold.resolve_transaction_id
    return HoldDetail(
        hold_id=str(hold.hold_id),
        status=hold.status,  # type: ignore[arg-type]
        user_id=hold.user_id,
        asset_type_id=hold.asset_id,
        wallet_id=str(hold.wallet_id),
        amount=decimal_text(hold.amount),
        captured_amount=decimal_text(hold.captured),
        released_amount=decimal_text(hold.released),
        remaining=decimal_text(hold.remaining),
        description=hold.description,
        expires_at=hold.expires_at,
        hold_transaction_id=str(hold.hold_transaction_id),
        resolve_transaction_id=None if resolved_by is None else str(resolved_by),
        created_at=hold.created_at,
        resolved_at=hold.resolved_at,
    )


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """The hold routes, bound to the ledger they post to and the gate in front of it."""

    @post(
        "/wallet/holds",
        opt={"scope": rules.SCOPE_HOLD},
        responses=AUTHORIZE_PROBLEMS,
        summary="Authorize a hold: reserves an amount of a user's wallet (moved to the asset's "
        "holds account) until it is captured, voided or expires; never below zero",
        tags=["holds"],
    )
    async def authorize(
        data: JSONBody[HoldRequest], request: AnyRequest, idempotency_key: IdempotencyKey = None
    ) -> Response[HoldResponse]:
        client = guarded_client(request)
        edge = checked(data.amount, data.metadata, idempotency_key)
        # as sent: the body converted to HoldRequest has "900" as 900 (request.json() is the
        # body decoded once, kept by the request)
        sent = await request.json()
        seconds = expiry_seconds(sent.get("expiresInSeconds"))
        # the expiry as the ledger compares it: absent and the default are the same request
        values = [data.user_id, data.asset_type_id, edge.amount, data.description, seconds]
        fingerprint = request_fingerprint("hold", values, edge.same_metadata)

        async def move() -> Moved:
            assert edge.amount is not None, "a hold's amount is required"
            posting = await ledger.authorize_hold(
                data.user_id, data.asset_type_id, edge.amount, data.description, edge.key,
                timedelta(seconds=seconds), edge.metadata, client.idempotency_scope,
            )  # fmt: skip
            return moved("hold", data.asset_type_id, hold_body(posting), bool(posting.replayed))

        # the user's transaction limit counts it: the user's money moves
        return await once(gate, client, edge.key, fingerprint, data.user_id, move)

    @post(
        "/holds/{holdId:str}/capture",
        opt={"scope": rules.SCOPE_HOLD},
        responses=CAPTURE_PROBLEMS,
        summary="Capture a hold, all of it or a part: the captured part goes to Revenue, the rest "
        "back to the user; once (a second capture, a void or an expiry is 409)",
        tags=["holds"],
    )
    async def capture(
        hold_id: Annotated[str, PathParameter(name="holdId")],
        data: JSONBody[CaptureRequest],
        request: AnyRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[HoldResolutionResponse]:
        client = guarded_client(request)
        edge = checked(data.amount, data.metadata, idempotency_key)
        hold = hold_in_path(hold_id)

        def fingerprint(amount: Decimal | None) -> str:
            return request_fingerprint("capture", [hold, amount], edge.same_metadata)

        requested = fingerprint(edge.amount)

        async def move() -> Moved:
            posting = await ledger.capture_hold(
                hold, edge.amount, edge.key, edge.metadata, client.idempotency_scope
            )
            # the ledger's verdict on a repeat (ledger._replay_hold_resolution): the amount it
            # captured, and "all of it" when that was the whole hold
            same = {fingerprint(posting.captured)}
            if posting.captured == posting.amount:
                same.add(fingerprint(None))
            also_same = tuple(sorted(same - {requested}))
            body = resolution_body(posting)
            return moved("capture", posting.asset_id, body, bool(posting.replayed), also_same)

        # No user's transaction limit counts it: the authorization was counted
        return await once(gate, client, edge.key, requested, None, move)

    @post(
        "/holds/{holdId:str}/void",
        opt={"scope": rules.SCOPE_HOLD, BODY_OPTIONAL: True},
        responses=VOID_PROBLEMS,
        operation_class=_BodyOptional,
        summary="Void a hold: all of it back to the user; once (a capture, a second void or an "
        "expiry is 409)",
        tags=["holds"],
    )
    async def void(
        hold_id: Annotated[str, PathParameter(name="holdId")],
        request: AnyRequest,
        idempotency_key: IdempotencyKey = None,
        data: JSONBody[VoidRequest | None] = None,
    ) -> Response[HoldResolutionResponse]:
        client = guarded_client(request)
        edge = checked(None, data.metadata if data else None, idempotency_key)
        hold = hold_in_path(hold_id)
        fingerprint = request_fingerprint("void", [hold], edge.same_metadata)

        async def move() -> Moved:
            posting = await ledger.void_hold(
                hold, edge.key, edge.metadata, client.idempotency_scope
            )
            body = resolution_body(posting)
            return moved("void", posting.asset_id, body, bool(posting.replayed))

        return await once(gate, client, edge.key, fingerprint, None, move)

    @get(
        "/holds/{holdId:str}",
        opt={"scope": rules.SCOPE_READ},
        responses=READ_PROBLEMS,
        summary="One hold: its status, amounts, expiry and the ids of its transactions",
        tags=["holds"],
    )
    async def read(
        hold_id: Annotated[str, PathParameter(name="holdId")], request: AnyRequest
    ) -> Response[HoldDetail]:
        wanted = hold_in_path(hold_id)
        headers = await gate.admit_read(guarded_client(request))
        hold = await ledger.get_hold(wanted)
        return json_response(encode(hold_detail(hold)), 200, headers)

    return [authorize, capture, void, read]
