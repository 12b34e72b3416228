"""The service's only door to PostgreSQL: one call of an `api.*` function per request.

No SQL here but those calls; every rule about money is in the database. Results come back as
msgspec Structs, decoded by column name, so a column that a migration adds to a result type is
simply not read. Errors come back as the ledger's own: LedgerError for an error the SQL API
raised on purpose (a SQLSTATE of the catalogue, db/errors.tsv), LedgerUnavailableError when
PostgreSQL is unreachable, restarting, or slower than the statement timeout (never a hang),
UnstorableTextError for text PostgreSQL cannot hold, RefusedArgumentError for any other
argument it refuses to take in, and OutOfRangeArgumentError for an argument an API function
refused as outside what it takes (22023: a moment in the future, a period that ends before it
starts). This module knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import msgspec

from service.catalogue import BY_SQLSTATE
from service.config import POOL_WAIT_SECONDS, Settings, sql_call_timeout

# /health's bound on its check of PostgreSQL: within the container health check's 2 s
HEALTH_TIMEOUT_SECONDS = 1.5


class LedgerError(Exception):
    """An error the SQL API raised on purpose: `code` is its name in the catalogue."""

    def __init__(self, sqlstate: str, code: str, message: str, detail: str | None) -> None:
        super().__init__(f"{code}: {message}")
        self.sqlstate = sqlstate
        self.code = code
        self.message = message
        self.detail = detail


class LedgerUnavailableError(Exception):
    """The ledger cannot answer now; the same call (same idempotency key) may be retried safely:
    either it had no effect, or the retry finds its transaction."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnstorableTextError(Exception):
    """Text holding the NUL character (U+0000), which no PostgreSQL text value can store."""


class RefusedArgumentError(Exception):
    """An argument PostgreSQL refused while taking in the call's parameters, before any function
    ran (a jsonb number beyond numeric's range, say): nothing happened, and the value is the
    caller's."""


class OutOfRangeArgumentError(Exception):
    """An argument an API function refused as outside what it takes, with PostgreSQL's own
    SQLSTATE 22023 (invalid_parameter_value), its message naming the parameter first ("p_at is
    a moment in the past, not ...", "p_to (...) is before p_from (...)")."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Posting(msgspec.Struct, frozen=True):
    transaction_id: int
    wallet_id: int
    balance: Decimal
    replayed: bool
    amount: Decimal
    created_at: datetime


class TransferPosting(msgspec.Struct, frozen=True):
    transaction_id: int
    from_wallet_id: int
    from_balance: Decimal
    to_wallet_id: int
    to_balance: Decimal
    replayed: bool
    amount: Decimal
    created_at: datetime


class BatchItemPosting(msgspec.Struct, frozen=True):
    """One item of a batch as api.post_batch answers it (index from 0): completed, with its
    transaction, wallet and the balance right after it, or failed, with a catalogue code and its
    detail. `replayed` is the whole batch's: the key's earlier batch answered again."""

    batch_id: int
    item_index: int
    user_id: str
    status: str  # completed or failed
    transaction_id: int | None
    wallet_id: int | None
    balance: Decimal | None
    code: str | None
    detail: str | None
    replayed: bool


class ReversalPosting(msgspec.Struct, frozen=True):
    """A reversal: its user side is the user it takes from (a top-up's or bonus's user, a
    transfer's recipient), else the one it gives back to (a spend's user)."""

    transaction_id: int
    reverses_transaction_id: int
    user_id: str
    asset_id: str
    wallet_id: int
    balance: Decimal
    amount: Decimal
    remaining: Decimal  # what remains of the original to reverse, right after this reversal
    replayed: bool
    created_at: datetime


class HoldPosting(msgspec.Struct, frozen=True):
    """A hold (ledger.hold_posting) as api.authorize_hold, capture_hold, void_hold and get_hold
    answer it. `transaction_id` and `balance` are the call's transaction and the user's balance
    right after it: None for get_hold, and `balance` None for a capture of the whole hold (no user
    leg). An authorization's replay answers as first answered (status open)."""

    hold_id: int
    status: str  # open, captured, voided or expired
    user_id: str
    asset_id: str
    wallet_id: int
    amount: Decimal
    captured: Decimal
    released: Decimal
    remaining: Decimal
    description: str | None
    expires_at: datetime
    hold_transaction_id: int
    resolve_transaction_id: int | None
    transaction_id: int | None
    balance: Decimal | None
    replayed: bool | None
    created_at: datetime
    resolved_at: datetime | None


