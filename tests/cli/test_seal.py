"""`wallet seal`, `wallet seal-head`, and `wallet reconcile` proving the seal chain (issue 18): a
superuser's edit of a sealed transaction's amount, user or metadata (the immutability triggers
disabled) makes reconcile exit 1 naming that transaction."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from tests.cli.test_cli import wallet
from tests.support import GOLD

HEAD = re.compile(r"(\d+) ([0-9a-f]{64}) (\S+) unsealed (\d+)\n")


def test_seal_seals_what_is_committed_and_prints_the_head() -> None:
    result = wallet("seal")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines(keepends=True)
    assert re.fullmatch(r"sealed: \d+\n", lines[0]) or "another sealer" in lines[0], lines
    head = wallet("seal-head")
    assert head.returncode == 0, head.stderr
    assert HEAD.fullmatch(head.stdout), head.stdout


async def _tampered(
    admin_conn: asyncpg.Connection, table: str, trigger: str, set_: str, where: str, undo: str
) -> Callable[[], Awaitable[None]]:
    """Edits a row behind the ledger's back (its trigger off for the edit); returns the undo."""

    async def edit(assignment: str) -> None:
        async with admin_conn.transaction():
            await admin_conn.execute(f"ALTER TABLE ledger.{table} DISABLE TRIGGER {trigger}")
            await admin_conn.execute(f"UPDATE ledger.{table} SET {assignment} WHERE {where}")  # noqa: S608
            await admin_conn.execute(f"ALTER TABLE ledger.{table} ENABLE TRIGGER {trigger}")

    await edit(set_)
    return lambda: edit(undo)


@pytest.mark.parametrize(
    ("what", "table", "trigger", "set_", "undo"),
    [
        ("amount", "entries", "entries_are_immutable", "amount = amount + 1",
         "amount = amount - 1"),
        ("user", "wallets", "wallets_identity", "owner_id = owner_id || '-x'",
         "owner_id = left(owner_id, -2)"),
        ("metadata", "transactions", "transactions_are_immutable",
         "metadata = '{\"edited\": true}'", "metadata = '{}'"),
    ],
)  # fmt: skip
async def test_reconcile_exits_1_naming_a_sealed_transaction_edited_by_a_superuser(
    admin_conn: asyncpg.Connection,
    service_conn: asyncpg.Connection,
    unique: str,
    what: str,
    table: str,
    trigger: str,
    set_: str,
    undo: str,
) -> None:
    user = f"seal-{what}-{unique}"
    row = await service_conn.fetchrow("SELECT * FROM api.topup($1, $2, 5.00, $3)", user, GOLD, user)
    assert wallet("seal").returncode == 0
    tx, wallet_id = row["transaction_id"], row["wallet_id"]
    where = {
        "entries": f"transaction_id = {int(tx)} AND wallet_id = {int(wallet_id)}",
        "wallets": f"id = {int(wallet_id)}",
        "transactions": f"id = {int(tx)}",
    }[table]
    undo_edit = await _tampered(admin_conn, table, trigger, set_, where, undo)
    try:
        result = wallet("reconcile")
    finally:
        await undo_edit()
    assert result.returncode == 1, result.stdout
    assert f"(transaction {tx}): transaction {tx} does not hash to its seal" in result.stdout
    assert "FAIL the seal chain holds" in result.stdout
    after = wallet("reconcile")
    assert after.returncode == 0, after.stdout
    assert "ok   the seal chain holds" in after.stdout
