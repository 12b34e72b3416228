"""Reads: a user's balances (now, or at a moment), a page of a wallet's ledger, a wallet's
statement for a period, one transaction."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from service import rules
from service.auth import ApiClient
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate
from service.http.guards import AnyRequest, guarded_client
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import (
    Balance,
    BalancesResponse,
    LedgerEntry,
    LedgerResponse,
    StatementResponse,
    TransactionDetail,
    TransactionEntry,
    TypeTotals,
)
from service.ledger import BalanceAtRow, BalanceRow, Ledger, LedgerError, LedgerLine
from service.problems import FieldError, ProblemError, ledger_detail, validation_failed

# re.ASCII and \Z: "²" and "٣" are not digits here, and "1\n" is not "1"
_POSITIVE_ID = re.compile(r"[1-9][0-9]{0,17}\Z", re.ASCII)  # within bigint, no leading zeros
_COUNT = re.compile(r"[0-9]{1,9}\Z", re.ASCII)


# RFC 3339's date-time, its offset required (Z or +hh:mm / -hh:mm), its T and Z in either case;
# a fraction finer than PostgreSQL's microseconds is cut to them (a moment between two
# microseconds splits the ledger as the microsecond before it: posted_at has no finer digits)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})\Z",
    re.ASCII | re.IGNORECASE,
)
_MOMENT_RULE = (
    "a moment in RFC 3339 with its offset, such as 2026-11-29T12:00:00Z or "
    "2026-11-29T13:00:00%2B01:00 (in a query string a + is a space unless written %2B)"
)


def moment_argument(
    name: str, text: str | None, now: datetime, errors: list[FieldError]
) -> datetime:
    """The moment `text` names, in UTC; else a FieldError for `name` in `errors` (and the epoch
    returned, never used): missing, not RFC 3339 with an offset, or after `now`."""
    moment = None
    if text is None:
        errors.append(FieldError(name, f"{name} is required: {_MOMENT_RULE}"))
    elif not _RFC3339.match(text):
        errors.append(FieldError(name, f"{name} is {_MOMENT_RULE}"))
    else:
        try:
            moment = datetime.fromisoformat(text.upper()).astimezone(UTC)
        except (ValueError, OverflowError):  # a day or hour that is none; beyond year 9999 in UTC
            errors.append(FieldError(name, f"{name} is {_MOMENT_RULE}, and a real one"))
        else:
            if moment > now:
                errors.append(
                    FieldError(name, f"{name} is in the future: balances are known up to now")
                )
    return moment or datetime.fromtimestamp(0, UTC)


def _ledger_entry(e: LedgerLine) -> LedgerEntry:
    return LedgerEntry(
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


def _balance(row: BalanceRow | BalanceAtRow, held: Decimal | None) -> Balance:
    """A wallet's balance as the reads give it; held and total only with the holds (now)."""
    return Balance(
        asset_type_id=row.asset_id,
        asset_code=row.asset_code,
        asset_name=row.asset_name,
        wallet_id=None if row.wallet_id is None else str(row.wallet_id),
        balance=decimal_text(row.balance),
        version=row.version,
        updated_at=row.updated_at,
        held=None if held is None else decimal_text(held),
        total=None if held is None else decimal_text(row.balance + held),
    )


def wallet_in_path(wallet_id: str) -> int:
    """A walletId of a path, or wallet_not_found: one that is no id names none."""
    if not _POSITIVE_ID.match(wallet_id):
        raise ProblemError("wallet_not_found", f"wallet {wallet_id!r} not found")
    return int(wallet_id)


def check_system_account_read(
    owner_type: str, client: ApiClient, what: str, headers: dict[str, str]
) -> None:
    """forbidden for a system account's `what` (ledgers, statements) without wallet:audit: known
    only once read, as a wallet id does not say whose it is."""
    if owner_type != "user" and rules.SCOPE_AUDIT not in client.scopes:
        raise ProblemError(
            "forbidden",
            f"the {what} of system accounts need the scope {rules.SCOPE_AUDIT}",
            headers=headers,
        )


def transaction_in_path(transaction_id: str) -> int:
    """A transactionId of a path, or transaction_not_found: one that is no id names none."""
    if not _POSITIVE_ID.match(transaction_id):
        raise ProblemError("transaction_not_found", f"transaction {transaction_id!r} not found")
    return int(transaction_id)