class BalanceRow(msgspec.Struct, frozen=True):
    asset_id: str
    asset_code: str
    asset_name: str
    wallet_id: int | None
    balance: Decimal
    version: int
    updated_at: datetime | None
    held: Decimal  # the wallet's open holds


class BalanceAtRow(msgspec.Struct, frozen=True):
    """A wallet as it was at a moment (api.balances_at): no holds, and updated_at is when the
    entry of that version was posted (None for version 0)."""

    asset_id: str
    asset_code: str
    asset_name: str
    wallet_id: int | None
    balance: Decimal
    version: int
    updated_at: datetime | None


class LedgerLine(msgspec.Struct, frozen=True):
    entry_id: int
    transaction_id: int
    type: str
    direction: str
    amount: Decimal
    balance_after: Decimal
    wallet_version: int
    description: str | None
    metadata: msgspec.Raw
    created_at: datetime


class EventRow(msgspec.Struct, frozen=True):
    sequence: int
    type: str
    transaction_id: int
    user_id: str | None
    asset_id: str
    amount: Decimal | None
    entries: msgspec.Raw
    metadata: msgspec.Raw
    created_at: datetime
    posted_at: datetime | None


class WebhookClaim(msgspec.Struct, frozen=True):
    """A subscription leased for delivery (api.webhook_claim), with what delivering it takes."""

    id: int
    url: str
    event_types: list[str] | None
    secret: str
    after_sequence: int
    failures: int


class WebhookRow(msgspec.Struct, frozen=True):
    """A subscription as api.webhooks() lists it (never its secret)."""

    id: int
    url: str
    event_types: list[str] | None
    status: str
    after_sequence: int
    backlog: int
    delivered: int
    failures: int
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    next_attempt_at: datetime
    created_at: datetime
    disabled_at: datetime | None


class LedgerPage(msgspec.Struct, frozen=True):
    wallet_id: int
    owner_type: str
    user_id: str | None
    asset_id: str
    balance: Decimal
    entries: list[LedgerLine]
    next_cursor: int | None


class TypeTotals(msgspec.Struct, frozen=True):
    credits: Decimal
    debits: Decimal
    count: int


class StatementPage(msgspec.Struct, frozen=True):
    """A wallet's statement for a period with one page of its entries (api.statement). The sums
    (credits, debits, by_type by transaction type) come with the first page only, None on the
    pages after it."""

    wallet_id: int
    owner_type: str
    user_id: str | None
    asset_id: str
    opening_version: int
    closing_version: int
    opening: Decimal
    credits: Decimal | None
    debits: Decimal | None
    closing: Decimal
    by_type: dict[str, TypeTotals] | None
    entries: list[LedgerLine]
    next_cursor: int | None


class TransactionLeg(msgspec.Struct, frozen=True):
    entry_id: int
    wallet_id: int
    owner_type: str
    user_id: str | None
    account: str | None
    direction: str
    amount: Decimal
    balance_after: Decimal


class TransactionRecord(msgspec.Struct, frozen=True):
    transaction_id: int
    type: str
    status: str
    user_id: str
    asset_id: str
    amount: Decimal
    balance: Decimal | None  # None for a capture of a whole hold (it has no user leg)
    wallet_id: int
    description: str | None
    metadata: msgspec.Raw
    created_at: datetime
    entries: list[TransactionLeg]
    reverses_transaction_id: int | None  # a reversal's original
    # a top-up's, bonus's, spend's or transfer's reversals so far (None for the other types)
    reversed_amount: Decimal | None
    reversals: list[int] | None


class SealStatus(msgspec.Struct, frozen=True):
    """api.seal_status(): the chain's head and what is not sealed yet."""

    last_sequence: int
    last_hash: str | None
    sealed_at: datetime | None
    unsealed: int
    oldest_unsealed_at: datetime | None


class TrialBalanceRow(msgspec.Struct, frozen=True):
    """A row of api.trial_balance: one asset's books."""

    asset_id: str
    asset_code: str
    treasury_balance: Decimal
    revenue_balance: Decimal
    holds_balance: Decimal
    user_balances: Decimal
    user_wallets: int
    entries: int
    entries_total: Decimal
    balances_total: Decimal
    balanced: bool


