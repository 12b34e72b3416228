"""Every error the API answers, as an RFC 9457 problem with a stable `code`: the one place where
ledger errors and validation errors become problems.

A problem is made from its code alone: its status comes from the error catalogue
(service/catalogue.py, db/errors.tsv), so a code and its status cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Annotated, Literal, get_args

import msgspec

from service.catalogue import CATALOGUE
from service.ledger import LedgerError, OutOfRangeArgumentError
from service.rules import USER_ID_RULE

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    message: str


# A limit's amounts as the ledger wrote them (its round() to the asset's scale): a decimal
# string, never a JSON number, so that no client reads 0.1 as 0.1000000000000000055. No upper
# bound on the digits, unlike a request's amount: a limit may be set as large as one likes.
LIMIT_AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
LimitType = Literal["max_balance", "daily_earn", "daily_spend"]

_LimitTypeField = Annotated[
    LimitType,
    msgspec.Meta(
        description="balance_limit_exceeded and velocity_limit_exceeded: which limit refused the "
        "request: max_balance (the most a wallet may hold), daily_earn (top-ups, bonuses and "
        "transfers received in a day) or daily_spend (spends, transfers sent and holds in a "
        "day). In a transfer, daily_spend is the sender's limit, the other two the recipient's."
    ),
]


def _limit_amount(description: str, example: str) -> msgspec.Meta:
    return msgspec.Meta(
        pattern=LIMIT_AMOUNT_PATTERN,
        description=f"balance_limit_exceeded and velocity_limit_exceeded: {description}",
        examples=[example],
    )


_LimitAmount = Annotated[str, _limit_amount("the limit's amount", "200.00")]
_UsedAmount = Annotated[
    str,
    _limit_amount(
        "what was used of the limit before this request: the balance before the credit "
        "(max_balance), or what the day has earned or spent so far (daily_earn, daily_spend); "
        "used + requested > limit",
        "195.00",
    ),
]
_RequestedAmount = Annotated[str, _limit_amount("the refused amount", "10.00")]
_ResetsAt = Annotated[
    datetime,
    msgspec.Meta(
        description="velocity_limit_exceeded: when the day's usage starts again from zero (the "
        "next midnight of the asset's day), in UTC"
    ),
]


class ItemError(msgspec.Struct):
    """batch_rejected: a failing item of the batch, by its place in the request (from 0), with
    its catalogue code (invalid_amount, insufficient_funds, balance_limit_exceeded...) and
    detail."""

    index: Annotated[int, msgspec.Meta(ge=0)]
    code: str
    detail: str


_ItemIndex = Annotated[
    int, msgspec.Meta(ge=0, description="batch_rejected: the item's place, from 0")
]


class ProblemItem(msgspec.Struct, omit_defaults=True):
    """An entry of a problem's `errors`, of one of two shapes (one Struct: msgspec and the
    OpenAPI document take no union of Structs without a tag, which would change every
    validation_failed's body)."""

    field: Annotated[str | None, msgspec.Meta(description="validation_failed: the field")] = None
    message: Annotated[str | None, msgspec.Meta(description="validation_failed: what is wrong")] = (
        None
    )
    index: _ItemIndex | None = None
    code: Annotated[
        str | None, msgspec.Meta(description="batch_rejected: the item's catalogue code")
    ] = None
    detail: Annotated[str | None, msgspec.Meta(description="batch_rejected: the item's detail")] = (
        None
    )


def _problem_items(errors: list[FieldError] | list[ItemError]) -> list[ProblemItem]:
    return [
        ProblemItem(field=error.field, message=error.message)
        if isinstance(error, FieldError)
        else ProblemItem(index=error.index, code=error.code, detail=error.detail)
        for error in errors
    ]


class Problem(msgspec.Struct, omit_defaults=True, rename="camel"):
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: Annotated[
        list[ProblemItem] | None,
        msgspec.Meta(
            description="validation_failed: the fields at fault, {field, message}; "
            "batch_rejected: every failing item, {index, code, detail}"
        ),
    ] = None
    limit_type: _LimitTypeField | None = None
    limit: _LimitAmount | None = None
    used: _UsedAmount | None = None
    requested: _RequestedAmount | None = None
    resets_at: _ResetsAt | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LimitFacts:
    """What a limit's refusal tells a client to act on (the problem's limit fields): which limit,
    its amount, what was used of it, what was asked, and for a daily limit when it resets."""

    limit_type: LimitType | None  # None: the ledger's words named none we know
    limit: str
    used: str
    requested: str
    resets_at: datetime | None


