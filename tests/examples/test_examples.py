"""The examples of examples/ run and print what their checked-in outputs say; the README shows
the same files, so neither the examples nor the README's walkthroughs can rot.

Each example runs against a database of its own, created on the PostgreSQL of the stack the tests
use (the WALLET_* settings), migrated and seeded with `wallet migrate` and `wallet seed`, and
dropped at the end whatever happens. The HTTP example has `wallet serve` with the default rate
limits in front of it, Redis logical database 9 (flushed first) and a key with every scope.

What varies from run to run is masked before comparing, amounts and balances never:
* ids become <tx1>, <wallet1>, <entry1>, ... and times <time1>, ..., numbered in the order they
  first appear, so that a replay still visibly answers with the same transaction at the same time;
* request ids, dates, rate-limit counters, content lengths and system slots (treasury#<slot>)
  become a placeholder, and the API key <key>;
* psql's tables are aligned again after masking (the alignment checks itself: before masking it
  gives back psql's own output, byte for byte).

To accept a changed output, rewrite the .out files instead of comparing, then review the diff:

    UPDATE_EXAMPLES=1 .venv/bin/pytest -q tests/examples
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from redis import Redis

from service.config import DEFAULTS, Settings
from tests.support import StartServer

ROOT = Path(__file__).resolve().parents[2]
SQL_EXAMPLE = ROOT / "examples" / "sql" / "walkthrough.sql"
HTTP_EXAMPLE = ROOT / "examples" / "http" / "walkthrough.sh"
UPDATE = os.environ.get("UPDATE_EXAMPLES") == "1"
REDIS_DB = 9
ALL_SCOPES = (
    "wallet:read,wallet:topup,wallet:bonus,wallet:spend,wallet:transfer,wallet:refund,wallet:hold,"
    "wallet:batch"
)
LIMITS = ("WALLET_RATE_LIMIT_GENERAL", "WALLET_RATE_LIMIT_TRANSACTIONS")

# ----------------------------------------------------------------------------------------------
# Masking
# ----------------------------------------------------------------------------------------------
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d(?::\d\d)?)")


class Placeholders:
    """The same value gets the same placeholder: the first transaction id seen is <tx1>, the next
    different one <tx2>, and so on, per kind."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, str]] = {}

    def __call__(self, kind: str, value: str) -> str:
        names = self._seen.setdefault(kind, {})
        return names.setdefault(value, f"<{kind}{len(names) + 1}>")

    def times(self, text: str) -> str:
        return TIME.sub(lambda found: self("time", found[0]), text)


# psql's aligned tables: a header, a line of dashes and pluses, the rows, "(n rows)"
RULE = re.compile(r"-+(?:\+-+)*")
FOOTER = re.compile(r"\(\d+ rows?\)")
ID_COLUMNS = {
    "transaction_id": "tx",
    "wallet_id": "wallet",
    "entry_id": "entry",
    "from_wallet_id": "wallet",
    "to_wallet_id": "wallet",
}
# columns holding an array of ids, {71,72}: each id masked as its kind
ID_ARRAY_COLUMNS = {"reversals": "tx"}
Cells = Callable[[list[str], list[str]], list[str]]


def retabulate(transcript: str, cells: Cells) -> str:
    """The transcript with every table's cells passed through `cells(header, row)` and the table
    aligned again as psql aligns it: headers centred, numbers to the right, text to the left."""
    lines = transcript.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and RULE.fullmatch(lines[i + 1]):
            spans, start = [], 0
            for dashes in lines[i + 1].split("+"):
                spans.append((start + 1, start + len(dashes) - 1))
                start += len(dashes) + 1
            header = [lines[i][a:b].strip() for a, b in spans]
            raw: list[list[str]] = []
            i += 2
            while i < len(lines) and not FOOTER.fullmatch(lines[i]):
                raw.append([lines[i][a:b] for a, b in spans])
                i += 1
            assert i < len(lines), f"a table without its (n rows) line: {header}"
            right = [
                any(row[j].startswith(" ") and row[j].strip() for row in raw)
                for j in range(len(spans))
            ]
            rows = [cells(header, [cell.strip() for cell in row]) for row in raw]
            out += _aligned(header, rows, right)
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def _aligned(header: list[str], rows: list[list[str]], right: list[bool]) -> list[str]:
    widths = [
        max(len(value) for value in [name, *(row[j] for row in rows)])
        for j, name in enumerate(header)
    ]

    def centred(text: str, width: int) -> str:
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)

    lines = [" " + " | ".join(map(centred, header, widths)) + " "]
    lines.append("+".join("-" * (width + 2) for width in widths))
    for row in rows:
        padded = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(row, widths, right, strict=True)
        ]
        if not right[-1]:
            padded[-1] = row[-1]  # psql does not pad the last column
        lines.append(" " + " | ".join(padded))
    return lines


