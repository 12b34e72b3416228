"""`wallet reverse`: support staff take back a top-up, bonus, spend or transfer (api.reverse).

It logs in as the trusted jobs' login (WALLET_JOB_DATABASE_URL, wallet_job): support staff move
money as a job does, through the SQL API, and own nothing. Its reversals carry the client id
CLIENT_ID whatever the login, so a key replays the same reversal for whoever runs the command
again, and no job's keys (sql:wallet_job) can collide with them.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.rows import class_row

from service.cli.text import failed, set_timeouts, when

CLIENT_ID = "cli:wallet-reverse"
MODES = ("strict", "allow_negative")
_BIGINT_MAX = 2**63 - 1
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
# what a support person can do about the PostgreSQL errors a reversal may meet besides the
# ledger's own (those name their code from db/errors.tsv and say what is wrong)
_ADVICE = {
    "55P03": "a wallet stayed locked longer than WALLET_LOCK_TIMEOUT",
    "57014": "it ran longer than WALLET_STATEMENT_TIMEOUT",
}


def transaction_id(text: str) -> int:
    """argparse type: a transaction id, a whole number from 1."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= _BIGINT_MAX:
        raise argparse.ArgumentTypeError(
            f"a transaction id is a whole number above 0, not {text!r}"
        )
    return int(text)


def amount(text: str) -> Decimal:
    """argparse type: an amount written with digits and at most one decimal point, read exactly
    (never through a float). Whether it is above zero and fits the asset is the ledger's rule."""
    if not _AMOUNT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"an amount is written like 30 or 29.99, not {text!r}")
    return Decimal(text)


def utf8_text(value: str) -> str:
    """argparse type: text that PostgreSQL can take (the arguments of a terminal that does not
    speak UTF-8 arrive with bytes Python could not decode)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"not UTF-8 text: {value!r}") from None
    return value


def derived_key(transaction: int, part: Decimal | None, mode: str, reason: str) -> str:
    """The idempotency key of a command given no --key: the same transaction, amount (or all
    that remains), mode and reason make the same key, so running the command again replays the
    reversal instead of making another. 30 and 30.00 are the same amount."""
    amount_text = "all" if part is None else _plain(part)
    digest = hashlib.sha256(f"{transaction}\n{amount_text}\n{mode}\n{reason}".encode()).hexdigest()
    return f"wallet-reverse:{transaction}:{digest[:32]}"


def _plain(number: Decimal) -> str:
    """The number without trailing zeros after the point: 30.50 -> 30.5, 30.00 -> 30."""
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class Reversal:
    """The columns of ledger.reversal_posting that the command prints."""

    transaction_id: int
    reverses_transaction_id: int
    user_id: str
    asset_id: str
    balance: Decimal
    counterparty_user_id: str | None
    counterparty_balance: Decimal | None
    amount: Decimal
    remaining: Decimal
    replayed: bool
    created_at: datetime


_REVERSE = (
    "SELECT transaction_id, reverses_transaction_id, user_id, asset_id, balance,"
    " counterparty_user_id, counterparty_balance, amount, remaining, replayed, created_at"
    " FROM api.reverse(%s::bigint, %s::numeric, %s, %s, %s, '{}'::jsonb, %s)"
)


def reverse_command(
    database_url: str, args: argparse.Namespace, *, lock_timeout_ms: int, statement_timeout_ms: int
) -> int:
    """Prints the reversal; a refusal is one line on stderr naming its code, exit status 1. A
    connection lost during the call is exit status 2, as is one that cannot be made (left to
    the caller)."""
    key = args.key
    if key is None:
        key = derived_key(args.transaction_id, args.amount, args.mode, args.reason)
    with psycopg.connect(database_url, autocommit=True, application_name="wallet reverse") as conn:
        try:
            set_timeouts(
                conn, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            )
            with conn.cursor(row_factory=class_row(Reversal)) as cursor:
                reversal = cursor.execute(
                    _REVERSE,
                    (args.transaction_id, args.amount, args.reason, key, args.mode, CLIENT_ID),
                ).fetchone()
        except psycopg.Error as exc:
            return failed(
                "wallet reverse",
                exc,
                advice=_ADVICE,
                outcome="nothing moved",
                lost="the reversal may or may not have been made; run the same command again,"
                " which reverses once",
            )
    assert reversal is not None  # api.reverse returns one row or raises
    _print_reversal(reversal)
    return 0


def _print_reversal(reversal: Reversal) -> None:
    original = reversal.reverses_transaction_id
    if reversal.replayed:
        state = f"already done at {when(reversal.created_at)}: this run replayed it, nothing moved"
    else:
        state = f"posted at {when(reversal.created_at)}"
    print(f"reversal    {reversal.transaction_id} ({state})")
    print(f"reverses    transaction {original}")
    print(f"user        {reversal.user_id}, balance after {reversal.balance}")
    if reversal.counterparty_user_id is not None:
        other = reversal.counterparty_user_id
        print(f"other user  {other}, balance after {reversal.counterparty_balance}")
    print(f"asset       {reversal.asset_id}")
    print(f"amount      {reversal.amount}")
    print(f"remaining   {reversal.remaining} of transaction {original} left to reverse")
