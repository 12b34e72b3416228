"""`wallet webhooks add|list|disable|enable`: subscriptions to the event stream, delivered by the
service's delivery worker (service/webhooks.py, docs/webhooks.md), managed as the trusted jobs'
login (WALLET_JOB_DATABASE_URL, wallet_job) through db/functions/29_webhooks.sql."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import psycopg

from service.cli.reverse import utf8_text
from service.cli.text import failed, print_table, set_timeouts, when

_ADVICE = {"57014": "it ran longer than WALLET_STATEMENT_TIMEOUT"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`wallet webhooks` and its subcommands, under the `wallet` command's subparsers."""
    parser = commands.add_parser(
        "webhooks",
        help="add, list, disable and enable webhook subscriptions (as wallet_job)",
        description="Webhooks POST every sealed event of their types, in sequence order, at least"
        " once, signed with HMAC-SHA256 (docs/webhooks.md).",
    )
    sub = parser.add_subparsers(dest="webhooks_command", required=True)
    add = sub.add_parser("add", help="subscribe a URL to the events sealed from now on")
    add.add_argument("--url", required=True, type=utf8_text, help="http:// or https://")
    add.add_argument(
        "--secret",
        required=True,
        type=utf8_text,
        help="16 to 256 bytes shared with the receiver, which checks the Wallet-Signature"
        " header with it; - reads it from the first line of standard input (kept out of the"
        " process list and the shell's history)",
    )
    add.add_argument(
        "--events",
        type=utf8_text,
        metavar="TYPES",
        help="comma-separated transaction types (topup,bonus,spend,transfer,reversal,hold,"
        "capture,release,opening_balance); default every type",
    )
    add.add_argument(
        "--after",
        type=int,
        metavar="SEQUENCE",
        help="start after this sealed sequence (0: the whole stream); default the seal's head",
    )
    sub.add_parser("list", help="every subscription: status, cursor, backlog, failures")
    for name, what in (("disable", "stop delivering to"), ("enable", "deliver again to")):
        command = sub.add_parser(name, help=f"{what} a subscription")
        command.add_argument("id", type=int, metavar="ID", help="the subscription's id")


def webhooks_command(
    database_url: str, args: argparse.Namespace, *, lock_timeout_ms: int, statement_timeout_ms: int
) -> int:
    """A refusal is one line on stderr naming its code, exit 1; a connection lost, exit 2."""
    command = args.webhooks_command
    name = f"wallet webhooks {command}"
    if command == "add" and args.secret == "-":  # noqa: S105 (read from stdin, not a password)
        args.secret = sys.stdin.readline().rstrip("\r\n")
    with psycopg.connect(database_url, autocommit=True, application_name=name) as conn:
        try:
            set_timeouts(
                conn, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            )
            _COMMANDS[command](conn, args)
        except psycopg.Error as exc:
            return failed(
                name,
                exc,
                advice=_ADVICE,
                outcome="" if command == "list" else "nothing changed",
                lost="`wallet webhooks list` tells whether the change was made",
            )
    return 0


def _add(conn: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    types = None
    if args.events is not None:
        types = [t.strip() for t in args.events.split(",") if t.strip()]
    row = conn.execute(
        "SELECT id, after_sequence FROM api.webhook_add(%s, %s, %s, %s)",
        (args.url, args.secret, types, args.after),
    ).fetchone()
    assert row is not None
    print(f"added webhook {row[0]}: {args.url}")
    print(f"events: {', '.join(types) if types else 'every type'}, after sequence {row[1]}")


def _list(conn: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    rows = conn.execute(
        "SELECT id, url, event_types, status, after_sequence, backlog, delivered, failures,"
        " last_error, delivered_at, next_attempt_at FROM api.webhooks()"
    ).fetchall()
    header = ("id", "status", "events", "after", "backlog", "delivered", "failures",
              "last delivery", "next try", "url", "last error")  # fmt: skip
    print_table(
        header,
        [
            (
                str(r[0]),
                r[3],
                ",".join(r[2]) if r[2] else "all",
                str(r[4]),
                str(r[5]),
                str(r[6]),
                str(r[7]),
                when(r[9]),
                when(r[10]) if r[7] and r[3] != "disabled" else "-",
                r[1],
                r[8] or "-",
            )
            for r in rows
        ],
    )


def _disable(conn: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    row = conn.execute(
        "SELECT disabled_at, earlier FROM api.webhook_disable(%s)", (args.id,)
    ).fetchone()
    assert row is not None
    state = "was already disabled" if row[1] else "disabled"
    print(f"webhook {args.id} {state} at {when(row[0])}")


def _enable(conn: psycopg.Connection[Any], args: argparse.Namespace) -> None:
    row = conn.execute(
        "SELECT after_sequence, backlog FROM api.webhook_enable(%s)", (args.id,)
    ).fetchone()
    assert row is not None
    print(f"webhook {args.id} active: delivering after sequence {row[0]}, {row[1]} behind")


_COMMANDS = {"add": _add, "list": _list, "disable": _disable, "enable": _enable}
