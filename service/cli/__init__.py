"""The `wallet` command: migrate, seed, reconcile, API keys, reversals, expired holds, limits,
grants in bulk, the seal, webhooks, and serve (the HTTP service)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import psycopg

from service.cli import grant, limits, webhooks
from service.cli.expire_holds import expire_holds
from service.cli.keys import keys_command
from service.cli.migrate import GaveUp, LockPolicy, migrate
from service.cli.reconcile import reconcile
from service.cli.reverse import MODES, amount, reverse_command, transaction_id, utf8_text
from service.cli.seal import seal, seal_head
from service.cli.seed import seed
from service.config import job_database_url, load_settings
from service.rules import SCOPES


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError(f"from 0 to 86400 seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    migrate_parser = commands.add_parser(
        "migrate", help="create roles if allowed, apply migrations and the functions that changed"
    )
    migrate_parser.add_argument(
        "--deadline",
        type=_seconds,
        metavar="SECONDS",
        help="give up (exit 1) if a lock is still out of reach this long after the start"
        " (default: WALLET_MIGRATE_DEADLINE, 300)",
    )
    commands.add_parser("seed", help="seed the contract's users (idempotent)")
    commands.add_parser("reconcile", help="prove the books; exit 1 on any discrepancy")
    keys_parser = commands.add_parser("keys", help="create, list and revoke API keys")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="create a key and print it, once")
    create.add_argument("--name", required=True, help="1 to 64 of A-Z a-z 0-9 . _ -; never reused")
    create.add_argument("--scopes", required=True, help="comma-separated: " + ",".join(SCOPES))
    keys_commands.add_parser("list", help="every key: name, prefix, scopes, created, revoked")
    revoke = keys_commands.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("name")
    dev = keys_commands.add_parser(
        "dev", help="print the development key kept in FILE, making one if it is missing or revoked"
    )
    dev.add_argument("file", type=Path)
    reverse = commands.add_parser(
        "reverse",
        help="take back all or part of a top-up, bonus, spend or transfer (support staff,"
        " as wallet_job: WALLET_JOB_DATABASE_URL)",
        description="Reverses a transaction through api.reverse. Running the same command again"
        " reverses once: with no --key, the key is made from the transaction, the amount, the"
        " mode and the reason, and a repeat prints the same reversal, marked as already done.",
    )
    reverse.add_argument(
        "transaction_id",
        type=transaction_id,
        metavar="TRANSACTION_ID",
        help="the transaction to take back (its id, as the HTTP API and the ledger show it)",
    )
    reverse.add_argument(
        "--reason",
        type=utf8_text,
        required=True,
        help="why, for the ledger (1 to 500 characters; required)",
    )
    reverse.add_argument(
        "--amount", type=amount, metavar="X", help="how much (default: all that remains of it)"
    )
    reverse.add_argument(
        "--mode",
        choices=MODES,
        default="strict",
        help="strict (default) refuses to take a user below zero; allow_negative takes it all"
        " back and leaves the user in debt (a store refund of coins already spent)",
    )
    reverse.add_argument(
        "--key",
        type=utf8_text,
        help="idempotency key (1 to 255 printable ASCII), e.g. the support ticket's id"
        " (default: made from the arguments)",
    )
    commands.add_parser(
        "expire-holds",
        help="release the holds past their expiry, once (as wallet_job); the service's sweeper "
        "does it every WALLET_HOLD_SWEEP_SECONDS",
    )
    commands.add_parser(
        "seal",
        help="seal what is committed, then print the chain's head (as wallet_job); the service's "
        "sealer does it every WALLET_SEAL_INTERVAL_MS",
    )
    commands.add_parser(
        "seal-head",
        help="print the seal chain's head (sequence, SHA-256, time) to keep outside the database",
    )
    limits.add_parser(commands)
    webhooks.add_parser(commands)
    grant.add_parser(commands)
    commands.add_parser(
        "serve", help="serve the HTTP API (WALLET_HOST, WALLET_PORT, WALLET_WORKERS)"
    )
    return parser


class _JobCommand(Protocol):
    def __call__(
        self,
        database_url: str,
        args: argparse.Namespace,
        *,
        lock_timeout_ms: int,
        statement_timeout_ms: int,
    ) -> int: ...


# the commands that move money or set limits as wallet_job, under the session's timeouts
_JOB_COMMANDS: dict[str, _JobCommand] = {
    "limits": limits.limits_command,
    "grant": grant.grant_command,
    "reverse": reverse_command,
    "webhooks": webhooks.webhooks_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from service.cli.serve import serve  # the HTTP stack is loaded only to serve

        return serve(settings)
    try:
        if args.command == "migrate":
            deadline = settings.migrate_deadline_seconds if args.deadline is None else args.deadline
            policy = LockPolicy(settings.migrate_lock_timeout_ms, deadline)
            try:
                migrate(
                    settings.admin_database_url, service_url=settings.database_url, policy=policy
                )
            except GaveUp as exc:
                print(f"wallet migrate: {exc}", file=sys.stderr)
                return 1
        elif args.command == "seed":
            seed(settings.admin_database_url)
        elif args.command == "reconcile":
            return reconcile(settings.admin_database_url)
        elif args.command == "keys":
            return keys_command(settings.admin_database_url, args)
        elif args.command == "expire-holds":
            return expire_holds(
                job_database_url(settings), statement_timeout_ms=settings.statement_timeout_ms
            )
        elif args.command in ("seal", "seal-head"):
            command = seal if args.command == "seal" else seal_head
            return command(
                job_database_url(settings), statement_timeout_ms=settings.statement_timeout_ms
            )
        elif args.command in _JOB_COMMANDS:
            return _JOB_COMMANDS[args.command](
                job_database_url(settings),
                args,
                lock_timeout_ms=settings.lock_timeout_ms,
                statement_timeout_ms=settings.statement_timeout_ms,
            )
    except psycopg.OperationalError as exc:
        print(f"wallet {args.command}: cannot reach PostgreSQL: {exc}".rstrip(), file=sys.stderr)
        return 2
    return 0