class ProblemError(Exception):
    """Raised anywhere on the request path; the app's handler turns it into the response. The
    status is the catalogue's for `code`; only http_error, whose status is the framework's, is
    given one."""

    def __init__(
        self,
        code: str,
        detail: str,
        errors: list[FieldError] | list[ItemError] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        limit: LimitFacts | None = None,
    ) -> None:
        catalogued = CATALOGUE[code].status
        if (catalogued is None) == (status is None):
            raise ValueError(f"{code}: the status comes from the catalogue ({catalogued})")
        super().__init__(f"{code}: {detail}")
        self.status: int = catalogued or status  # type: ignore[assignment]
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers: Mapping[str, str] = headers or {}
        self.limit = limit

    def problem(self, request_id: str | None = None) -> Problem:
        facts = self.limit
        return Problem(
            type=f"urn:wallet:problem:{self.code}",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            code=self.code,
            detail=self.detail,
            errors=None if self.errors is None else _problem_items(self.errors),
            limit_type=None if facts is None else facts.limit_type,
            limit=None if facts is None else facts.limit,
            used=None if facts is None else facts.used,
            requested=None if facts is None else facts.requested,
            resets_at=None if facts is None else facts.resets_at,
            request_id=request_id,
        )


def validation_failed(detail: str, errors: list[FieldError]) -> ProblemError:
    return ProblemError("validation_failed", detail, errors)


def unavailable(detail: str) -> ProblemError:
    """Transient: the client may retry the same request (same Idempotency-Key) safely."""
    return ProblemError("service_unavailable", detail, headers={"Retry-After": "1"})


# Ledger errors about a field the edge validates too: should one reach the ledger anyway, the
# client still gets validation_failed naming the field.
_FIELD_OF_SQLSTATE = {
    "WUSER": "userId",
    "WMETA": "metadata",
    "WDESC": "description",
    "WMODE": "mode",
    "WPAGE": "limit",
    "WBATC": "items",  # the edge refuses a batch of no items or too many first
}


def ledger_detail(error: LedgerError) -> str:
    """A ledger error's words for people: its message, and its DETAIL when it has one."""
    return error.message if not error.detail else f"{error.message} ({error.detail})"


# The limits' refusals (ledger._check_limits): WBLIM, the maximum balance, with the DETAIL
# "limit: X, used: Y, requested: Z" (Y the balance before the credit); WVLIM, a daily limit, with
# ", resets_at: T" after it (T in UTC) and the message "... may earn at most ..." or "... may spend
# at most ...". Whichever route's ledger call raises them (top-up, bonus, spend, transfer, a
# hold's authorization) gets the same fields.
_LIMIT_SQLSTATES = frozenset({"WBLIM", "WVLIM"})
_LIMIT_AMOUNT = re.compile(LIMIT_AMOUNT_PATTERN.removesuffix("$") + r"\Z", re.ASCII)
_VELOCITY_DIRECTION = re.compile(r" may (earn|spend) at most ")
_LIMIT_TYPES: dict[str | None, LimitType] = {name: name for name in get_args(LimitType)}


def _detail_fields(detail: str | None) -> dict[str, str]:
    """A DETAIL of "name: value, name: value" as {name: value}; {} where it is not of that form
    (a name twice included)."""
    fields: dict[str, str] = {}
    for part in (detail or "").split(", "):
        name, colon, value = part.partition(": ")
        if not colon or name in fields:
            return {}
        fields[name] = value
    return fields


def _utc(text: str) -> datetime | None:
    """An ISO 8601 time with its offset (the ledger writes Z) in UTC; None for anything else."""
    try:
        moment = datetime.fromisoformat(text)
        return None if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time; out of datetime's years once in UTC
        return None


def _limit_type(error: LedgerError, named: str | None) -> LimitType | None:
    if error.sqlstate == "WBLIM":
        return "max_balance"  # the one limit WBLIM is raised for
    if named in _LIMIT_TYPES:  # a DETAIL that names it (not written by the ledger yet)
        return _LIMIT_TYPES[named]
    # until then the daily limit is told by the ledger's message: "<user> may earn at most ..."
    direction = _VELOCITY_DIRECTION.search(error.message)
    if direction is None:
        return None
    return "daily_earn" if direction.group(1) == "earn" else "daily_spend"


