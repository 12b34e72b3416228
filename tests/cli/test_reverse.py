"""`wallet reverse` against the test stack, as support staff run it (login wallet_job), and the
users in debt that `wallet reconcile` reports."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

import asyncpg
import pytest

from service.cli.reverse import CLIENT_ID, derived_key
from service.config import Settings, job_database_url
from tests.cli.test_cli import assert_bad_usage, wallet
from tests.support import GOLD, blocked_backend, wallet_locked

BIGINT_MAX = "9223372036854775807"


@dataclass(frozen=True)
class Purchase:
    """A user topped up with 10.00 gold coins, who then spent 8.00 of them."""

    user: str
    topup: int
    spend: int


@pytest.fixture
async def purchase(service_conn: asyncpg.Connection, unique: str) -> Purchase:
    user = f"rev-{unique}"
    topup = await service_conn.fetchval(
        "SELECT transaction_id FROM api.topup($1, $2, 10.00, $3)", user, GOLD, f"t-{unique}"
    )
    spend = await service_conn.fetchval(
        "SELECT transaction_id FROM api.spend($1, $2, 8.00, 'Legendary Sword', $3)",
        user,
        GOLD,
        f"s-{unique}",
    )
    return Purchase(user, topup, spend)


def reverse(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return wallet("reverse", *args, **env)


def printed(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """What a successful run printed, by label (the first 12 columns of each line)."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return {line[:12].strip(): line[12:] for line in result.stdout.splitlines()}


