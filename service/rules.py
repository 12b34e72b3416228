"""The rules the service applies at its edge, each the Python copy of a rule the database owns.

The database is the authority: db/functions/05_rules.sql defines each rule once, and every SQL
function that checks it uses that definition. The service checks the same rules before calling,
so that a malformed request is a 400 naming its field without a database round trip, and
describes them in the OpenAPI document. tests/ledger/test_rules.py proves that each rule here
accepts exactly what the database's accepts, so the two cannot drift apart.
"""

from __future__ import annotations

import re

# A user id: ledger._valid_user_id(text). The document's pattern, which msgspec checks with
# Python's re: there `$` also matches before a final newline, so "(?!\n)" refuses "user\n" at the
# edge for every route that takes a user id (in an ECMA engine it changes nothing).
USER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$(?!\n)"
USER_ID_RULE = "1 to 128 characters of letters, digits and ._:@-"
# An idempotency key: ledger._valid_idempotency_key(text)
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"
IDEMPOTENCY_KEY_RULE = "1 to 255 printable ASCII characters"
# A spend's description or a bonus's reason: ledger._description_max_length()
DESCRIPTION_MAX_LENGTH = 500
# Metadata, as JSON text: ledger._metadata_max_bytes()
METADATA_MAX_BYTES = 4096
# Metadata's shape: rules of the edge alone (the database has none of them, and needs none: no
# request reaches it without passing them). PostgreSQL writes a jsonb number out digit by digit
# (1e131000 is 131,001 bytes of text) and refuses one beyond its numeric range while it parses
# the call, so the edge bounds every number before it measures, compares or sends anything;
# and it bounds nesting, so that walking metadata stays shallow. Generous for real metadata:
# 100 digits hold any 256-bit integer (78) and any decimal128 (34), and the exponents any float64
# (5e-324 to 1.8e308).
METADATA_MAX_DEPTH = 32  # objects and arrays, the metadata object itself the first
METADATA_NUMBER_MAX_DIGITS = 100  # a number's digits as written, leading zeros aside
METADATA_NUMBER_MAX_EXPONENT = 400  # |e| of the number written as d.ddd...e<e>
# A ledger page: ledger._page_limit_default(), ledger._page_limit_max()
PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200

# The scopes an API key may hold: ledger._api_scopes(). Each route names the one it needs.
SCOPE_READ = "wallet:read"
SCOPE_TOPUP = "wallet:topup"
SCOPE_BONUS = "wallet:bonus"
SCOPE_SPEND = "wallet:spend"
# the ledgers of system accounts (Treasury, Revenue slots) show every client's descriptions,
# metadata and user ids: reading them is an auditor's right, not every reader's
SCOPE_AUDIT = "wallet:audit"
# a gift from one player to another, and taking money back (store refunds, support): each its own
# right, so a key that may spend may not move a player's coins to someone else or undo a top-up
SCOPE_TRANSFER = "wallet:transfer"
SCOPE_REFUND = "wallet:refund"
# reserving money (a hold), then capturing or voiding it: a game backend's right of its own
SCOPE_HOLD = "wallet:hold"
# up to 1,000 top-ups, bonuses or spends in one request: a trusted job's right, not a player's
SCOPE_BATCH = "wallet:batch"
# every sealed transaction in seal order (GET /api/v1/events): analytics, CRM and anti-fraud see
# every user's movements, which no other read scope shows at once
SCOPE_EVENTS = "wallet:events"
# GET /api/v1/events: at most this many per answer, and this long a long-poll
EVENTS_LIMIT_MAX = 1000
# Transactions sealed per call of api.seal by the service's sealer and `wallet seal`, which call it
# again while a call fills it. Here, not in service/sealer.py: the `wallet` command must not import
# the metrics, whose prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, at import, before
# `wallet serve` sets it (tests/serve/test_serve.py, test_metrics_sum_the_requests...)
SEAL_BATCH = 1000
# The holds' sweep (service/sweeper.py, `wallet expire-holds`), here for the same reason: its
# advisory lock (pg_try_advisory_lock(int, int): "wallet" holds sweep), and the holds released
# per call of api.expire_holds (a sweep calls it again while a call fills it)
SWEEP_LOCK = (0x77616C6C, 16)
SWEEP_BATCH = 1000
EVENTS_LIMIT_DEFAULT = 100
EVENTS_WAIT_MAX_SECONDS = 30
# A hold's expiry, in seconds after its authorization: the SQL API's bound (WHEXI,
# api.authorize_hold) and default. The edge only keeps what it passes within an interval's range.
HOLD_EXPIRY_MIN_SECONDS = 1
HOLD_EXPIRY_MAX_SECONDS = 30 * 24 * 3600
HOLD_EXPIRY_DEFAULT_SECONDS = 15 * 60
SCOPES: tuple[str, ...] = (
    SCOPE_READ,
    SCOPE_TOPUP,
    SCOPE_BONUS,
    SCOPE_SPEND,
    SCOPE_AUDIT,
    SCOPE_TRANSFER,
    SCOPE_REFUND,
    SCOPE_HOLD,
    SCOPE_BATCH,
    SCOPE_EVENTS,
)

# An amount on the wire: a well-formed decimal string. Whether it is above zero, within the
# asset's decimal places and under its maximum is the ledger's decision (422 invalid_amount).
AMOUNT_PATTERN = r"^-?[0-9]{1,40}(\.[0-9]{1,40})?$"

# re.ASCII and \Z: "²" and "٣" are not digits here, and "1\n" is not "1" (Python's `$` also
# matches before a final newline)
_USER_ID = re.compile(USER_ID_PATTERN, re.ASCII)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.removesuffix("$") + r"\Z", re.ASCII)
_AMOUNT = re.compile(AMOUNT_PATTERN.removesuffix("$") + r"\Z", re.ASCII)


def is_user_id(text: str) -> bool:
    return _USER_ID.match(text) is not None


def is_idempotency_key(text: str) -> bool:
    return _IDEMPOTENCY_KEY.match(text) is not None


def is_amount(text: str) -> bool:
    return _AMOUNT.match(text) is not None