def _masked_ids(mask: Placeholders, kind: str, value: str) -> str:
    """An id array as psql prints it ({71,72}, {}), each id masked."""
    ids = [part for part in value.strip("{}").split(",") if part]
    return "{" + ",".join(mask(kind, part) for part in ids) + "}"


def mask_sql(transcript: str) -> str:
    mask = Placeholders()

    def cells(header: list[str], row: list[str]) -> list[str]:
        return [
            mask(ID_COLUMNS[name], value)
            if name in ID_COLUMNS and value
            else _masked_ids(mask, ID_ARRAY_COLUMNS[name], value)
            if name in ID_ARRAY_COLUMNS
            else mask.times(value)
            for name, value in zip(header, row, strict=True)
        ]

    return retabulate(transcript, cells)


HTTP_ID_KINDS = {
    "transactionId": "tx",
    "reversesTransactionId": "tx",
    "walletId": "wallet",
    "fromWalletId": "wallet",
    "toWalletId": "wallet",
    "entryId": "entry",
    "holdId": "hold",
    "holdTransactionId": "tx",
    "resolveTransactionId": "tx",
    "batchId": "batch",
}
HTTP_IDS = re.compile(rf'"({"|".join(HTTP_ID_KINDS)})":"(\d+)"')
HTTP_ID_LISTS = re.compile(r'"reversals":\[[^\]]*\]')  # transaction ids
HTTP_ID_IN_TEXT = re.compile(r"\btransaction (\d+)\b")  # in a problem's detail
HTTP_HEADERS = {
    "date": "<date>",
    "x-request-id": "<request-id>",
    "content-length": "<length>",
    "ratelimit-remaining": "<remaining>",
    "ratelimit-reset": "<seconds>",
}


def mask_http(transcript: str, key: str) -> str:
    mask = Placeholders()
    text = transcript.replace("\r\n", "\n").replace(key, "<key>")
    text = HTTP_IDS.sub(lambda m: f'"{m[1]}":"{mask(HTTP_ID_KINDS[m[1]], m[2])}"', text)
    text = HTTP_ID_LISTS.sub(
        lambda m: re.sub(r'"(\d+)"', lambda i: f'"{mask("tx", i[1])}"', m[0]), text
    )
    text = HTTP_ID_IN_TEXT.sub(lambda m: f"transaction {mask('tx', m[1])}", text)
    text = mask.times(text)
    text = re.sub(r'"requestId":"[^"]*"', '"requestId":"<request-id>"', text)
    text = re.sub(r'"account":"(\w+)#\d+"', r'"account":"\1#<slot>"', text)
    headers = "|".join(map(re.escape, HTTP_HEADERS))
    return re.sub(
        rf"(?im)^({headers}): .*$", lambda m: f"{m[1]}: {HTTP_HEADERS[m[1].lower()]}", text
    )


def check(example: Path, actual: str) -> None:
    """Compares with the example's .out (or rewrites it, with UPDATE_EXAMPLES=1)."""
    expected_file = example.with_name(example.name + ".out")
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
        return
    expected = expected_file.read_text(encoding="utf-8") if expected_file.exists() else ""
    if actual != expected:
        pytest.fail(
            f"{example.relative_to(ROOT)} printed something else than its .out"
            " (UPDATE_EXAMPLES=1 rewrites it):\n"
            + unified_diff(expected, actual, str(expected_file.relative_to(ROOT)), "this run"),
            pytrace=False,
        )


def unified_diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        expected_name,
        actual_name,
    )
    return "".join(lines)


