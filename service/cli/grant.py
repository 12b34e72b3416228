"""`wallet grant`: top-ups, bonuses or spends of one asset for every line of a CSV file (a season's
rewards, a compensation), in chunks of up to 1,000 items through api.post_batch, as the trusted
jobs' login (WALLET_JOB_DATABASE_URL, wallet_job) with the client id CLIENT_ID.

The whole file is read and checked before anything moves. Each chunk's idempotency key is made
from what the chunk posts (the type, asset, reason or description, its position in the file and
its items), not from the whole file nor the mode: running the same command again after a crash,
a kill or a lost connection replays the chunks already posted (each item is granted once) and
posts the rest; a line fixed in a chunk that was refused leaves the chunks before it recognised
as done; the same file posted in the other mode is refused (idempotency_key_reused) instead of
granted twice.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import psycopg

from service import rules
from service.cli.reverse import utf8_text
from service.cli.text import failed, set_timeouts

CLIENT_ID = "cli:wallet-grant"
CHUNK = 1000  # items per api.post_batch call: its maximum (never changed: keys depend on it)
TYPES = ("topup", "bonus", "spend")
PROGRESS_EVERY_SECONDS = 10.0  # a progress line this often when stderr is not a terminal
# an amount as a file writes it: digits, at most one decimal point, no sign nor exponent
_AMOUNT = re.compile(r"[0-9]{1,40}(\.[0-9]{1,40})?\Z", re.ASCII)
_ADVICE = {
    "55P03": "a wallet stayed locked longer than WALLET_LOCK_TIMEOUT",
    "57014": "a chunk ran longer than WALLET_STATEMENT_TIMEOUT",
    "WIDEM": "this chunk was posted before with other items or in the other mode (--per-item);"
    " run the command as it was first run",
}
_POST = (
    "SELECT item_index, status, code, detail, replayed FROM api.post_batch("
    "%s, %s, %s::text[], %s::numeric[], %s, %s, %s, %s::jsonb[], %s)"
)
# the metadata as the ledger stores it (jsonb's text: keys sorted, duplicates dropped) and its size
_METADATA = (
    "SELECT t::jsonb::text, octet_length(t::jsonb::text)"
    " FROM unnest(%s::text[]) WITH ORDINALITY AS m (t, i) ORDER BY i"
)


@dataclass(slots=True)
class Item:
    """A line of the file to post: its user, amount, and metadata (JSON text; None for none)."""

    line: int
    user_id: str
    amount: Decimal
    metadata: str | None


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    why: str


@dataclass(slots=True)
class Grant:
    """What the file holds: the items to post in order, its bad lines, the header's line."""

    items: list[Item] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    header: int | None = None


@dataclass(slots=True)
class Tally:
    posted: int = 0
    replayed: int = 0
    failed: int = 0
    chunks: int = 0


