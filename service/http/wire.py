"""The HTTP API's bodies, in the wire format it documents: camelCase names (Python's snake_case
fields renamed by msgspec), amounts as decimal strings.

Requests reject unknown fields, so a typo such as "ammount" is a 400, never a silently ignored
field. The same Structs generate the OpenAPI document, so the document cannot drift from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from service import rules

UserId = Annotated[
    str,
    msgspec.Meta(
        pattern=rules.USER_ID_PATTERN,
        description=rules.USER_ID_RULE,
        examples=["user-rich-001"],
    ),
]
AssetId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, examples=["asset-gold-coin-001"])
]
_AMOUNT_RULE = (
    "A decimal string with at most the asset's decimal places (2 for the seeded assets), above "
    "zero and at most 1000000000. Never a JSON number."
)
Amount = Annotated[
    str, msgspec.Meta(pattern=rules.AMOUNT_PATTERN, description=_AMOUNT_RULE, examples=["100.00"])
]
# (the description is the string's: Litestar keeps a str's pattern under `| None` only if the
# Meta is on the str)
ReversalAmount = Annotated[
    str,
    msgspec.Meta(
        pattern=rules.AMOUNT_PATTERN,
        description=f"{_AMOUNT_RULE} Absent or null: all that remains to reverse.",
        examples=["30.00"],
    ),
]
Description = Annotated[str, msgspec.Meta(min_length=1, max_length=rules.DESCRIPTION_MAX_LENGTH)]
Metadata = Annotated[
    dict[str, Any],
    msgspec.Meta(
        description=f"Any JSON object of at most {rules.METADATA_MAX_BYTES} bytes as PostgreSQL "
        f"stores it (its jsonb text, numbers written out digit by digit), kept with the "
        f"transaction; nested at most {rules.METADATA_MAX_DEPTH} levels, its numbers of at most "
        f"{rules.METADATA_NUMBER_MAX_DIGITS} digits with an exponent from "
        f"-{rules.METADATA_NUMBER_MAX_EXPONENT} to {rules.METADATA_NUMBER_MAX_EXPONENT}"
    ),
]
# ledger.transaction_type's values
TransactionType = Literal[
    "topup",
    "bonus",
    "spend",
    "opening_balance",
    "transfer",
    "reversal",
    "hold",
    "capture",
    "release",
]
Direction = Literal["credit", "debit"]
ReversalMode = Annotated[
    Literal["strict", "allow_negative"],
    msgspec.Meta(
        description="strict (the default): refused with insufficient_funds where the reversal "
        "would take a user's balance below zero (the user spent the coins); allow_negative: "
        "takes the amount back all the same, leaving the balance below zero (a debt that the "
        "next credits pay first: until then a spend is insufficient_funds)"
    ),
]


class Wire(msgspec.Struct, rename="camel"):
    """A body as the wire spells it: user_id is "userId"."""


class RequestBody(Wire, forbid_unknown_fields=True):
    """A request body: an unknown field is an error, never ignored."""


class TopupRequest(RequestBody):
    user_id: UserId
    asset_type_id: AssetId
    amount: Amount
    metadata: Metadata | None = None


class BonusRequest(RequestBody):
    user_id: UserId
    asset_type_id: AssetId
    amount: Amount
    reason: Description
    metadata: Metadata | None = None


class SpendRequest(RequestBody):
    user_id: UserId
    asset_type_id: AssetId
    amount: Amount
    service_description: Description
    metadata: Metadata | None = None


MoneyRequest = TopupRequest | BonusRequest | SpendRequest


class TransferRequest(RequestBody):
    from_user_id: UserId
    to_user_id: UserId
    asset_type_id: AssetId
    amount: Amount
    description: Description
    metadata: Metadata | None = None


BATCH_MAX_ITEMS = 1000
BatchType = Annotated[
    Literal["topup", "bonus", "spend"],
    msgspec.Meta(
        description="every item's: top-ups (no reason nor description), bonuses (a reason) or "
        "spends (a description)"
    ),
]


class BatchItem(RequestBody):
    user_id: UserId
    amount: Amount
    metadata: Metadata | None = None


class BatchRequest(RequestBody):
    type: BatchType
    asset_type_id: AssetId
    items: Annotated[
        list[BatchItem],
        msgspec.Meta(
            min_length=1,
            max_length=BATCH_MAX_ITEMS,
            description=f"1 to {BATCH_MAX_ITEMS} items; each becomes a transaction of its own",
        ),
    ]
    reason: Annotated[
        Description | None,
        msgspec.Meta(description="a bonus batch's, required; refused on the other types"),
    ] = None
    description: Annotated[
        Description | None,
        msgspec.Meta(description="a spend batch's, required; refused on the other types"),
    ] = None
    atomic: Annotated[
        bool,
        msgspec.Meta(
            description="true (the default): all items or none, 422 batch_rejected naming every "
            "failing item; false: each item on its own, its outcome in its result"
        ),
    ] = True


class ReversalRequest(RequestBody):
    reason: Description
    amount: ReversalAmount | None = None
    mode: ReversalMode = "strict"
    metadata: Metadata | None = None


ExpiresInSeconds = Annotated[
    int,
    msgspec.Meta(
        description=f"Seconds from its authorization until the hold expires: "
        f"{rules.HOLD_EXPIRY_MIN_SECONDS} to {rules.HOLD_EXPIRY_MAX_SECONDS} (30 days); absent "
        f"or null: {rules.HOLD_EXPIRY_DEFAULT_SECONDS} (15 minutes). Outside the bounds: 400 "
        "invalid_hold_expiry.",
        examples=[600],
    ),
]
CaptureAmount = Annotated[
    str,
    msgspec.Meta(
        pattern=rules.AMOUNT_PATTERN,
        description=f"{_AMOUNT_RULE} At most the hold's amount; absent or null: all of it.",
        examples=["7.50"],
    ),
]
HoldStatus = Literal["open", "captured", "voided", "expired"]


class HoldRequest(RequestBody):
    user_id: UserId
    asset_type_id: AssetId
    amount: Amount
    description: Description
    expires_in_seconds: ExpiresInSeconds | None = None
    metadata: Metadata | None = None


class CaptureRequest(RequestBody):
    amount: CaptureAmount | None = None
    metadata: Metadata | None = None


class VoidRequest(RequestBody):
    metadata: Metadata | None = None


class HoldResponse(Wire):
    """An authorization as its POST answers it (a repeat: the same, whatever the hold became)."""

    hold_id: str
    transaction_id: str
    status: Literal["open"]
    user_id: str
    asset_type_id: str
    amount: str
    remaining: Annotated[str, msgspec.Meta(description="what is held: the whole amount")]
    balance: Annotated[
        str, msgspec.Meta(description="the user's balance right after it: what can be spent now")
    ]
    wallet_id: str
    expires_at: datetime
    created_at: datetime


class HoldResolutionResponse(Wire):
    """A capture or a void as its POST answers it."""

    hold_id: str
    transaction_id: str
    status: Literal["captured", "voided"]
    user_id: str
    asset_type_id: str
    amount: Annotated[str, msgspec.Meta(description="the hold's amount")]
    captured_amount: Annotated[str, msgspec.Meta(description="what went to Revenue")]
    released_amount: Annotated[str, msgspec.Meta(description="what went back to the user")]
    balance: Annotated[
        str | None,
        msgspec.Meta(
            description="the user's balance right after it; null for a capture of the whole hold, "
            "which gives nothing back"
        ),
    ]
    wallet_id: str
    expires_at: datetime
    created_at: datetime
    resolved_at: datetime


class HoldDetail(Wire):
    """A hold as GET /api/v1/holds/{holdId} reads it."""

    hold_id: str
    status: Annotated[
        HoldStatus,
        msgspec.Meta(
            description="open until captured, voided or expired (released by the sweeper within "
            "its bound after expiresAt); an open hold past expiresAt can no longer be captured"
        ),
    ]
    user_id: str
    asset_type_id: str
    wallet_id: str
    amount: str
    captured_amount: str
    released_amount: str
    remaining: Annotated[str, msgspec.Meta(description="what is still held (0 once resolved)")]
    description: str | None
    expires_at: datetime
    hold_transaction_id: str
    resolve_transaction_id: Annotated[
        str | None,
        msgspec.Meta(description="the capture, void or expiry that resolved it; null while open"),
    ]
    created_at: datetime
    resolved_at: datetime | None


class TransactionResponse(Wire):
    """A money movement as the POST endpoints answer it: the user's side of the transaction."""

    transaction_id: str
    type: TransactionType
    status: Literal["completed"]
    user_id: str
    asset_type_id: str
    amount: str
    balance: Annotated[str, msgspec.Meta(description="the user's balance right after it")]
    wallet_id: str
    created_at: datetime


