"""Reads: a user's balances, a page of a wallet's ledger, one transaction."""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from service import rules
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate
from service.http.guards import AnyRequest, guarded_client
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import (
    Balance,
    BalancesResponse,
    LedgerEntry,
    LedgerResponse,
    TransactionDetail,
    TransactionEntry,
)
from service.ledger import Ledger, LedgerError
from service.problems import FieldError, ProblemError, ledger_detail, validation_failed

# re.ASCII and \Z: "²" and "٣" are not digits here, and "1\n" is not "1"
_POSITIVE_ID = re.compile(r"[1-9][0-9]{0,17}\Z", re.ASCII)  # within bigint, no leading zeros
_COUNT = re.compile(r"[0-9]{1,9}\Z", re.ASCII)


def transaction_in_path(transaction_id: str) -> int:
    """A transactionId of a path, or transaction_not_found: one that is no id names none."""
    if not _POSITIVE_ID.match(transaction_id):
        raise ProblemError("transaction_not_found", f"transaction {transaction_id!r} not found")
    return int(transaction_id)


def page_arguments(
    limit: str | None, offset: str | None, cursor: str | None
) -> tuple[int, int, int | None]:
    """limit, offset and the version to start below, or validation_failed naming each bad one."""
    errors: list[FieldError] = []
    limit_value, offset_value, before = rules.PAGE_LIMIT_DEFAULT, 0, None
    if limit is not None:
        if _COUNT.match(limit) and 1 <= int(limit) <= rules.PAGE_LIMIT_MAX:
            limit_value = int(limit)
        else:
            errors.append(
                FieldError("limit", f"limit is a whole number from 1 to {rules.PAGE_LIMIT_MAX}")
            )
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


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """The read routes, bound to the ledger they read and the gate that counts the reads."""

    @get(
        "/wallet/{userId:str}/balance",
        opt={"scope": rules.SCOPE_READ},
        responses=problem_responses("validation_failed", "asset_not_found", *API_PROBLEMS),
        summary="A user's balances: every asset, or one (no wallet yet means 0.00)",
        tags=["reads"],
    )
    async def balance(
        user_id: Annotated[str, PathParameter(name="userId")],
        request: AnyRequest,
        asset_type_id: Annotated[str | None, QueryParameter(name="assetTypeId")] = None,
    ) -> Response[BalancesResponse]:
        headers = await gate.admit_read(guarded_client(request))
        try:
            rows = await ledger.balances(user_id, asset_type_id)
        except LedgerError as error:
            if error.code == "unknown_asset":  # a read of no such asset: no such resource
                raise ProblemError("asset_not_found", ledger_detail(error)) from error
            raise
        body = BalancesResponse(
            user_id=user_id,
            balances=[
                Balance(
                    asset_type_id=r.asset_id,
                    asset_code=r.asset_code,
                    asset_name=r.asset_name,
                    wallet_id=None if r.wallet_id is None else str(r.wallet_id),
                    balance=decimal_text(r.balance),
                    version=r.version,
                    updated_at=r.updated_at,
                    held=decimal_text(r.held),
                    total=decimal_text(r.balance + r.held),
                )
                for r in rows
            ],
        )
        return json_response(encode(body), 200, headers)

    @get(
        "/wallet/{walletId:str}/ledger",
        opt={"scope": rules.SCOPE_READ},
        responses=problem_responses("validation_failed", "wallet_not_found", *API_PROBLEMS),
        summary="A page of a wallet's ledger, newest first, by offset or by cursor (a system "
        "account's needs wallet:audit too)",
        tags=["reads"],
        # as published when the handler was called `ledger` (now the name of its ledger parameter)
        operation_id="ApiV1WalletWalletidLedgerLedger",
    )
    async def ledger_page(
        wallet_id: Annotated[str, PathParameter(name="walletId")],
        request: AnyRequest,
        limit: Annotated[
            str | None,
            QueryParameter(
                description=f"1 to {rules.PAGE_LIMIT_MAX}, default {rules.PAGE_LIMIT_DEFAULT}"
            ),
        ] = None,
        offset: Annotated[
            str | None, QueryParameter(description="entries to skip, default 0")
        ] = None,
        cursor: Annotated[
            str | None,
            QueryParameter(description="nextCursor of the previous page (keyset paging)"),
        ] = None,
    ) -> Response[LedgerResponse]:
        page_limit, page_offset, before = page_arguments(limit, offset, cursor)
        if not _POSITIVE_ID.match(wallet_id):
            raise ProblemError("wallet_not_found", f"wallet {wallet_id!r} not found")
        client = guarded_client(request)
        headers = await gate.admit_read(client)
        page = await ledger.ledger_page(int(wallet_id), page_limit, page_offset, before)
        if page.owner_type != "user" and rules.SCOPE_AUDIT not in client.scopes:
            # known only once read: a wallet id does not say whose it is
            raise ProblemError(
                "forbidden",
                f"the ledgers of system accounts need the scope {rules.SCOPE_AUDIT}",
                headers=headers,
            )
        body = LedgerResponse(
            wallet_id=str(page.wallet_id),
            user_id=page.user_id,
            asset_type_id=page.asset_id,
            balance=decimal_text(page.balance),
            entries=[
                LedgerEntry(
                    entry_id=str(e.entry_id),
                    transaction_id=str(e.transaction_id),
                    type=e.type,  # type: ignore[arg-type]
                    direction=e.direction,  # type: ignore[arg-type]
                    amount=decimal_text(e.amount),
                    balance_after=decimal_text(e.balance_after),
                    description=e.description,
                    metadata=e.metadata,
                    created_at=e.created_at,
                )
                for e in page.entries
            ],
            next_cursor=None if page.next_cursor is None else str(page.next_cursor),
        )
        return json_response(encode(body), 200, headers)

    @get(
        "/transactions/{transactionId:str}",
        opt={"scope": rules.SCOPE_READ},
        responses=problem_responses("transaction_not_found", *API_PROBLEMS),
        summary="One transaction with all its entries",
        tags=["reads"],
    )
    async def transaction(
        transaction_id: Annotated[str, PathParameter(name="transactionId")],
        request: AnyRequest,
    ) -> Response[TransactionDetail]:
        wanted = transaction_in_path(transaction_id)
        headers = await gate.admit_read(guarded_client(request))
        t = await ledger.get_transaction(wanted)
        original, reversed_amount = t.reverses_transaction_id, t.reversed_amount
        body = TransactionDetail(
            transaction_id=str(t.transaction_id),
            type=t.type,  # type: ignore[arg-type]
            status="completed",
            user_id=t.user_id,
            asset_type_id=t.asset_id,
            amount=decimal_text(t.amount),
            balance=None if t.balance is None else decimal_text(t.balance),
            wallet_id=str(t.wallet_id),
            description=t.description,
            metadata=t.metadata,
            created_at=t.created_at,
            entries=[
                TransactionEntry(
                    entry_id=str(leg.entry_id),
                    wallet_id=str(leg.wallet_id),
                    owner_type=leg.owner_type,  # type: ignore[arg-type]
                    user_id=leg.user_id,
                    account=leg.account,
                    direction=leg.direction,  # type: ignore[arg-type]
                    amount=decimal_text(leg.amount),
                    balance_after=decimal_text(leg.balance_after),
                )
                for leg in t.entries
            ],
            reverses_transaction_id=None if original is None else str(original),
            reversed_amount=None if reversed_amount is None else decimal_text(reversed_amount),
            reversals=None if t.reversals is None else [str(r) for r in t.reversals],
        )
        return json_response(encode(body), 200, headers)

    return [balance, ledger_page, transaction]