def refused(result: subprocess.CompletedProcess[str], code: str) -> str:
    """The one line a refusal prints on stderr, asserted to name `code`, with exit status 1."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"wallet reverse: {code}: "), line
    assert line.endswith("; nothing moved"), line
    return line


async def balance(conn: asyncpg.Connection, user: str) -> tuple[str, int]:
    """The user's gold coins and the wallet's version."""
    row = await conn.fetchrow(
        "SELECT balance, version FROM ledger.wallets WHERE owner_id = $1 AND asset_id = $2",
        user,
        GOLD,
    )
    return str(row["balance"]), row["version"]


async def reversals_of(conn: asyncpg.Connection, transaction: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, client_id, idempotency_key, description, reversal_mode::text AS mode"
        " FROM ledger.transactions WHERE reverses_transaction_id = $1 ORDER BY id",
        transaction,
    )


async def test_reversing_a_purchase_in_full_gives_the_coins_back_and_nothing_remains(
    purchase: Purchase, admin_conn: asyncpg.Connection
) -> None:
    out = printed(reverse(str(purchase.spend), "--reason", "Sword never delivered"))
    [made] = await reversals_of(admin_conn, purchase.spend)
    assert out["reversal"].startswith(f"{made['id']} (posted at ")
    assert out["reverses"] == f"transaction {purchase.spend}"
    assert out["user"] == f"{purchase.user}, balance after 10.00"
    assert "other user" not in out
    assert out["asset"] == GOLD
    assert out["amount"] == "8.00"
    assert out["remaining"] == f"0.00 of transaction {purchase.spend} left to reverse"
    assert await balance(admin_conn, purchase.user) == ("10.00", 3)
    assert (made["client_id"], made["description"], made["mode"]) == (
        CLIENT_ID,
        "Sword never delivered",
        "strict",
    )


async def test_reversing_in_part_leaves_the_rest_to_reverse(
    purchase: Purchase, admin_conn: asyncpg.Connection
) -> None:
    out = printed(reverse(str(purchase.spend), "--reason", "half refund", "--amount", "2.5"))
    assert (out["amount"], out["user"]) == ("2.50", f"{purchase.user}, balance after 4.50")
    assert out["remaining"] == f"5.50 of transaction {purchase.spend} left to reverse"
    # another reason is another reversal; the rest of what remains, with no --amount
    out = printed(reverse(str(purchase.spend), "--reason", "the other half"))
    assert (out["amount"], out["user"]) == ("5.50", f"{purchase.user}, balance after 10.00")
    assert out["remaining"].startswith("0.00 of")
    assert len(await reversals_of(admin_conn, purchase.spend)) == 2


async def test_the_same_command_run_again_reverses_once_and_says_it_was_already_done(
    purchase: Purchase, admin_conn: asyncpg.Connection
) -> None:
    first = printed(reverse(str(purchase.spend), "--reason", "duplicate charge", "--amount", "3"))
    # the same amount written otherwise is the same command
    again = printed(
        reverse(str(purchase.spend), "--amount", "3.00", "--reason", "duplicate charge")
    )
    [made] = await reversals_of(admin_conn, purchase.spend)
    assert made["idempotency_key"] == derived_key(
        purchase.spend, Decimal(3), "strict", "duplicate charge"
    )
    posted_at = first["reversal"].removeprefix(f"{made['id']} (posted at ").removesuffix(")")
    assert again["reversal"] == (
        f"{made['id']} (already done at {posted_at}: this run replayed it, nothing moved)"
    )
    assert {k: v for k, v in again.items() if k != "reversal"} == {
        k: v for k, v in first.items() if k != "reversal"
    }
    assert await balance(admin_conn, purchase.user) == ("5.00", 3)


def test_the_derived_key_is_made_of_transaction_amount_mode_and_reason() -> None:
    key = derived_key(42, None, "strict", "Sword never delivered")
    assert key.startswith("wallet-reverse:42:") and key.isascii() and len(key) <= 255
    assert derived_key(42, Decimal("30.50"), "strict", "r") == derived_key(
        42, Decimal("30.5"), "strict", "r"
    )
    others = {
        derived_key(43, None, "strict", "Sword never delivered"),
        derived_key(42, Decimal(30), "strict", "Sword never delivered"),
        derived_key(42, None, "allow_negative", "Sword never delivered"),
        derived_key(42, None, "strict", "Sword never delivered "),
    }
    assert key not in others and len(others) == 4


async def test_a_given_key_replays_with_the_same_arguments_and_is_refused_with_others(
    purchase: Purchase, admin_conn: asyncpg.Connection
) -> None:
    ticket = f"ZD-{purchase.user}"
    first = printed(reverse(str(purchase.spend), "--reason", "ticket", "--key", ticket))
    again = printed(reverse(str(purchase.spend), "--reason", "ticket", "--key", ticket))
    assert "already done" in again["reversal"] and again["amount"] == first["amount"] == "8.00"
    [made] = await reversals_of(admin_conn, purchase.spend)
    assert (made["client_id"], made["idempotency_key"]) == (CLIENT_ID, ticket)

    line = refused(
        reverse(str(purchase.topup), "--reason", "ticket", "--key", ticket),
        "idempotency_key_reused",
    )
    assert f"the key belongs to transaction {made['id']}" in line
    assert await reversals_of(admin_conn, purchase.topup) == []


async def test_a_transfers_reversal_names_both_users(
    service_conn: asyncpg.Connection, unique: str
) -> None:
    sender, recipient = f"rev-a-{unique}", f"rev-b-{unique}"
    await service_conn.execute("SELECT api.topup($1, $2, 20.00, $3)", sender, GOLD, f"t-{unique}")
    transfer = await service_conn.fetchval(
        "SELECT transaction_id FROM api.transfer($1, $2, $3, 5.00, 'gift', $4)",
        sender,
        recipient,
        GOLD,
        f"x-{unique}",
    )
    out = printed(reverse(str(transfer), "--reason", "sent to the wrong player"))
    assert out["user"] == f"{recipient}, balance after 0.00"
    assert out["other user"] == f"{sender}, balance after 20.00"
    assert out["amount"] == "5.00"


# (arguments after the transaction, the code, what its line says); the transaction is the
# purchase's top-up (10.00, of which 8.00 were spent) unless the case names another
REFUSALS = [
    pytest.param(
        ["{topup}", "--amount", "12"],
        "reversal_exceeds_original",
        "exceeds what remains of it (10.00); remaining: 10.00, requested: 12.00",
        id="more-than-the-original",
    ),
    pytest.param(
        ["{topup}"],
        "insufficient_funds",
        "has 2.00 GOLD_COIN, the reversal takes 10.00; balance: 2.00, requested: 10.00;"
        " hint: mode allow_negative",
        id="coins-already-spent",
    ),
    pytest.param(["{topup}", "--amount", "0"], "invalid_amount", "greater than zero", id="zero"),
    pytest.param(
        ["{topup}", "--amount", "0.001"], "invalid_amount", "more than 2 decimal places", id="scale"
    ),
    pytest.param(["{topup}", "--reason", "  "], "invalid_description", "reason", id="no-reason"),
    pytest.param(
        ["{topup}", "--key", "clé"], "idempotency_key_invalid", "printable ASCII", id="bad-key"
    ),
    pytest.param(["{topup}", "--key", ""], "idempotency_key_invalid", "printable", id="empty-key"),
    pytest.param(["{opening}"], "not_reversible", "is an opening balance", id="opening-balance"),
    pytest.param([BIGINT_MAX], "transaction_not_found", f"transaction {BIGINT_MAX} not found"),
]


@pytest.mark.parametrize(("args", "code", "says"), REFUSALS)
async def test_a_refusal_is_one_line_naming_its_code_with_exit_status_1_and_nothing_moves(
    purchase: Purchase, admin_conn: asyncpg.Connection, args: list[str], code: str, says: str
) -> None:
    opening = await admin_conn.fetchval(
        "SELECT min(id) FROM ledger.transactions WHERE type = 'opening_balance'"
    )
    before = await balance(admin_conn, purchase.user)
    ids = {"topup": purchase.topup, "opening": opening}
    transaction, *options = (arg.format(**ids) for arg in args)
    if "--reason" not in options:
        options += ["--reason", "store refund"]
    line = refused(reverse(transaction, *options), code)
    assert says in line
    assert await balance(admin_conn, purchase.user) == before
    assert await reversals_of(admin_conn, purchase.topup) == []


async def test_a_reversal_cannot_be_reversed(purchase: Purchase) -> None:
    out = printed(reverse(str(purchase.spend), "--reason", "refund"))
    reversal = out["reversal"].split()[0]
    line = refused(reverse(reversal, "--reason", "undo"), "not_reversible")
    assert f"transaction {reversal} is a reversal and cannot be reversed" in line


async def test_a_wallet_locked_too_long_is_lock_not_available_and_the_command_can_be_rerun(
    purchase: Purchase, admin_conn: asyncpg.Connection, settings: Settings
) -> None:
    command = (str(purchase.spend), "--reason", "refund")
    async with wallet_locked(admin_conn, purchase.user):
        result = await asyncio.to_thread(reverse, *command, WALLET_LOCK_TIMEOUT="200")
    line = refused(result, "lock_not_available (55P03)")
    assert "a wallet stayed locked longer than WALLET_LOCK_TIMEOUT" in line
    assert printed(reverse(*command))["amount"] == "8.00"


@asynccontextmanager
async def relayed(url: str) -> AsyncIterator[tuple[str, Callable[[], None]]]:
    """`url` through a TCP relay of this process, and a function that cuts every connection
    the relay carries, as a network failure would."""
    target = urlsplit(url)
    ends: list[asyncio.StreamWriter] = []

    async def relay(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        server, to_server = await asyncio.open_connection(target.hostname, target.port)
        ends.extend((to_client, to_server))

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(65536):
                    sink.write(chunk)

        await asyncio.gather(copy(client, to_server), copy(server, to_client))

    def cut() -> None:
        for end in ends:
            end.transport.abort()

    relay_server = await asyncio.start_server(relay, "127.0.0.1", 0)
    port = relay_server.sockets[0].getsockname()[1]
    try:
        yield url.replace(target.netloc, f"{target.username}@127.0.0.1:{port}"), cut
    finally:
        cut()
        relay_server.close()


async def test_a_connection_lost_during_the_call_says_to_run_the_same_command_again(
    purchase: Purchase, admin_conn: asyncpg.Connection, settings: Settings
) -> None:
    """The connection is cut while the call waits for a wallet's lock; the backend goes on,
    and makes the reversal once the lock is free. Only a second run can tell."""
    command = (str(purchase.spend), "--reason", "refund")
    async with relayed(job_database_url(settings)) as (url, cut):
        async with wallet_locked(admin_conn, purchase.user):
            run = asyncio.create_task(
                asyncio.to_thread(
                    reverse, *command, WALLET_JOB_DATABASE_URL=url, WALLET_LOCK_TIMEOUT="0"
                )
            )
            await blocked_backend(admin_conn, within=30)
            cut()
            result = await asyncio.wait_for(run, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("wallet reverse: lost the connection to PostgreSQL during the call (")
    assert line.endswith(
        "the reversal may or may not have been made; run the same command again,"
        " which reverses once"
    )
    again = printed(reverse(*command))
    assert "already done" in again["reversal"]
    assert len(await reversals_of(admin_conn, purchase.spend)) == 1


def test_the_services_login_may_not_use_the_commands_client_id(
    purchase: Purchase, settings: Settings
) -> None:
    result = reverse(
        str(purchase.spend), "--reason", "x", WALLET_JOB_DATABASE_URL=settings.database_url
    )
    line = refused(result, "client_id_forbidden")
    assert f"client id '{CLIENT_ID}' is not for login wallet_service" in line


def test_an_auditor_may_not_reverse(purchase: Purchase, settings: Settings) -> None:
    auditor = settings.database_url.replace("wallet_service@", "wallet_auditor@")
    result = reverse(str(purchase.spend), "--reason", "x", WALLET_JOB_DATABASE_URL=auditor)
    line = refused(result, "insufficient_privilege (42501)")
    assert "permission denied for function reverse" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["12", "--reason", "x", "--mode", "lenient"], "argument --mode: invalid choice"),
        (["12", "--reason", "x", "--amount", "-3"], "an amount is written like 30 or 29.99"),
        (["12", "--reason", "x", "--amount", "1e3"], "an amount is written like 30 or 29.99"),
        (["12", "--reason", "x", "--amount", "NaN"], "an amount is written like 30 or 29.99"),
        (["12"], "the following arguments are required: --reason"),
        (["12", "--reason", "\udcff"], "argument --reason: not UTF-8 text"),
        (["12", "--reason", "x", "--key", "k\udcff"], "argument --key: not UTF-8 text"),
        (["twelve", "--reason", "x"], "a transaction id is a whole number above 0"),
        (["0", "--reason", "x"], "a transaction id is a whole number above 0"),
    ],
)
def test_bad_usage_exits_with_status_2_as_argparse_does(args: list[str], says: str) -> None:
    assert_bad_usage(reverse(*args), says)


def test_postgresql_unreachable_exits_with_status_2() -> None:
    result = reverse("12", "--reason", "x", WALLET_JOB_DATABASE_URL="postgresql://n@127.0.0.1:1/n")
    assert result.returncode == 2
    assert "wallet reverse: cannot reach PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_store_refund_after_spending_leaves_a_debt_that_reconcile_reports_with_status_0(
    purchase: Purchase, admin_conn: asyncpg.Connection
) -> None:
    out = printed(
        reverse(str(purchase.topup), "--reason", "store refund", "--mode", "allow_negative")
    )
    assert out["user"] == f"{purchase.user}, balance after -8.00"
    assert out["amount"] == "10.00"
    [made] = await reversals_of(admin_conn, purchase.topup)
    assert made["mode"] == "allow_negative"

    result = wallet("reconcile")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "books balance"
    section = next(i for i, line in enumerate(lines) if line.startswith("users in debt: "))
    assert lines[section + 1].split() == ["user", "asset", "balance", "since", "reversals"]
    [debt] = [line for line in lines[section + 2 :] if line.startswith(purchase.user + " ")]
    user, asset, owed, day, time, reversals = debt.split()
    assert (user, asset, owed, reversals) == (purchase.user, "GOLD_COIN", "-8.00", str(made["id"]))
    assert datetime.fromisoformat(f"{day} {time}").tzinfo is not None
    assert "FAIL" not in result.stdout
