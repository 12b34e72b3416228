"""The `wallet` command: migrate, seed, reconcile, API keys (and, with the HTTP service, serve)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import psycopg

from service import keys, schema
from service.config import load_settings


def _reconcile(database_url: str) -> int:
    """Prints one line per check of api.reconcile(); exit status 1 on any discrepancy."""
    with psycopg.connect(database_url) as conn:
        conn.read_only = True
        checks = conn.execute("SELECT * FROM api.reconcile()").fetchall()
        report = conn.execute(
            "SELECT asset_code, treasury_balance, revenue_balance, user_balances, user_wallets"
            " FROM api.trial_balance"
        ).fetchall()
    print(f"{'asset':<14} {'treasury':>18} {'revenue':>16} {'users':>16} {'wallets':>8}")
    for code, treasury, revenue, users, wallets in report:
        print(f"{code:<14} {treasury:>18} {revenue:>16} {users:>16} {wallets:>8}")
    failed = 0
    for name, ok, problems, detail in checks:
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}" + ("" if ok else f" ({problems})"))
    print("books balance" if failed == 0 else f"{failed} check(s) failed")
    return 0 if failed == 0 else 1


def _keys(admin_url: str, args: argparse.Namespace) -> int:
    """`wallet keys create|list|revoke`; a refused operation is one line on stderr, exit 1."""
    try:
        if args.keys_command == "create":
            scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
            new = keys.create_key(admin_url, args.name, scopes)
            print(f"created API key {new.name} (prefix {new.key_prefix})")
            print(f"scopes: {', '.join(new.scopes)}")
            print("store it now: it cannot be shown again")
            print(new.key)  # alone on the last line, for scripts
        elif args.keys_command == "list":
            _print_keys(keys.list_keys(admin_url))
        elif args.keys_command == "revoke":
            revoked_at, earlier = keys.revoke_key(admin_url, args.name)
            state = "was already revoked" if earlier else "revoked"
            print(f"API key {args.name} {state} at {_when(revoked_at)}")
        elif args.keys_command == "dev":
            key, made = keys.ensure_development_key(admin_url, args.file)
            print(f"{'created' if made else 'kept'} the development key in {args.file}")
            print(key)
    except keys.KeyRejectedError as exc:
        print(f"wallet keys {args.keys_command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def _print_keys(rows: list[keys.KeyInfo]) -> None:
    """One line per key; the last column is left unpadded."""
    table = [("name", "prefix", "scopes", "created", "revoked")]
    table += [
        (
            row.name,
            row.key_prefix,
            ",".join(row.scopes),
            _when(row.created_at),
            _when(row.revoked_at),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(4)]
    for line in table:
        padded = [line[column].ljust(widths[column]) for column in range(4)]
        print("  ".join([*padded, line[4]]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create roles if allowed, apply migrations and functions")
    commands.add_parser("seed", help="seed the contract's users (idempotent)")
    commands.add_parser("reconcile", help="prove the books; exit 1 on any discrepancy")
    keys_parser = commands.add_parser("keys", help="create, list and revoke API keys")
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="create a key and print it, once")
    create.add_argument("--name", required=True, help="1 to 64 of A-Z a-z 0-9 . _ -; never reused")
    create.add_argument("--scopes", required=True, help="comma-separated: " + ",".join(keys.SCOPES))
    keys_commands.add_parser("list", help="every key: name, prefix, scopes, created, revoked")
    revoke = keys_commands.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("name")
    dev = keys_commands.add_parser(
        "dev", help="print the development key kept in FILE, making one if it is missing or revoked"
    )
    dev.add_argument("file", type=Path)
    commands.add_parser(
        "serve", help="serve the HTTP API (WALLET_HOST, WALLET_PORT, WALLET_WORKERS)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"wallet: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from service.serve import serve

        return serve(settings)
    try:
        if args.command == "migrate":
            schema.migrate(settings.admin_database_url, service_url=settings.database_url)
        elif args.command == "seed":
            schema.seed(settings.admin_database_url)
        elif args.command == "reconcile":
            return _reconcile(settings.admin_database_url)
        elif args.command == "keys":
            return _keys(settings.admin_database_url, args)
    except psycopg.OperationalError as exc:
        print(f"wallet {args.command}: cannot reach PostgreSQL: {exc}".rstrip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