class ReconcileCheck(msgspec.Struct, frozen=True):
    """A row of api.reconcile(): one check of the books."""

    check_name: str
    ok: bool
    problems: int
    detail: str


class ApiKeyRow(msgspec.Struct, frozen=True):
    key_hash: bytes
    name: str
    scopes: list[str]


Row = TypeVar("Row", bound=msgspec.Struct)


def _row(struct: type[Row], record: Mapping[str, Any], **columns: Any) -> Row:
    """`struct` from the record's columns of the same names, `columns` replacing some of them (a
    composite's records as dicts); columns the struct does not name are not read."""
    return msgspec.convert({**record, **columns}, struct)


# Transient: the client may retry the same request (same Idempotency-Key) and it will be safe.
_UNAVAILABLE_SQLSTATES = {
    "57014": "the database took too long to answer",  # statement_timeout
    "55P03": "the wallet is busy; try again",  # lock_timeout
    "57P01": "the database is restarting",  # admin_shutdown
    "57P02": "the database is restarting",
    "57P03": "the database is starting up",
    "53300": "the database has too many connections",
    "40001": "the database could not serialize this request; try again",
    "40P01": "the database could not serialize this request; try again",
}

# PostgreSQL cannot store the NUL character (U+0000) in text: whatever field carried it, the
# caller sent something no text value can hold.
_UNSTORABLE_TEXT = {"22021", "22P05"}
# Errors of the parameters' input functions (data exceptions and program limits) carry this
# context: the value was refused before any function ran.
_ARGUMENT_CLASSES = ("22", "54")
_PARAMETER_CONTEXT = " parameter $"
# invalid_parameter_value: what the API functions raise for an argument outside what they take
# (db/functions/32_balances_in_time.sql, 27_seal.sql), once the parameters were taken in
_OUT_OF_RANGE = "22023"


# jsonb's binary form is a version byte (1) and the JSON text. Binary, because asyncpg decodes
# composite types (ledger lines inside a page) only with binary codecs.
def _raw_json(data: bytes) -> msgspec.Raw:
    # valid JSON: it goes to the client as is, numbers exactly as stored
    return msgspec.Raw(data[1:])


def _json_param(value: Any) -> bytes:
    return b"\x01" + (value.encode() if isinstance(value, str) else msgspec.json.encode(value))


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_json_param, decoder=_raw_json, format="binary"
    )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Every call is one autocommit statement that leaves no session state behind, so the
    pool's default reset (RESET ALL, UNLISTEN ...: one round trip per request) is skipped."""


@contextmanager
def _translated_errors() -> Iterator[None]:
    """asyncpg's and the network's errors as the ledger's own (the module's docstring)."""
    try:
        yield
    except asyncpg.InternalClientError as exc:
        raise LedgerUnavailableError("the connection to the database broke") from exc
    except asyncpg.PostgresConnectionError as exc:
        # SQLSTATE class 08: the connection was lost, e.g. closed in the middle of a
        # statement by a shutting-down server; the posting may or may not have committed,
        # and a retry with the same key finds out
        raise LedgerUnavailableError("the connection to the database was lost") from exc
    except asyncpg.PostgresError as exc:
        sqlstate = exc.sqlstate or ""
        if sqlstate in _UNAVAILABLE_SQLSTATES:
            raise LedgerUnavailableError(_UNAVAILABLE_SQLSTATES[sqlstate]) from exc
        if sqlstate in _UNSTORABLE_TEXT:
            raise UnstorableTextError(str(exc)) from exc
        context = getattr(exc, "context", None) or ""
        if sqlstate.startswith(_ARGUMENT_CLASSES) and _PARAMETER_CONTEXT in context:
            raise RefusedArgumentError(str(exc)) from exc
        if sqlstate == _OUT_OF_RANGE:
            raise OutOfRangeArgumentError(getattr(exc, "message", None) or str(exc)) from exc
        known = BY_SQLSTATE.get(sqlstate)
        if known is None:
            raise
        message = getattr(exc, "message", None) or str(exc)
        raise LedgerError(sqlstate, known.code, message, getattr(exc, "detail", None)) from exc
    except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
        raise LedgerUnavailableError("the database cannot be reached") from exc


