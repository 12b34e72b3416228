"""Every error the API answers, as an RFC 9457 problem with a stable `code`.

The ledger's SQLSTATEs come from db/errors.tsv, the one registry both sides read, so a new
error raised by a SQL function is mapped here without a second list to keep in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus

import msgspec

from service.schema import db_dir

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None
    requestId: str | None = None


@dataclass
class ProblemError(Exception):
    """Raised anywhere on the request path; the app's handler turns it into the response."""

    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.detail}")

    def problem(self, request_id: str | None = None) -> Problem:
        return Problem(
            type=f"urn:wallet:problem:{self.code}",
            title=HTTPStatus(self.status).phrase,
            status=self.status,
            code=self.code,
            detail=self.detail,
            errors=self.errors,
            requestId=request_id,
        )


def validation_failed(detail: str, errors: list[FieldError]) -> ProblemError:
    return ProblemError(400, "validation_failed", detail, errors)


@dataclass(frozen=True, slots=True)
class LedgerError:
    code: str
    status: int


def _read_registry() -> dict[str, LedgerError]:
    registry: dict[str, LedgerError] = {}
    for line in (db_dir() / "errors.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sqlstate, code, status, *_ = line.split("\t")
        registry[sqlstate] = LedgerError(code, int(status))
    return registry


LEDGER_ERRORS = _read_registry()

# Ledger errors about a field the edge validates too: should one reach the ledger anyway, the
# client still gets validation_failed naming the field.
_FIELD_OF_SQLSTATE = {
    "WUSER": "userId",
    "WMETA": "metadata",
    "WDESC": "description",
    "WPAGE": "limit",
}
# A read of an unknown asset is "no such resource", a money movement in one is "cannot process".
_READ_CODES = {"unknown_asset": ("asset_not_found", 404)}


def from_ledger(sqlstate: str, message: str, detail: str | None, *, read: bool) -> ProblemError:
    known = LEDGER_ERRORS.get(sqlstate)
    if known is None or known.status >= 500:
        raise LookupError(sqlstate)
    text = message if not detail else f"{message} ({detail})"
    if sqlstate in _FIELD_OF_SQLSTATE:
        return validation_failed(text, [FieldError(_FIELD_OF_SQLSTATE[sqlstate], message)])
    code, status = known.code, known.status
    if read and code in _READ_CODES:
        code, status = _READ_CODES[code]
    return ProblemError(status, code, text)


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
        message = "a userId is 1 to 128 characters of letters, digits and ._:@-"
    return FieldError(field_name, message)