def page_arguments(
    limit: str | None,
    offset: str | None,
    cursor: str | None,
    errors: list[FieldError] | None = None,
) -> tuple[int, int, int | None]:
    """limit, offset and the version to start below, or validation_failed naming each bad one
    (and each of the `errors` found before)."""
    errors = [] if errors is None else errors
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
        raise validation_failed("the query's arguments are not valid", errors)
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
        at: Annotated[
            str | None,
            QueryParameter(
                description="the balances as they were at this moment (RFC 3339 with its "
                "offset, not in the future): each wallet after its entries posted at or before "
                "it; no held or total then"
            ),
        ] = None,
    ) -> Response[BalancesResponse]:
        moment = None
        if at is not None:
            errors: list[FieldError] = []
            moment = moment_argument("at", at, datetime.now(UTC), errors)
            if errors:
                raise validation_failed("the moment is not valid", errors)
        headers = await gate.admit_read(guarded_client(request))
        try:
            if moment is None:
                rows = await ledger.balances(user_id, asset_type_id)
                balances = [_balance(r, r.held) for r in rows]
            else:  # holds are not kept in time: no held nor total then
                rows_at = await ledger.balances_at(user_id, moment, asset_type_id)
                balances = [_balance(r, None) for r in rows_at]
        except LedgerError as error:
            if error.code == "unknown_asset":  # a read of no such asset: no such resource
                raise ProblemError("asset_not_found", ledger_detail(error)) from error
            raise
        body = BalancesResponse(user_id=user_id, balances=balances, at=moment)
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
        wallet = wallet_in_path(wallet_id)
        client = guarded_client(request)
        headers = await gate.admit_read(client)
        page = await ledger.ledger_page(wallet, page_limit, page_offset, before)
        check_system_account_read(page.owner_type, client, "ledgers", headers)
        body = LedgerResponse(
            wallet_id=str(page.wallet_id),
            user_id=page.user_id,
            asset_type_id=page.asset_id,
            balance=decimal_text(page.balance),
            entries=[_ledger_entry(e) for e in page.entries],
            next_cursor=None if page.next_cursor is None else str(page.next_cursor),
        )
        return json_response(encode(body), 200, headers)

    @get(
        "/wallet/{walletId:str}/statement",
        opt={"scope": rules.SCOPE_READ},
        responses=problem_responses("validation_failed", "wallet_not_found", *API_PROBLEMS),
        summary="A wallet's statement for a period: opening, credits, debits, closing and by "
        "type, with its entries a page at a time, newest first (a system account's needs "
        "wallet:audit too)",
        tags=["reads"],
    )
    async def statement(
        wallet_id: Annotated[str, PathParameter(name="walletId")],
        request: AnyRequest,
        since: Annotated[
            str | None,
            QueryParameter(
                name="from",
                required=True,  # in the document; checked here, for a problem naming it
                description="the period starts after this moment (RFC 3339 with its offset)",
            ),
        ] = None,
        until: Annotated[
            str | None,
            QueryParameter(
                name="to",
                required=True,
                description="and ends with it: entries posted at it are in (RFC 3339 with its "
                "offset, not before from nor in the future)",
            ),
        ] = None,
        limit: Annotated[
            str | None,
            QueryParameter(
                description=f"entries per page, 1 to {rules.PAGE_LIMIT_MAX}, default "
                f"{rules.PAGE_LIMIT_DEFAULT}"
            ),
        ] = None,
        cursor: Annotated[
            str | None,
            QueryParameter(description="nextCursor of the previous page (then no sums)"),
        ] = None,
    ) -> Response[StatementResponse]:
        now = datetime.now(UTC)
        errors: list[FieldError] = []
        start = moment_argument("from", since, now, errors)
        end = moment_argument("to", until, now, errors)
        if not errors and end < start:
            errors.append(FieldError("to", "to is before from: a period ends after it starts"))
        page_limit, _, before = page_arguments(limit, None, cursor, errors)
        wallet = wallet_in_path(wallet_id)
        client = guarded_client(request)
        headers = await gate.admit_read(client)
        page = await ledger.statement(wallet, start, end, page_limit, before)
        check_system_account_read(page.owner_type, client, "statements", headers)
        body = StatementResponse(
            wallet_id=str(page.wallet_id),
            user_id=page.user_id,
            asset_type_id=page.asset_id,
            from_=start,
            to=end,
            opening=decimal_text(page.opening),
            credits=None if page.credits is None else decimal_text(page.credits),
            debits=None if page.debits is None else decimal_text(page.debits),
            closing=decimal_text(page.closing),
            by_type=None
            if page.by_type is None
            else {
                kind: TypeTotals(
                    credits=decimal_text(t.credits), debits=decimal_text(t.debits), count=t.count
                )
                for kind, t in page.by_type.items()
            },
            opening_version=page.opening_version,
            closing_version=page.closing_version,
            entries=[_ledger_entry(e) for e in page.entries],
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

    return [balance, ledger_page, statement, transaction]