class BatchItemResult(Wire):
    """One item's outcome, in the items' order. Completed: its transaction, the user's wallet and
    balance right after it (code and detail null). Failed: a catalogue code (invalid_amount,
    insufficient_funds, balance_limit_exceeded, velocity_limit_exceeded...) and its detail
    (transactionId, walletId and balance null); nothing moved for it."""

    index: Annotated[int, msgspec.Meta(description="the item's place in the request, from 0")]
    user_id: str
    status: Literal["completed", "failed"]
    transaction_id: str | None
    wallet_id: str | None
    balance: Annotated[
        str | None, msgspec.Meta(description="the user's balance right after the item")
    ]
    code: str | None
    detail: str | None


class BatchResponse(Wire):
    """A batch as its POST answers it (a repeat of its key: the same)."""

    batch_id: str
    type: Literal["topup", "bonus", "spend"]
    asset_type_id: str
    atomic: bool
    items: list[BatchItemResult]


class ReversalResponse(TransactionResponse):
    """A reversal as its POST answers it. Its user is the one it takes from (a top-up's or
    bonus's user, a transfer's recipient), else the one it gives back to (a spend's user)."""

    type: Literal["reversal"]
    reverses_transaction_id: str
    remaining: Annotated[
        str, msgspec.Meta(description="what remains of the original to reverse, after this")
    ]


