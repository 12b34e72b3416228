"""The `wallet` command: migrate, seed and reconcile (and, with the HTTP service, serve)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg

from service import schema
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create roles if allowed, apply migrations and functions")
    commands.add_parser("seed", help="seed the contract's users (idempotent)")
    commands.add_parser("reconcile", help="prove the books; exit 1 on any discrepancy")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        if args.command == "migrate":
            schema.migrate(settings.admin_database_url)
        elif args.command == "seed":
            schema.seed(settings.admin_database_url)
        elif args.command == "reconcile":
            return _reconcile(settings.admin_database_url)
    except psycopg.OperationalError as exc:
        print(f"wallet {args.command}: cannot reach PostgreSQL: {exc}".rstrip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