class _SideConnection:
    """One connection of its own, outside the pool, for what must answer while every pooled
    connection is busy with requests: /health, and the API key reloads that make revocations take
    effect. Made on first use and again after any failure; one call at a time (both are rare
    and short), each bounded by `timeout` seconds, the connecting included."""

    def __init__(self, url: str, statement_timeout_ms: int) -> None:
        self._url = url
        self._statement_timeout_ms = statement_timeout_ms
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def fetch(self, query: str, timeout: float) -> list[asyncpg.Record]:
        with _translated_errors():
            async with asyncio.timeout(timeout), self._lock:
                try:
                    if self._conn is None or self._conn.is_closed():
                        self._conn = await asyncpg.connect(
                            self._url,
                            statement_cache_size=0,  # a handful of statements, rarely run
                            server_settings={
                                "statement_timeout": str(self._statement_timeout_ms),
                                "application_name": "wallet-service-side",
                            },
                        )
                    records: list[asyncpg.Record] = await self._conn.fetch(query)
                    return records
                except BaseException:
                    await self.close()  # the next call starts from a fresh connection
                    raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # never waits: the server may be the reason for closing


class Ledger:
    """A pool of connections as wallet_service, and one method per SQL API function called."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._side = _SideConnection(settings.database_url, settings.statement_timeout_ms)

    async def open(self) -> None:
        s = self._settings
        self._pool = asyncpg.create_pool(
            s.database_url,
            # no connection at start: a service started before its database still starts (and
            # answers 503 meanwhile), and connections are made on demand once it is up
            min_size=0,
            max_size=s.db_pool_size,
            init=_init_connection,
            reset=_no_reset,
            statement_cache_size=s.db_statement_cache_size,
            command_timeout=sql_call_timeout(s),
            server_settings={
                "statement_timeout": str(s.statement_timeout_ms),
                "lock_timeout": str(s.lock_timeout_ms),
                "application_name": "wallet-service",
            },
            timeout=5,
        )
        await self._pool

    async def close(self) -> None:
        """Waits for connections in use to come back, then closes; past 10 s it cuts them."""
        await self._side.close()
        if self._pool is not None:
            try:
                async with asyncio.timeout(10):
                    await self._pool.close()
            except TimeoutError:
                self._pool.terminate()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        assert self._pool is not None, "Ledger.open() was not called"
        with _translated_errors():
            async with self._pool.acquire(timeout=POOL_WAIT_SECONDS) as conn:
                try:
                    yield conn
                except asyncpg.InternalClientError:
                    # asyncpg's protocol is in a state no call can use: seen when a server
                    # shutting down ends an idle pooled connection just as a request takes it.
                    # Closed, so that the pool replaces it instead of handing it out again.
                    conn.terminate()
                    raise

    async def _posting(self, struct: type[Row], call: str, *args: object) -> Row:
        async with self._connection() as conn:
            record = await conn.fetchrow(call, *args)
        assert record is not None
        return _row(struct, record)

    async def topup(
        self, user_id: str, asset_id: str, amount: Decimal, key: str, metadata: str, client: str
    ) -> Posting:
        return await self._posting(
            Posting,
            "SELECT * FROM api.topup($1, $2, $3, $4, $5, $6)",
            user_id, asset_id, amount, key, metadata, client,
        )  # fmt: skip

    async def grant_bonus(
        self,
        user_id: str,
        asset_id: str,
        amount: Decimal,
        reason: str,
        key: str,
        metadata: str,
        client: str,
    ) -> Posting:
        return await self._posting(
            Posting,
            "SELECT * FROM api.grant_bonus($1, $2, $3, $4, $5, $6, $7)",
            user_id, asset_id, amount, reason, key, metadata, client,
        )  # fmt: skip

    async def spend(
        self,
        user_id: str,
        asset_id: str,
        amount: Decimal,
        description: str,
        key: str,
        metadata: str,
        client: str,
    ) -> Posting:
        return await self._posting(
            Posting,
            "SELECT * FROM api.spend($1, $2, $3, $4, $5, $6, $7)",
            user_id, asset_id, amount, description, key, metadata, client,
        )  # fmt: skip

    async def transfer(
        self,
        from_user_id: str,
        to_user_id: str,
        asset_id: str,
        amount: Decimal,
        description: str,
        key: str,
        metadata: str,
        client: str,
    ) -> TransferPosting:
        return await self._posting(
            TransferPosting,
            "SELECT * FROM api.transfer($1, $2, $3, $4, $5, $6, $7, $8)",
            from_user_id, to_user_id, asset_id, amount, description, key, metadata, client,
        )  # fmt: skip

    async def post_batch(
        self,
        kind: str,
        asset_id: str,
        user_ids: list[str],
        amounts: list[Decimal],
        description: str | None,
        key: str,
        atomic: bool,
        metadata: list[str] | None,
        client: str,
    ) -> list[BatchItemPosting]:
        """Up to 1,000 top-ups, bonuses or spends (`kind`) in one call: one row per item, in the
        items' order. `metadata`: each item's as JSON text, or None for none at all."""
        async with self._connection() as conn:
            records = await conn.fetch(
                "SELECT * FROM api.post_batch($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                kind, asset_id, user_ids, amounts, description, key, atomic, metadata, client,
            )  # fmt: skip
        return [_row(BatchItemPosting, record) for record in records]

    async def reverse(
        self,
        transaction_id: int,
        amount: Decimal | None,
        reason: str,
        key: str,
        mode: str,
        metadata: str,
        client: str,
    ) -> ReversalPosting:
        """`amount` None: all that remains of the transaction."""
        return await self._posting(
            ReversalPosting,
            "SELECT * FROM api.reverse($1, $2, $3, $4, $5, $6, $7)",
            transaction_id, amount, reason, key, mode, metadata, client,
        )  # fmt: skip

    async def authorize_hold(
        self,
        user_id: str,
        asset_id: str,
        amount: Decimal,
        description: str,
        key: str,
        expires_in: timedelta,
        metadata: str,
        client: str,
    ) -> HoldPosting:
        return await self._posting(
            HoldPosting,
            "SELECT * FROM api.authorize_hold($1, $2, $3, $4, $5, $6, $7, $8)",
            user_id, asset_id, amount, description, key, expires_in, metadata, client,
        )  # fmt: skip

    async def capture_hold(
        self, hold_id: int, amount: Decimal | None, key: str, metadata: str, client: str
    ) -> HoldPosting:
        """`amount` None: the whole hold."""
        return await self._posting(
            HoldPosting,
            "SELECT * FROM api.capture_hold($1, $2, $3, $4, $5)",
            hold_id, amount, key, metadata, client,
        )  # fmt: skip

    async def void_hold(self, hold_id: int, key: str, metadata: str, client: str) -> HoldPosting:
        return await self._posting(
            HoldPosting,
            "SELECT * FROM api.void_hold($1, $2, $3, $4)",
            hold_id, key, metadata, client,
        )  # fmt: skip

    async def get_hold(self, hold_id: int) -> HoldPosting:
        return await self._posting(HoldPosting, "SELECT * FROM api.get_hold($1)", hold_id)

    async def expire_holds(self, limit: int = 1000) -> int:
        """Releases up to `limit` holds past their expiry; how many it released."""
        async with self._connection() as conn:
            released: int = await conn.fetchval("SELECT api.expire_holds($1)", limit)
        return released

    async def balances(self, user_id: str, asset_id: str | None) -> list[BalanceRow]:
        async with self._connection() as conn:
            records = await conn.fetch("SELECT * FROM api.balances($1, $2)", user_id, asset_id)
        return [_row(BalanceRow, record) for record in records]

    async def ledger_page(
        self, wallet_id: int, limit: int, offset: int, before_version: int | None
    ) -> LedgerPage:
        async with self._connection() as conn:
            record = await conn.fetchrow(
                "SELECT * FROM api.ledger_page($1, $2, $3, $4)",
                wallet_id, limit, offset, before_version,
            )  # fmt: skip
        assert record is not None
        return _row(LedgerPage, record, entries=[dict(line) for line in record["entries"]])

    async def balances_at(
        self, user_id: str, at: datetime, asset_id: str | None
    ) -> list[BalanceAtRow]:
        """The user's balances as they were at `at` (api.balances_at)."""
        async with self._connection() as conn:
            records = await conn.fetch(
                "SELECT * FROM api.balances_at($1, $2, $3)", user_id, at, asset_id
            )
        return [_row(BalanceAtRow, record) for record in records]

    async def statement(
        self, wallet_id: int, since: datetime, until: datetime, limit: int, before: int | None
    ) -> StatementPage:
        """The wallet's statement for the period after `since` up to `until`, and the page of
        its entries below version `before` (the first page: None), newest first."""
        async with self._connection() as conn:
            record = await conn.fetchrow(
                "SELECT * FROM api.statement($1, $2, $3, $4, $5)",
                wallet_id, since, until, limit, before,
            )  # fmt: skip
        assert record is not None
        by_type = record["by_type"]
        return _row(
            StatementPage,
            record,
            by_type=None if by_type is None else msgspec.json.decode(by_type),
            entries=[dict(line) for line in record["entries"]],
        )

    async def events(self, after: int, limit: int) -> list[EventRow]:
        """Sealed transactions after sequence `after`, in seal order (api.events)."""
        async with self._connection() as conn:
            records = await conn.fetch("SELECT * FROM api.events($1, $2)", after, limit)
        return [_row(EventRow, record) for record in records]

    # The webhooks' delivery worker (service/webhooks.py, db/functions/29_webhooks.sql)

    async def webhook_claim(self, owner: UUID, lease_seconds: int, most: int) -> list[WebhookClaim]:
        async with self._connection() as conn:
            records = await conn.fetch(
                "SELECT * FROM api.webhook_claim($1, $2, $3)", owner, lease_seconds, most
            )
        return [_row(WebhookClaim, record) for record in records]

    async def webhook_delivered(
        self, webhook_id: int, owner: UUID, after: int, events: int, lease_seconds: int
    ) -> bool:
        """False when the lease is no longer `owner`'s."""
        async with self._connection() as conn:
            moved = await conn.fetchval(
                "SELECT api.webhook_delivered($1, $2, $3, $4, $5)",
                webhook_id, owner, after, events, lease_seconds,
            )  # fmt: skip
        return bool(moved)

    async def webhook_failed(
        self, webhook_id: int, owner: UUID, error: str, retry_in_ms: int, failing_after: int
    ) -> tuple[int, str] | None:
        """(consecutive failures, status), or None when the lease is no longer `owner`'s."""
        async with self._connection() as conn:
            record = await conn.fetchrow(
                "SELECT * FROM api.webhook_failed($1, $2, $3, $4, $5)",
                webhook_id, owner, error, retry_in_ms, failing_after,
            )  # fmt: skip
        return None if record is None else (record["failures"], record["status"])

    async def webhook_release(self, webhook_id: int, owner: UUID) -> bool:
        async with self._connection() as conn:
            released = await conn.fetchval("SELECT api.webhook_release($1, $2)", webhook_id, owner)
        return bool(released)

    async def webhooks(self) -> list[WebhookRow]:
        async with self._connection() as conn:
            records = await conn.fetch("SELECT * FROM api.webhooks()")
        return [_row(WebhookRow, record) for record in records]

    async def get_transaction(self, transaction_id: int) -> TransactionRecord:
        async with self._connection() as conn:
            record = await conn.fetchrow("SELECT * FROM api.get_transaction($1)", transaction_id)
        assert record is not None
        legs = [dict(leg) for leg in record["entries"] or ()]
        return _row(TransactionRecord, record, entries=legs)

    # The books, for the console (service/console/): each reads every wallet and entry, so each
    # is bounded by the statement timeout like any other call

    async def seal_status(self) -> SealStatus:
        async with self._connection() as conn:
            record = await conn.fetchrow("SELECT * FROM api.seal_status()")
        return _row(SealStatus, record)

    async def trial_balance(self) -> list[TrialBalanceRow]:
        async with self._connection() as conn:
            records = await conn.fetch("SELECT * FROM api.trial_balance")
        return [_row(TrialBalanceRow, record) for record in records]

    async def reconcile(self) -> list[ReconcileCheck]:
        async with self._connection() as conn:
            records = await conn.fetch("SELECT * FROM api.reconcile()")
        return [_row(ReconcileCheck, record) for record in records]

    async def active_api_keys(self) -> list[ApiKeyRow]:
        """On the side connection: a revocation takes effect even while the pool is saturated."""
        records = await self._side.fetch("SELECT * FROM api.active_api_keys()", timeout=5)
        return [ApiKeyRow(bytes(r["key_hash"]), r["name"], list(r["scopes"])) for r in records]

    async def ping(self) -> None:
        """On the side connection: a busy pool is not an unreachable database."""
        await self._side.fetch("SELECT 1", timeout=HEALTH_TIMEOUT_SECONDS)