class TransferResponse(Wire):
    """A transfer as its POST answers it: both users' sides."""

    transaction_id: str
    type: Literal["transfer"]
    status: Literal["completed"]
    from_user_id: str
    to_user_id: str
    asset_type_id: str
    amount: str
    from_balance: Annotated[str, msgspec.Meta(description="the sender's balance right after it")]
    to_balance: Annotated[str, msgspec.Meta(description="the recipient's balance right after it")]
    from_wallet_id: str
    to_wallet_id: str
    created_at: datetime


class Balance(Wire):
    asset_type_id: str
    asset_code: str
    asset_name: str
    wallet_id: str | None
    balance: Annotated[
        str, msgspec.Meta(description="what the user can spend now (at `at`: could spend then)")
    ]
    version: Annotated[
        int, msgspec.Meta(description="the wallet's version: how many entries it has (had at `at`)")
    ]
    updated_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="when the balance last changed (at `at`: when the entry of that version "
            "was posted); null before the first entry"
        ),
    ]
    held: Annotated[
        str | None,
        msgspec.Meta(
            description="the sum of the user's open holds in the asset (an expired one until "
            "the sweeper releases it); null for a balance at a moment (`at`): holds are not kept "
            "in time"
        ),
    ]
    total: Annotated[
        str | None, msgspec.Meta(description="balance + held; null for a balance at a moment")
    ]


class BalancesResponse(Wire, omit_defaults=True):
    user_id: str
    balances: list[Balance]
    # last, with a default: absent from the balances now, whose body stays as it was
    at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="the moment asked for (?at=), in UTC; absent for the balances now"
        ),
    ] = None


class LedgerEntry(Wire):
    entry_id: str
    transaction_id: str
    type: TransactionType
    direction: Direction
    amount: str
    balance_after: str
    description: str | None
    metadata: msgspec.Raw
    created_at: datetime


class LedgerResponse(Wire):
    wallet_id: str
    user_id: str | None
    asset_type_id: str
    balance: str
    entries: list[LedgerEntry]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="pass as ?cursor= for the next page; null on the last")
    ]


class TypeTotals(Wire):
    credits: str
    debits: str
    count: Annotated[int, msgspec.Meta(description="the period's entries of this type")]


