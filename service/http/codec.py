"""JSON in and out: bodies decoded without floats, answers encoded once with msgspec (the bytes
sent are the bytes a repeat of the same Idempotency-Key gets back)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException
from litestar.types import Empty

JSON = "application/json"

encode = msgspec.json.Encoder(decimal_format="number").encode
# the same JSON with keys sorted: two equal requests encode to the same bytes
encode_canonical = msgspec.json.Encoder(decimal_format="number", order="sorted").encode
# JSON numbers with a fraction become Decimals, never floats: metadata keeps 1.10 as 1.10 and
# 12345678901234567890.12 to the last digit.
decode_exact = msgspec.json.Decoder(float_hook=Decimal).decode


class ExactJSONRequest(Request[Any, Any, Any]):
    """Litestar's Request, decoding JSON bodies without floats."""

    async def json(self) -> Any:
        if self._json is Empty:
            try:
                self._json = decode_exact(await self.body() or b"null")
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise ClientException(f"JSON is malformed: {exc}") from exc
            except RecursionError as exc:
                # msgspec stops at Python's recursion limit (about 1,000 levels, well inside the
                # body limit); nothing is left half-done, the body is just too deep to decode
                raise ClientException("JSON is nested too deeply") from exc
        return self._json


def decimal_text(value: Decimal) -> str:
    """An amount as the wire shows it: a decimal string, never an exponent."""
    return format(value, "f")


def json_response(body: bytes, status: int, headers: Mapping[str, str]) -> Response[Any]:
    """`body`, already encoded, as the answer (typed Any: handlers declare what it encodes)."""
    return Response(body, status_code=status, media_type=JSON, headers=dict(headers))
