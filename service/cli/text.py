"""What the `wallet` subcommands print alike: moments, tables and the ledger's refusals."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

from service.catalogue import BY_SQLSTATE


def when(moment: datetime | None) -> str:
    """A moment to the second, in the session's time zone; "-" for none."""
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The header and the rows in columns two spaces apart; the last column is left unpadded."""
    table = [header, *rows]
    last = len(header) - 1
    widths = [max(len(line[column]) for line in table) for column in range(last)]
    for line in table:
        padded = [line[column].ljust(widths[column]) for column in range(last)]
        print("  ".join([*padded, line[last]]))


def refusal(exc: psycopg.Error, *, advice: Mapping[str, str], outcome: str) -> str:
    """One line: the error's code (the catalogue's, else PostgreSQL's condition and SQLSTATE),
    its message, detail, the command's `advice` for its SQLSTATE, its hint, and the `outcome`
    (what the refusal left as it was; "" for none)."""
    sqlstate = exc.sqlstate or ""
    entry = BY_SQLSTATE.get(sqlstate)
    if entry is not None:
        code = entry.code
    else:
        condition = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        code = f"{condition} ({sqlstate})"
    diag = exc.diag
    parts = [diag.message_primary or str(exc), diag.message_detail, advice.get(sqlstate)]
    if diag.message_hint:
        parts.append(f"hint: {diag.message_hint}")
    parts.append(outcome)
    return f"{code}: " + "; ".join(" ".join(part.split()) for part in parts if part)


def failed(
    command: str, exc: psycopg.Error, *, advice: Mapping[str, str], outcome: str, lost: str
) -> int:
    """Says on stderr, in one line, why `command` failed, and returns its exit status: 2 for a
    connection lost during the call (no answer came, so `lost` says what may have happened and
    what to do), else 1 for a refusal (see `refusal`)."""
    if exc.sqlstate is None:
        cause = " ".join(str(exc).split())
        print(
            f"{command}: lost the connection to PostgreSQL during the call ({cause}): {lost}",
            file=sys.stderr,
        )
        return 2
    print(f"{command}: {refusal(exc, advice=advice, outcome=outcome)}", file=sys.stderr)
    return 1


def set_timeouts(
    conn: psycopg.Connection[Any], *, lock_timeout_ms: int, statement_timeout_ms: int
) -> None:
    """The session's lock and statement timeouts (WALLET_LOCK_TIMEOUT, WALLET_STATEMENT_TIMEOUT)."""
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        (str(lock_timeout_ms), str(statement_timeout_ms)),
    )