class StatementResponse(Wire):
    """A wallet's statement for the period after `from` up to `to`, with a page of its entries."""

    wallet_id: str
    user_id: Annotated[str | None, msgspec.Meta(description="null for a system account's slot")]
    asset_type_id: str
    from_: Annotated[datetime, msgspec.Meta(description="the period's start, in UTC")] = (
        msgspec.field(name="from")
    )
    to: Annotated[datetime, msgspec.Meta(description="the period's end, in UTC")]
    opening: Annotated[str, msgspec.Meta(description="the balance at `from`")]
    credits: Annotated[
        str | None,
        msgspec.Meta(
            description="the period's credits; on the first page only (no cursor), null after it"
        ),
    ]
    debits: Annotated[
        str | None,
        msgspec.Meta(
            description="the period's debits; on the first page only, null after it. "
            "opening + credits - debits = closing, exactly"
        ),
    ]
    closing: Annotated[str, msgspec.Meta(description="the balance at `to`")]
    by_type: Annotated[
        dict[str, TypeTotals] | None,
        msgspec.Meta(
            description="credits, debits and the count of entries per transaction type (the "
            "types with entries in the period); on the first page only, null after it"
        ),
    ]
    opening_version: Annotated[int, msgspec.Meta(description="the wallet's version at `from`")]
    closing_version: Annotated[
        int,
        msgspec.Meta(
            description="the wallet's version at `to`: the period's entries are the versions "
            "after openingVersion up to this one"
        ),
    ]
    entries: Annotated[
        list[LedgerEntry], msgspec.Meta(description="a page of the period's entries, newest first")
    ]
    next_cursor: Annotated[
        str | None, msgspec.Meta(description="pass as ?cursor= for the next page; null on the last")
    ]


class TransactionEntry(Wire):
    entry_id: str
    wallet_id: str
    owner_type: Literal["user", "system"]
    user_id: str | None
    account: Annotated[str | None, msgspec.Meta(description='a system account, e.g. "treasury#3"')]
    direction: Direction
    amount: str
    balance_after: str


class TransactionDetail(Wire):
    transaction_id: str
    type: TransactionType
    status: Literal["completed"]
    user_id: str
    asset_type_id: str
    amount: str
    balance: Annotated[
        str | None,
        msgspec.Meta(
            description="the user's balance right after it; null for a capture of a whole hold, "
            "which has no user leg"
        ),
    ]
    wallet_id: str
    description: str | None
    metadata: msgspec.Raw
    created_at: datetime
    entries: list[TransactionEntry]
    reverses_transaction_id: Annotated[
        str | None,
        msgspec.Meta(description="a reversal's: the transaction it reverses; null for the others"),
    ]
    reversed_amount: Annotated[
        str | None,
        msgspec.Meta(
            description="a top-up's, bonus's, spend's or transfer's: how much of it its reversals "
            "took back so far (0.00 for none); null for an opening balance or a reversal, which "
            "cannot be reversed"
        ),
    ]
    reversals: Annotated[
        list[str] | None,
        msgspec.Meta(
            description="the ids of its reversals, oldest first, for the same types as "
            "reversedAmount (an empty list for none); null for the others"
        ),
    ]


class HealthResponse(Wire):
    status: Literal["ok", "degraded", "unavailable"]
    checks: dict[str, str]


# The event stream (issue 18): GET /api/v1/events
class EventLeg(Wire):
    wallet_id: str
    user_id: Annotated[
        str | None, msgspec.Meta(description="a user wallet's user; null for a system account")
    ]
    account: Annotated[
        str | None, msgspec.Meta(description='a system account, e.g. "treasury#3"; null for a user')
    ]
    amount: Annotated[
        str, msgspec.Meta(description="signed: a credit is positive, a debit negative")
    ]
    balance_after: str


class Event(Wire):
    sequence: Annotated[
        str,
        msgspec.Meta(
            description="the transaction's place in the seal order: 1, 2, 3... with no gap"
        ),
    ]
    type: TransactionType
    transaction_id: str
    user_id: Annotated[
        str | None, msgspec.Meta(description="the debited user, else the credited one")
    ]
    asset_type_id: str
    amount: Annotated[str | None, msgspec.Meta(description="the user side's amount, unsigned")]
    entries: list[EventLeg]
    metadata: msgspec.Raw
    created_at: datetime
    posted_at: datetime | None


class EventsResponse(Wire):
    events: list[Event]
    next_after: Annotated[
        str,
        msgspec.Meta(
            description="pass as ?after= for what follows (the last sequence here, or `after`)"
        ),
    ]


class WebhookDelivery(Wire):
    """The body of a webhook request (docs/webhooks.md): the subscription's events in sequence
    order, as GET /api/v1/events gives them."""

    subscription_id: str
    events: list[Event]
