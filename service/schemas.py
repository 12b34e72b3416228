"""The HTTP API's bodies, in the wire format it documents (camelCase, amounts as decimal strings).

Requests reject unknown fields, so a typo such as "ammount" is a 400, never a silently ignored
field. The same Structs generate the OpenAPI document, so the document cannot drift from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

USER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
# A well-formed decimal; whether it is > 0, within the asset's places and under the maximum is
# the ledger's decision (422 invalid_amount), not the edge's.
AMOUNT_PATTERN = r"^-?[0-9]{1,40}(\.[0-9]{1,40})?$"
METADATA_MAX_BYTES = 4096

UserId = Annotated[
    str,
    msgspec.Meta(
        pattern=USER_ID_PATTERN,
        description="1 to 128 characters of letters, digits and ._:@-",
        examples=["user-rich-001"],
    ),
]
AssetId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, examples=["asset-gold-coin-001"])
]
Amount = Annotated[
    str,
    msgspec.Meta(
        pattern=AMOUNT_PATTERN,
        description="A decimal string with at most the asset's decimal places (2 for the "
        "seeded assets), above zero and at most 1000000000. Never a JSON number.",
        examples=["100.00"],
    ),
]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(description="Any JSON object of at most 4096 bytes, kept with the transaction"),
]
TransactionType = Literal["topup", "bonus", "spend", "opening_balance"]


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    pass


class TopupRequest(_Request):
    userId: UserId
    assetTypeId: AssetId
    amount: Amount
    metadata: Metadata | None = None


class BonusRequest(_Request):
    userId: UserId
    assetTypeId: AssetId
    amount: Amount
    reason: Description
    metadata: Metadata | None = None


class SpendRequest(_Request):
    userId: UserId
    assetTypeId: AssetId
    amount: Amount
    serviceDescription: Description
    metadata: Metadata | None = None


class TransactionResponse(msgspec.Struct):
    """A money movement as the POST endpoints answer it: the user's side of the transaction."""

    transactionId: str
    type: TransactionType
    status: Literal["completed"]
    userId: str
    assetTypeId: str
    amount: str
    balance: Annotated[str, msgspec.Meta(description="the user's balance right after it")]
    walletId: str
    createdAt: datetime


class Balance(msgspec.Struct):
    assetTypeId: str
    assetCode: str
    assetName: str
    walletId: str | None
    balance: str
    version: int
    updatedAt: datetime | None


class BalancesResponse(msgspec.Struct):
    userId: str
    balances: list[Balance]


class LedgerEntry(msgspec.Struct):
    entryId: str
    transactionId: str
    type: TransactionType
    direction: Literal["credit", "debit"]
    amount: str
    balanceAfter: str
    description: str | None
    metadata: msgspec.Raw
    createdAt: datetime


class LedgerResponse(msgspec.Struct):
    walletId: str
    userId: str | None
    assetTypeId: str
    balance: str
    entries: list[LedgerEntry]
    nextCursor: Annotated[
        str | None, msgspec.Meta(description="pass as ?cursor= for the next page; null on the last")
    ]


class TransactionEntry(msgspec.Struct):
    entryId: str
    walletId: str
    ownerType: Literal["user", "system"]
    userId: str | None
    account: Annotated[str | None, msgspec.Meta(description='a system account, e.g. "treasury#3"')]
    direction: Literal["credit", "debit"]
    amount: str
    balanceAfter: str


class TransactionDetail(msgspec.Struct):
    transactionId: str
    type: TransactionType
    status: Literal["completed"]
    userId: str
    assetTypeId: str
    amount: str
    balance: str
    walletId: str
    description: str | None
    metadata: msgspec.Raw
    createdAt: datetime
    entries: list[TransactionEntry]


class HealthResponse(msgspec.Struct):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]