def limit_facts(error: LedgerError) -> LimitFacts | None:
    """The limit fields of a WBLIM or WVLIM problem, from its DETAIL; None where the DETAIL is not
    the ledger's form (the problem still answers, with its text only, never a 500). All of a
    code's amounts or none, so a client never gets a limit without what was used of it."""
    fields = _detail_fields(error.detail)
    amounts = [fields.get(name, "") for name in ("limit", "used", "requested")]
    if not all(_LIMIT_AMOUNT.match(amount) for amount in amounts):
        return None
    resets_at = None
    if error.sqlstate == "WVLIM":
        resets_at = _utc(fields.get("resets_at", ""))
        if resets_at is None:
            return None
    limit, used, requested = amounts
    return LimitFacts(
        _limit_type(error, fields.get("limit_type")), limit, used, requested, resets_at
    )


# A batch's rejection (WBREJ): its DETAIL is a JSON array of every failing item's
# {"index", "code", "detail"} (ledger._batch_errors), given as the problem's errors.
_decode_items = msgspec.json.Decoder(list[ItemError]).decode


def batch_items(error: LedgerError) -> list[ItemError] | None:
    """The failing items of a WBREJ, from its DETAIL; None where the DETAIL is not the ledger's
    form (the problem still answers, with its text only, never a 500)."""
    try:
        items = _decode_items(error.detail or "")
    except msgspec.DecodeError:  # ValidationError included
        return None
    return items or None


# A route's option naming its body field that the ledger calls the description (a spend's
# serviceDescription, a bonus's or a reversal's reason): WDESC names that field.
DESCRIPTION_FIELD = "description_field"


def from_ledger(error: LedgerError, description_field: str = "description") -> ProblemError:
    """The problem a ledger error answers. LookupError for one that is never the client's doing
    (status 500 in the catalogue: a broken invariant), which is a bug, answered 500."""
    known = CATALOGUE[error.code]
    if known.status is None or known.status >= 500:
        raise LookupError(error.sqlstate)
    text = ledger_detail(error)
    if error.sqlstate in _FIELD_OF_SQLSTATE:
        field = (
            description_field if error.sqlstate == "WDESC" else _FIELD_OF_SQLSTATE[error.sqlstate]
        )
        return validation_failed(text, [FieldError(field, error.message)])
    if error.sqlstate in _LIMIT_SQLSTATES:
        return ProblemError(known.code, text, limit=limit_facts(error))
    if error.sqlstate == "WBREJ":
        items = batch_items(error)
        if items is not None:  # the failing items are in errors, not repeated in the text
            return ProblemError(known.code, error.message, items)
    return ProblemError(known.code, text)


# An API function's 22023 names its parameter first ("p_at is a moment in the past, not ...",
# "p_to (...) is before p_from (...)"): the field is that name without its p_, in camelCase.
_PARAMETER = re.compile(r"p_([a-z]+(?:_[a-z]+)*)\b")


def from_out_of_range(error: OutOfRangeArgumentError) -> ProblemError:
    """validation_failed for an argument the ledger refused as out of range (22023), naming the
    field it concerns. The edge checks these first; the ledger still refuses one when its clock
    is a little behind the service's (a moment the service took for past is future there)."""

    def field_of(parameter: re.Match[str]) -> str:
        first, *rest = parameter.group(1).split("_")
        return first + "".join(word.title() for word in rest)

    named = _PARAMETER.match(error.message)
    message = _PARAMETER.sub(field_of, error.message)  # in the words of the query
    field = "query" if named is None else field_of(named)
    return validation_failed(message, [FieldError(field, message)])


_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]*)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]*)`")


def from_decode_error(message: str, default_field: str = "body") -> FieldError:
    """A msgspec/Litestar decoding message as a field error with words a client can act on."""
    field_name = default_field
    at = _AT_PATH.search(message)
    if at:
        field_name = at.group(1) or default_field
        message = message[: at.start()]
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        return FieldError(unknown.group(1), f"unknown field `{unknown.group(1)}`")
    missing = _MISSING_FIELD.search(message)
    if missing:
        return FieldError(missing.group(1), f"`{missing.group(1)}` is required")
    if field_name.endswith("amount"):
        if any(f"got `{kind}`" in message for kind in ("int", "float", "decimal")):
            message = 'send the amount as a decimal string such as "100.00", not a JSON number'
        elif "regex" in message:
            message = 'the amount must be a decimal string such as "100.00"'
    elif field_name.endswith("userId") and "regex" in message:
        message = f"a userId is {USER_ID_RULE}"
    return FieldError(field_name, message)