# ----------------------------------------------------------------------------------------------
# A database of the example's own
# ----------------------------------------------------------------------------------------------
def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def wallet(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, f"wallet {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def fresh_database(settings: Settings) -> Iterator[dict[str, str]]:
    """The environment of a new database, migrated and seeded; dropped on the way out."""
    name = f"wallet_examples_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {
            **os.environ,
            "WALLET_ADMIN_DATABASE_URL": _with_path(settings.admin_database_url, f"/{name}"),
            "WALLET_DATABASE_URL": _with_path(settings.database_url, f"/{name}"),
            "WALLET_REDIS_URL": _with_path(settings.redis_url, f"/{REDIS_DB}"),
        }
        wallet(env, "migrate")
        wallet(env, "seed")
        yield env
    finally:
        with psycopg.connect(settings.admin_database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run(command: list[str], env: dict[str, str], *, with_stderr: bool = False) -> str:
    """The command's stdout; it must succeed and say nothing on stderr. With `with_stderr`, its
    stderr goes into the output where it was written (psql's errors, after their statement: psql
    flushes stdout as it echoes each line), so that anything it says there is in the diff."""
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if with_stderr else subprocess.PIPE,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0 and not done.stderr, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


# ----------------------------------------------------------------------------------------------
# The examples
# ----------------------------------------------------------------------------------------------
def test_sql_walkthrough_prints_its_checked_in_transcript(settings: Settings) -> None:
    psql = shutil.which("psql")
    assert psql, "psql is not installed (make install)"
    script = str(SQL_EXAMPLE.relative_to(ROOT))
    with fresh_database(settings) as env:
        database = env["WALLET_ADMIN_DATABASE_URL"]  # as the superuser, as `make psql` is
        # the example's one expected error (an atomic batch rejected) is part of its transcript
        transcript = run(
            [psql, "-X", "-a", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", script],
            env,
            with_stderr=True,
        )
    assert retabulate(transcript, lambda _, row: row) == transcript, "tables misread"
    check(SQL_EXAMPLE, mask_sql(transcript))


def test_http_walkthrough_prints_its_checked_in_transcript(
    settings: Settings, start_server: StartServer
) -> None:
    with fresh_database(settings) as env:
        with Redis.from_url(env["WALLET_REDIS_URL"]) as redis:
            redis.flushdb()
        created = wallet(env, "keys", "create", "--name", "examples", "--scopes", ALL_SCOPES)
        key = created.splitlines()[-1]
        wallet_env = {name: value for name, value in env.items() if name.startswith("WALLET_")}
        server = start_server(**wallet_env, **{limit: DEFAULTS[limit] for limit in LIMITS})
        try:
            no_proxy = "127.0.0.1,localhost"
            script_env = {**env, "API": f"{server.url}/api/v1", "KEY": key}
            script_env.update(NO_PROXY=no_proxy, no_proxy=no_proxy)
            transcript = run(["bash", str(HTTP_EXAMPLE.relative_to(ROOT))], script_env)
        finally:
            server.kill()  # before the database is dropped
    check(HTTP_EXAMPLE, mask_http(transcript, key))


def body(example: Path) -> str:
    """What the README shows of an example: all of it but its opening comment (up to the first
    blank line)."""
    return example.read_text(encoding="utf-8").split("\n\n", 1)[1]


@pytest.mark.parametrize("example", [SQL_EXAMPLE, HTTP_EXAMPLE], ids=lambda p: p.name)
def test_readme_shows_the_example_as_it_is(example: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = f"<!-- {example.relative_to(ROOT)} -->"
    shown = re.search(re.escape(marker) + r"\n```\w*\n(.*?)^```$", readme, re.S | re.M)
    assert shown, f"README.md has no code block under {marker}"
    if shown[1] != body(example):
        pytest.fail(
            f"README.md shows {example.relative_to(ROOT)} otherwise: copy the example into it"
            " (all but its opening comment):\n"
            + unified_diff(body(example), shown[1], str(example.relative_to(ROOT)), "README.md"),
            pytrace=False,
        )


def _without_trailing_spaces(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n"))


@pytest.mark.parametrize("example", [SQL_EXAMPLE, HTTP_EXAMPLE], ids=lambda p: p.name)
def test_readme_quotes_the_output_as_it_is(example: Path) -> None:
    """Each code block under `<!-- examples/....out -->` in the README is a run of whole lines of
    that output (trailing spaces aside: psql pads its headers, editors strip them)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    out = example.with_name(example.name + ".out")
    marker = f"<!-- {out.relative_to(ROOT)} -->"
    output = "\n" + _without_trailing_spaces(out.read_text(encoding="utf-8"))
    for quote in re.findall(re.escape(marker) + r"\n```\w*\n(.*?)^```$", readme, re.S | re.M):
        if "\n" + _without_trailing_spaces(quote) not in output:
            pytest.fail(
                f"README.md quotes {out.relative_to(ROOT)} otherwise: copy the lines again"
                f" from it:\n{quote}",
                pytrace=False,
            )
