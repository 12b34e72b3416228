"""`wallet reconcile`: the trial balance and every check of api.reconcile(), one line each."""

from __future__ import annotations

import psycopg


def reconcile(database_url: str) -> int:
    """Prints the report; exit status 1 on any discrepancy."""
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