class FileError(Exception):
    """The file cannot be read as CSV text (not found, not UTF-8, a broken quote)."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`wallet grant`, under the `wallet` command's subparsers."""
    parser = commands.add_parser(
        "grant",
        help="top-ups, bonuses or spends of one asset for every line of a CSV file, in chunks"
        " of 1,000 (as wallet_job: WALLET_JOB_DATABASE_URL); run again, it grants each line once",
        description="Posts a CSV file of userId,amount[,metadata] lines (a header line is"
        " optional) through api.post_batch, 1,000 items per chunk, each chunk all or nothing"
        " unless --per-item. The whole file is checked first: a bad line stops it before"
        " anything moves. Running the same command again posts only what was not posted yet"
        " (docs/operations.md, Granting in bulk).",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the CSV file")
    parser.add_argument("--type", choices=TYPES, required=True, help="what each line posts")
    parser.add_argument(
        "--asset", type=utf8_text, required=True, metavar="ASSET", help="the asset's id"
    )
    parser.add_argument(
        "--reason", type=utf8_text, help="a bonus's reason (required for bonuses, only for them)"
    )
    parser.add_argument(
        "--description",
        type=utf8_text,
        help="a spend's description (required for spends, only for them)",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="report bad lines and post the others (default: a bad line stops it all)",
    )
    parser.add_argument(
        "--per-item",
        action="store_true",
        help="each line on its own: a line that cannot be posted (insufficient funds, a limit)"
        " is reported and the others are posted (default: a chunk with such a line is refused"
        " whole and the command stops)",
    )
    parser.set_defaults(usage_error=parser.error)


def _text(args: argparse.Namespace) -> str | None:
    """The reason or description the type takes, or bad usage."""
    wanted = {"bonus": "reason", "spend": "description"}.get(args.type)
    for name in ("reason", "description"):
        if getattr(args, name) is not None and name != wanted:
            args.usage_error(f"--{name} is only for {'bonuses' if name == 'reason' else 'spends'}")
    if wanted is None:
        return None
    value: str | None = getattr(args, wanted)
    if value is None:
        args.usage_error(f"--type {args.type} needs --{wanted}")
    return value


# ----------------------------------------------------------------------------------------------
# Reading the file
# ----------------------------------------------------------------------------------------------
def _records(stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """The CSV records with the line each starts on; blank lines are left out."""
    reader = csv.reader(stream, strict=True)
    start = 1
    try:
        for record in reader:
            if record:
                yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileError(f"line {reader.line_num}: not CSV ({exc})") from None


def amount_of(text: str) -> Decimal | None:
    """The amount a file writes (30, 29.99), read exactly; None if it is not one."""
    return Decimal(text) if _AMOUNT.match(text) else None


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _check_json(value: Any, depth: int) -> None:
    """What PostgreSQL's jsonb takes and the ledger's rules allow (service/rules.py): bounded
    numbers and nesting, strings without NUL or lone surrogates; ValueError otherwise."""
    if depth > rules.METADATA_MAX_DEPTH:
        raise ValueError(f"it nests deeper than {rules.METADATA_MAX_DEPTH} levels")
    if isinstance(value, dict | list):
        pairs = value.items() if isinstance(value, dict) else ((None, item) for item in value)
        for key, item in pairs:
            if key is not None:
                _check_json(key, depth)
            _check_json(item, depth + 1)
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string holds \\u0000, which PostgreSQL's jsonb refuses")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (\\ud800 to \\udfff)") from None
    elif isinstance(value, Decimal):
        if (
            len(value.as_tuple().digits) > rules.METADATA_NUMBER_MAX_DIGITS
            or abs(value.adjusted()) > rules.METADATA_NUMBER_MAX_EXPONENT
        ):
            raise ValueError(
                f"a number has more than {rules.METADATA_NUMBER_MAX_DIGITS} digits or an"
                f" exponent beyond {rules.METADATA_NUMBER_MAX_EXPONENT}"
            )


def _metadata_problem(text: str) -> str | None:
    """Why `text` is not metadata (a JSON object within the rules); None if it is."""
    try:
        value = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse)
        if not isinstance(value, dict):
            return f"metadata is a JSON object ({{...}}), not {text[:40]!r}"
        _check_json(value, 1)
    except json.JSONDecodeError as exc:
        return f"metadata is not valid JSON: {exc}"
    except ValueError as exc:
        return f"metadata: {exc}"
    return None


def _item(line: int, record: list[str]) -> Item | BadLine:
    if len(record) not in (2, 3):
        return BadLine(line, f"{len(record)} columns: a line is userId,amount[,metadata]")
    user, written = record[0].strip(), record[1].strip()
    if not rules.is_user_id(user):
        return BadLine(line, f"user id {user[:40]!r}: {rules.USER_ID_RULE}")
    number = amount_of(written)
    if number is None or number <= 0:
        return BadLine(line, f"amount {written[:40]!r}: a number above zero, like 30 or 29.99")
    metadata = record[2].strip() if len(record) == 3 else ""
    if not metadata:
        return Item(line, user, number, None)
    problem = _metadata_problem(metadata)
    if problem is not None:
        return BadLine(line, problem)
    return Item(line, user, number, metadata)


def read_grant(path: Path) -> Grant:
    """The file's items and bad lines. A first line whose amount column is not a number is a
    header. FileError if the file cannot be read."""
    grant = Grant()
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            for line, record in _records(stream):
                first = grant.header is None and not grant.items and not grant.bad
                if first and len(record) >= 2 and amount_of(record[1].strip()) is None:
                    grant.header = line
                    continue
                checked = _item(line, record)
                if isinstance(checked, BadLine):
                    grant.bad.append(checked)
                else:
                    grant.items.append(checked)
    except OSError as exc:
        raise FileError(exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return grant


# ----------------------------------------------------------------------------------------------
# Keys and progress
# ----------------------------------------------------------------------------------------------
def _plain(number: Decimal) -> str:
    """30.50 -> 30.5, 30.00 -> 30: the same amount however the file writes it."""
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def chunk_key(kind: str, asset: str, text: str | None, index: int, items: Sequence[Item]) -> str:
    """A chunk's idempotency key: the type, asset, reason or description, the chunk's position
    (from 0) and its items (user, amount as a number, metadata as jsonb's text), so that the
    same chunk of the same grant is the same key. Not the mode: a chunk posted atomically and
    then per item is the same key with other arguments, refused rather than posted twice. Not
    the lines' numbers nor the rest of the file: a header or a fixed line elsewhere changes
    nothing here."""
    rows = [[i.user_id, _plain(i.amount), i.metadata or "{}"] for i in items]  # none is {}
    what = [kind, asset, text, index, rows]
    digest = hashlib.sha256(json.dumps(what, separators=(",", ":")).encode()).hexdigest()
    return f"wallet-grant:{index}:{digest[:48]}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Items done, items/s and the time left, on `stream`: one line rewritten in place on a
    terminal, else a line every PROGRESS_EVERY_SECONDS."""

    def __init__(
        self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.stream = stream
        self.clock = clock
        self.start = clock()
        self.last = self.start
        self.tty = stream.isatty()
        self.shown = False

    def elapsed(self) -> float:
        return self.clock() - self.start

    def line(self, done: int) -> str:
        elapsed = self.elapsed()
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f"about {_duration((self.total - done) / rate)} left" if rate else "starting"
        percent = 100 * done // self.total
        return f"wallet grant: {done}/{self.total} items ({percent}%), {rate:.0f} items/s, {left}"

    def update(self, done: int) -> None:
        now = self.clock()
        if self.tty:
            self.stream.write(f"\r\x1b[K{self.line(done)}")
            self.shown = True
        elif now - self.last >= PROGRESS_EVERY_SECONDS:
            self.stream.write(self.line(done) + "\n")
            self.last = now
        self.stream.flush()

    def close(self) -> None:
        """Ends the line rewritten in place, so that what follows starts on a line of its own."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------
def _say(text: str) -> None:
    print(f"wallet grant: {text}", file=sys.stderr)


def _canonical_metadata(conn: psycopg.Connection[Any], grant: Grant) -> list[BadLine]:
    """Each item's metadata as jsonb's text (what the ledger stores and its key compares), and
    the lines whose metadata is larger than the ledger allows."""
    with_metadata = [item for item in grant.items if item.metadata is not None]
    too_large: list[BadLine] = []
    for start in range(0, len(with_metadata), CHUNK):
        part = with_metadata[start : start + CHUNK]
        rows = conn.execute(_METADATA, ([item.metadata for item in part],)).fetchall()
        for item, (text, size) in zip(part, rows, strict=True):
            item.metadata = text
            if size > rules.METADATA_MAX_BYTES:
                too_large.append(
                    BadLine(
                        item.line,
                        f"metadata is {size} bytes as the ledger stores it, over the"
                        f" {rules.METADATA_MAX_BYTES} allowed",
                    )
                )
    return too_large


def _report_bad(bad: Sequence[BadLine], path: Path) -> None:
    for one in sorted(bad, key=lambda b: b.line):
        _say(f"{path}: line {one.line}: {one.why}")


def _rejected_lines(exc: psycopg.Error, chunk: Sequence[Item]) -> list[str]:
    """The failing lines of a rejected chunk (WBREJ's DETAIL: [{index, code, detail}])."""
    try:
        errors = json.loads(exc.diag.message_detail or "[]")
        return [
            f"line {chunk[e['index']].line}: {chunk[e['index']].user_id}"
            f" {chunk[e['index']].amount}: {e['code']}: {e['detail']}"
            for e in errors
        ]
    except (ValueError, KeyError, IndexError, TypeError):
        return []


def _stopped(exc: psycopg.Error, chunk: Sequence[Item], index: int, lines: str) -> int:
    """Says why the chunk at `index` was not posted; the exit status."""
    before = {0: "", 1: "; chunk 1 is posted"}.get(index, f"; chunks 1 to {index} are posted")
    again = " (once it is fixed, the same command replays them and goes on from here)"
    if exc.sqlstate == "WBREJ":
        failing = _rejected_lines(exc, chunk)
        for said in failing:
            _say(said)
        _say(
            f"{lines}: batch_rejected: {len(failing)} of {len(chunk)} items cannot be posted"
            f" (the lines above); nothing of this chunk moved{before}{again if index else ''}"
        )
        return 1
    return failed(
        f"wallet grant: {lines}",
        exc,
        advice=_ADVICE,
        outcome=f"nothing of this chunk moved{before}{again}" if index else "nothing moved",
        lost=f"this chunk may or may not have been posted{before}; run the same command"
        " again, which grants each line once",
    )


def _summary(path: Path, tally: Tally, grant: Grant, total: int, elapsed: float) -> None:
    rate = (tally.posted + tally.replayed) / elapsed if elapsed > 0 else 0.0
    header = "" if grant.header is None else f", header on line {grant.header}"
    print(f"file          {path}: {total} items{header}")
    print(f"posted        {tally.posted} items")
    print(f"already done  {tally.replayed} items (posted by an earlier run: replayed, not moved)")
    print(f"failed        {tally.failed} items")
    if grant.bad:
        print(f"skipped       {len(grant.bad)} bad lines")
    left = total - tally.posted - tally.replayed - tally.failed
    if left:
        print(f"not posted    {left} items")
    print(f"chunks        {tally.chunks} of {-(-total // CHUNK)}")
    print(f"time          {elapsed:.1f} s, {rate:.0f} items/s")


def grant_command(
    database_url: str, args: argparse.Namespace, *, lock_timeout_ms: int, statement_timeout_ms: int
) -> int:
    """Checks the file, then posts it chunk by chunk. Exit status 1 for bad lines (nothing
    moved), a refused chunk (the chunks before it are posted) or items that failed (--per-item);
    2 for bad usage, a file that cannot be read, or a connection lost (run it again)."""
    text = _text(args)
    try:
        grant = read_grant(args.file)
    except FileError as exc:
        _say(f"cannot read {args.file}: {exc}")
        return 2
    if grant.bad and not args.skip_invalid:
        _report_bad(grant.bad, args.file)
        _say(f"{len(grant.bad)} bad line(s); nothing moved (--skip-invalid posts the others)")
        return 1
    with psycopg.connect(database_url, autocommit=True, application_name="wallet grant") as conn:
        try:
            set_timeouts(
                conn, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            )
            too_large = _canonical_metadata(conn, grant)
        except psycopg.Error as exc:
            return failed(
                "wallet grant",
                exc,
                advice={},
                outcome="nothing moved",
                lost="nothing moved; run it again",
            )
        if too_large:
            grant.bad.extend(too_large)
            large = {one.line for one in too_large}
            grant.items = [item for item in grant.items if item.line not in large]
            if not args.skip_invalid:
                _report_bad(too_large, args.file)
                _say(f"{len(too_large)} bad line(s); nothing moved")
                return 1
        if grant.bad:
            _report_bad(grant.bad, args.file)
            _say(
                f"{len(grant.bad)} bad line(s) skipped: once fixed, grant them from a file of"
                " their own (fixed in this file, the other items of their chunk would be"
                " granted again)"
            )
        if not grant.items:
            _say(f"{args.file}: no line to grant; nothing moved")
            return 1
        return _post_all(conn, args, text, grant)


def _post_all(
    conn: psycopg.Connection[Any], args: argparse.Namespace, text: str | None, grant: Grant
) -> int:
    items = grant.items
    tally = Tally()
    progress = Progress(len(items), sys.stderr)
    status = 0
    for index, start in enumerate(range(0, len(items), CHUNK)):
        chunk = items[start : start + CHUNK]
        lines = f"chunk {index + 1} (lines {chunk[0].line} to {chunk[-1].line})"
        key = chunk_key(args.type, args.asset, text, index, chunk)
        params = (
            args.type,
            args.asset,
            [item.user_id for item in chunk],
            [item.amount for item in chunk],
            text,
            key,
            not args.per_item,
            None
            if all(item.metadata is None for item in chunk)
            else [item.metadata for item in chunk],
            CLIENT_ID,
        )
        try:
            rows = conn.execute(_POST, params).fetchall()
        except psycopg.Error as exc:
            progress.close()
            status = _stopped(exc, chunk, index, lines)
            break
        tally.chunks += 1
        for item_index, state, code, detail, replayed in rows:
            if state == "completed" and replayed:
                tally.replayed += 1
            elif state == "completed":
                tally.posted += 1
            else:
                tally.failed += 1
                item = chunk[item_index]
                progress.close()
                _say(f"line {item.line}: {item.user_id} {item.amount}: failed: {code}: {detail}")
                status = 1
        progress.update(start + len(chunk))
    progress.close()
    if tally.chunks:
        _summary(args.file, tally, grant, len(items), progress.elapsed())
    return status
