"""`wallet reconcile`: the trial balance, every check of api.reconcile(), one line each, the seal
chain recomputed from the ledger (api.verify_seal(): the first transaction whose hash does not
match is a failure), what is left unsealed longer than UNSEALED_BOUND (reported: no sealer may
be running), and the users in debt (api.negative_balances()), which are reported, not counted as
discrepancies."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import psycopg

from service.cli.text import print_table, when

# A transaction unsealed longer than this is reported: the sealer (every WALLET_SEAL_INTERVAL_MS)
# is not running, or cannot keep up
UNSEALED_BOUND = timedelta(seconds=60)


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
        chain = conn.execute(
            "SELECT checked, first_bad_sequence, first_bad_transaction_id, problem"
            " FROM api.verify_seal()"
        ).fetchone()
        unsealed = conn.execute(
            "SELECT unsealed, oldest_unsealed_at, now() - oldest_unsealed_at FROM api.seal_status()"
        ).fetchone()
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
    assert chain is not None and unsealed is not None
    checked, bad_sequence, bad_transaction, problem = chain
    if problem is None:
        print(f"ok   the seal chain holds: {checked} seals recomputed from the ledger")
    else:
        failed += 1
        print(
            f"FAIL the seal chain holds: seal {bad_sequence} (transaction {bad_transaction}):"
            f" {problem}; the {checked} seals before it hold"
        )
    count, oldest, age = unsealed
    if count and age is not None and age > UNSEALED_BOUND:
        print(
            f"warn unsealed: {count} transaction(s), the oldest from {when(oldest)}, longer than"
            f" {int(UNSEALED_BOUND.total_seconds())} s: is a sealer running"
            " (WALLET_SEAL_INTERVAL_MS, or `wallet seal`)?"
        )
    else:
        print(f"unsealed: {count}")
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
