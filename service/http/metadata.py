"""A money request's metadata and what makes two requests the same, for the HTTP edge.

Metadata is checked (its numbers, nesting and size) before the ledger call, and given one form
per value for the idempotency fingerprint, so that Redis and the ledger agree on what "the same
request" is (docs/http-api.md, Idempotency)."""

from __future__ import annotations

import decimal
import hashlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from service import rules
from service.http.codec import encode, encode_canonical
from service.problems import FieldError, validation_failed

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


def _container_extra_bytes(
    members: Iterator[tuple[str, Any]], separators: int, depth: int, decimals: list[Decimal]
) -> int:
    """_extra_bytes of an object's members or an array's items (each with its path step), beyond
    the `separators` bytes jsonb's text adds between them."""
    if depth > rules.METADATA_MAX_DEPTH:
        raise _RefusedError(_DEPTH_RULE)
    extra = max(separators, 0)
    for step, item in members:
        if isinstance(item, str):  # the common case, and nothing to add
            continue
        try:
            extra += _extra_bytes(item, depth + 1, decimals)
        except _RefusedError as refused:
            refused.path.append(step)
            raise
    return extra


def _extra_bytes(value: Any, depth: int, decimals: list[Decimal]) -> int:
    """What jsonb's text of `value` (at `depth`: the metadata object is at 1) has beyond its
    compact JSON text; the Decimals met are added to `decimals`."""
    if isinstance(value, dict):
        # ": " per member, ", " between them
        members = ((f".{key}", item) for key, item in value.items())
        return _container_extra_bytes(members, 2 * len(value) - 1, depth, decimals)
    if isinstance(value, list):
        items = ((f"[{index}]", item) for index, item in enumerate(value))
        return _container_extra_bytes(items, len(value) - 1, depth, decimals)  # ", " between
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


def _as_stored(value: Any) -> Any:
    """`value` with each Decimal as PostgreSQL's numeric writes it back (its digits and its
    places: 1.10 stays 1.10, 1e2 is 100, 1.50e1 is 15.0, -0.0 is 0.0)."""
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_stored(item) for item in value]
    if isinstance(value, Decimal):
        return Decimal(format(abs(value) if not value else value, "f"))
    return value


def stored_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata's form for a batch's fingerprint, once measured_metadata passed it: as its jsonb
    text compares (keys in any order; numbers equal only with the same places: 1.1 is not 1.10),
    which is how api.post_batch's fingerprint compares each item's metadata. A single call's
    replay compares jsonb values instead (1.1 is 1.10): measured_metadata's form."""
    stored: dict[str, Any] = _as_stored(metadata)
    return stored


def measured_metadata(
    metadata: dict[str, Any], field: str = "metadata"
) -> tuple[str, dict[str, Any], int]:
    """The metadata as JSON text for the ledger, its form for the idempotency fingerprint (equal
    for metadata that jsonb holds equal) and its size in bytes as PostgreSQL stores it (its jsonb
    text), once its numbers and nesting are found within the rules; else validation_failed
    naming the field (`field`, the body's name of the metadata, and the path inside it)."""
    decimals: list[Decimal] = []
    try:
        extra = _extra_bytes(metadata, 1, decimals)
    except _RefusedError as refused:
        error = FieldError(field + "".join(reversed(refused.path)), refused.message)
        raise validation_failed("the metadata is not valid", [error]) from None
    text = encode(metadata)
    # ints, strings, true, false and null have one form each already (and the fingerprint's
    # encoder sorts the keys): only numbers with a fraction or an exponent need a new form
    return text.decode(), (_same(metadata) if decimals else metadata), len(text) + extra


def check_metadata_size(size: int, field: str = "metadata") -> None:
    if size > rules.METADATA_MAX_BYTES:
        message = (
            f"metadata is {size} bytes as PostgreSQL stores it (its jsonb text), over the "
            f"{rules.METADATA_MAX_BYTES} allowed"
        )
        raise validation_failed("the metadata is too large", [FieldError(field, message)])


def request_fingerprint(
    kind: str,
    values: Sequence[str | int | Decimal | None],
    same_metadata: dict[str, Any] | list[dict[str, Any]],
) -> str:
    """What makes two requests "the same" (docs/http-api.md#idempotency): what the ledger's
    replay compares, compared as it does: the type and `values` (users, asset, description...)
    as they are, amounts (the Decimals) as numbers ("7" is "7.00"), metadata as jsonb (its form
    from measured_metadata; a batch's: each item's, in the items' order)."""
    same = [
        format(value.normalize(_EXACT), "f") if isinstance(value, Decimal) else value
        for value in values
    ]
    return hashlib.sha256(encode_canonical([kind, *same, same_metadata])).hexdigest()
