"""`wallet reconcile`: the trial balance, every check of api.reconcile(), one line each, and the
users in debt (api.negative_balances()), which are reported, not counted as discrepancies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg

from service.cli.text import print_table, when


def reconcile(database_url: str) -> int:
    """Prints the report; exit status 1 on any discrepancy (debts are none)."""
    with psycopg.connect(database_url) as conn:
        conn.read_only = True
        checks = conn.execute("SELECT * FROM api.reconcile()").fetchall()
        report = conn.execute(
            "SELECT asset_code, treasury_balance, revenue_balance, holds_balance, user_balances,"
            " user_wallets FROM api.trial_balance"
        ).fetchall()
        debts = conn.execute(
            "SELECT user_id, asset_code, balance, since, reversals FROM api.negative_balances()"
        ).fetchall()
    # Each row sums to zero: what the Treasury issued is in Revenue, in the holds account (the
    # open holds) or with the users.
    print(
        f"{'asset':<14} {'treasury':>18} {'revenue':>16} {'held':>16} {'users':>16} {'wallets':>8}"
    )
    for code, treasury, revenue, held, users, wallets in report:
        print(f"{code:<14} {treasury:>18} {revenue:>16} {held:>16} {users:>16} {wallets:>8}")
    failed = 0
    for name, ok, problems, detail in checks:
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}" + ("" if ok else f" ({problems})"))
    _print_debts(debts)
    print("books balance" if failed == 0 else f"{failed} check(s) failed")
    return 0 if failed == 0 else 1


def _print_debts(debts: list[tuple[str, str, Decimal, datetime | None, list[int]]]) -> None:
    """Users below zero after an allow_negative reversal (a store refund of coins already
    spent): a report for support and finance; later credits pay the debt."""
    if not debts:
        print("users in debt: none")
        return
    print(f"users in debt: {len(debts)} (reversals took them below zero; not a discrepancy)")
    print_table(
        ("user", "asset", "balance", "since", "reversals"),
        [
            (user, asset, str(balance), when(since), ",".join(map(str, reversals)) or "-")
            for user, asset, balance, since, reversals in debts
        ],
    )
