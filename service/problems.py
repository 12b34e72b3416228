"""Every error the API answers, as an RFC 9457 problem with a stable `code`: the one place where
ledger errors and validation errors become problems.

A problem is made from its code alone: its status comes from the error catalogue
(service/catalogue.py, db/errors.tsv), so a code and its status cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus

import msgspec

from service.catalogue import CATALOGUE
from service.ledger import LedgerError
from service.rules import USER_ID_RULE

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True, rename="camel"):
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None
    request_id: str | None = None


class ProblemError(Exception):
    """Raised anywhere on the request path; the app's handler turns it into the response. The
    status is the catalogue's for `code`; only http_error, whose status is the framework's, is
    given one."""

    def __init__(
        self,
        code: str,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
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

    def problem(self, request_id: str | None = None) -> Problem:
        return Problem(
            type=f"urn:wallet:problem:{self.code}",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            code=self.code,
            detail=self.detail,
            errors=self.errors,
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
}


def ledger_detail(error: LedgerError) -> str:
    """A ledger error's words for people: its message, and its DETAIL when it has one."""
    return error.message if not error.detail else f"{error.message} ({error.detail})"


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
    return ProblemError(known.code, text)


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
