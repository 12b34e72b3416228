"""`wallet limits` against the test stack, as operators run it (login wallet_job): what each
subcommand prints and writes, its refusals and bad usage, and that the limits it sets are then
enforced by the ledger.

Overrides are set on per-test users only, and asset limits on LOYALTY only, which the fixture
`cleanup` puts back as they were (other tests share the database)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import asyncpg
import pytest

from service.config import Settings
from tests.cli.test_cli import assert_bad_usage, wallet
from tests.support import GOLD, blocked_backend

LOYALTY = "asset-loyalty-001"
USER_HEADER = [
    "asset", "source", "max-balance", "daily-earn", "daily-spend", "time-zone", "earned-today",
    "spent-today", "resets-at",
]  # fmt: skip
ASSET_HEADER = ["asset", "max-balance", "daily-earn", "daily-spend", "time-zone", "overrides"]
ASSET_CONFIG = (
    "SELECT max_balance, daily_earn_limit, daily_spend_limit, day_time_zone, has_limits"
    " FROM ledger.assets WHERE id = $1"
)
OVERRIDE = (
    "SELECT max_balance, daily_earn_limit, daily_spend_limit FROM ledger.user_limits"
    " WHERE user_id = $1 AND asset_id = $2"
)


def limits(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return wallet("limits", *args, **env)


def printed(
    result: subprocess.CompletedProcess[str], header: list[str]
) -> tuple[list[str], list[dict[str, str]]]:
    """What a successful run printed: its sentences, and the table's rows by column (columns are
    two or more spaces apart)."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split() == header)
    rows = [re.split(r" {2,}", line) for line in lines[start + 1 :]]
    assert all(len(row) == len(header) for row in rows), lines
    return lines[:start], [dict(zip(header, row, strict=True)) for row in rows]


def refused(result: subprocess.CompletedProcess[str], command: str, code: str) -> str:
    """The one line a refusal prints on stderr, asserted to name `code`, with exit status 1."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"wallet limits {command}: {code}: "), line
    return line


def text(value: Decimal | None) -> str:
    return "none" if value is None else f"{value:.2f}"


@pytest.fixture
async def cleanup(admin_conn: asyncpg.Connection, unique: str) -> AsyncIterator[str]:
    """The test's user id prefix; at the end the overrides of its users are cleared and
    LOYALTY's limits put back as they were (the setters then recompute has_limits)."""
    before = await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY)
    try:
        yield f"lim-{unique}"
    finally:
        await admin_conn.execute(
            "SELECT api.clear_user_limits(user_id, asset_id) FROM ledger.user_limits"
            " WHERE user_id LIKE $1",
            f"lim-{unique}%",
        )
        await admin_conn.execute(
            "SELECT FROM api.set_asset_limits($1, $2, $3, $4, $5)", LOYALTY, *list(before)[:4]
        )


async def posting_refused(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    """The SQLSTATE a posting is refused with."""
    with pytest.raises(asyncpg.PostgresError) as refusal:
        await conn.execute(sql, *args)
    return str(refusal.value.sqlstate)


# ----------------------------------------------------------------------------------------------
# show and list
# ----------------------------------------------------------------------------------------------
async def test_show_prints_a_users_limits_their_source_and_the_days_usage(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    user = f"{cleanup}-show"
    await admin_conn.execute("SELECT FROM api.set_user_limits($1, $2, NULL, 500, 80.5)", user, GOLD)
    await admin_conn.execute("SELECT api.topup($1, $2, 30, $3)", user, GOLD, f"{user}-t")
    await admin_conn.execute(
        "SELECT api.spend($1, $2, 12.25, 'potion', $3)", user, GOLD, f"{user}-s"
    )
    said, rows = printed(limits("show", user, "--asset", GOLD), USER_HEADER)
    resets_at = await admin_conn.fetchval("SELECT resets_at FROM api.limits($1, $2)", user, GOLD)
    assert said == []
    assert rows == [
        {
            "asset": GOLD,
            "source": "user",
            "max-balance": "none",
            "daily-earn": "500.00",
            "daily-spend": "80.50",
            "time-zone": "UTC",
            "earned-today": "30.00",
            "spent-today": "12.25",
            "resets-at": rows[0]["resets-at"],
        }
    ]
    assert datetime.fromisoformat(rows[0]["resets-at"]) == resets_at
    # every asset without --asset, the others as the asset has them
    _, rows = printed(limits("show", user), USER_HEADER)
    assets = await admin_conn.fetch("SELECT id, has_limits FROM ledger.assets ORDER BY id")
    assert [row["asset"] for row in rows] == [asset["id"] for asset in assets]
    for row, asset in zip(rows, assets, strict=True):
        if asset["id"] != GOLD:
            assert row["source"] == ("asset" if asset["has_limits"] else "none"), row


async def test_list_prints_every_assets_own_limits_whatever_the_overrides(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    await admin_conn.execute(
        "SELECT FROM api.set_asset_limits($1, 1000, NULL, 25.5, 'Europe/Paris')", LOYALTY
    )
    await admin_conn.execute(
        "SELECT FROM api.set_user_limits($1, $2, 5, 5, 5)", f"{cleanup}-vip", LOYALTY
    )
    said, rows = printed(limits("list"), ASSET_HEADER)
    assert said == []
    assets = await admin_conn.fetch(
        "SELECT id, max_balance, daily_earn_limit, daily_spend_limit, day_time_zone,"
        " (SELECT count(*) FROM ledger.user_limits AS u WHERE u.asset_id = a.id) AS overrides"
        " FROM ledger.assets AS a ORDER BY id"
    )
    assert rows == [
        {
            "asset": asset["id"],
            "max-balance": text(asset["max_balance"]),
            "daily-earn": text(asset["daily_earn_limit"]),
            "daily-spend": text(asset["daily_spend_limit"]),
            "time-zone": asset["day_time_zone"],
            "overrides": str(asset["overrides"]),
        }
        for asset in assets
    ]
    assert rows[[a["id"] for a in assets].index(LOYALTY)] == {
        "asset": LOYALTY,
        "max-balance": "1000.00",
        "daily-earn": "none",
        "daily-spend": "25.50",
        "time-zone": "Europe/Paris",
        "overrides": "1",
    }


async def test_overrides_lists_the_users_overrides_by_asset_then_user(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    header = ["user", "asset", "max-balance", "daily-earn", "daily-spend", "updated-at"]
    await admin_conn.execute(
        "SELECT FROM api.set_user_limits($1, $2, NULL, 5, 7.5)", f"{cleanup}-b", LOYALTY
    )
    await admin_conn.execute(
        "SELECT FROM api.set_user_limits($1, $2, 100, NULL, NULL)", f"{cleanup}-a", LOYALTY
    )
    said, rows = printed(limits("overrides", "--asset", LOYALTY), header)
    mine = [r for r in rows if r["user"].startswith(cleanup)]
    assert [(r["user"], r["max-balance"], r["daily-earn"], r["daily-spend"]) for r in mine] == [
        (f"{cleanup}-a", "100.00", "none", "none"),
        (f"{cleanup}-b", "none", "5.00", "7.50"),
    ]
    assert said == [f"{len(rows)} override(s)"]
    assert all(r["asset"] == LOYALTY for r in rows)
    refused(limits("overrides", "--asset", "asset-nope"), "overrides", "unknown_asset")


# ----------------------------------------------------------------------------------------------
# set-asset
# ----------------------------------------------------------------------------------------------
async def test_set_asset_sets_the_asset_limits_and_an_option_left_out_keeps_its_value(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    said, rows = printed(
        limits(
            "set-asset", LOYALTY, "--max-balance", "10000", "--daily-earn", "500",
            "--daily-spend", "299.99", "--time-zone", "America/New_York",
        ),
        ASSET_HEADER,
    )  # fmt: skip
    assert said == [f"limits of {LOYALTY} set: they apply to every user without an override"]
    assert rows == [
        {
            "asset": LOYALTY,
            "max-balance": "10000.00",
            "daily-earn": "500.00",
            "daily-spend": "299.99",
            "time-zone": "America/New_York",
            "overrides": "0",
        }
    ]
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY)) == (
        Decimal(10000), Decimal(500), Decimal("299.99"), "America/New_York", True
    )  # fmt: skip

    # none clears one; the others, and the time zone, stay (the SQL setter's default is UTC)
    said, rows = printed(limits("set-asset", LOYALTY, "--daily-earn", "none"), ASSET_HEADER)
    assert said[1:] == ["kept as they were: max-balance, daily-spend, time-zone"]
    assert (rows[0]["max-balance"], rows[0]["daily-earn"]) == ("10000.00", "none")
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY)) == (
        Decimal(10000), None, Decimal("299.99"), "America/New_York", True
    )  # fmt: skip

    said, rows = printed(limits("set-asset", LOYALTY, "--time-zone", "UTC"), ASSET_HEADER)
    assert said[1:] == ["kept as they were: max-balance, daily-earn, daily-spend"]
    assert rows[0]["time-zone"] == "UTC"
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY)) == (
        Decimal(10000), None, Decimal("299.99"), "UTC", True
    )  # fmt: skip

    # all three none: the asset has no limits, and postings skip them again (has_limits)
    printed(
        limits(
            "set-asset", LOYALTY, "--max-balance", "none", "--daily-earn", "none",
            "--daily-spend", "none",
        ),
        ASSET_HEADER,
    )  # fmt: skip
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY)) == (
        None, None, None, "UTC", False
    )  # fmt: skip


async def test_a_limit_set_on_the_asset_is_enforced_and_none_lifts_it(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    user = f"{cleanup}-cap"
    printed(limits("set-asset", LOYALTY, "--max-balance", "100"), ASSET_HEADER)
    await admin_conn.execute("SELECT api.topup($1, $2, 60, $3)", user, LOYALTY, f"{user}-1")
    topup = "SELECT api.topup($1, $2, 50, $3)"
    assert await posting_refused(admin_conn, topup, user, LOYALTY, f"{user}-2") == "WBLIM"
    printed(limits("set-asset", LOYALTY, "--max-balance", "none"), ASSET_HEADER)
    await admin_conn.execute(topup, user, LOYALTY, f"{user}-2")
    balance = await admin_conn.fetchval("SELECT balance FROM api.balances($1, $2)", user, LOYALTY)
    assert balance == Decimal("110.00")


async def test_a_change_committed_between_the_read_and_the_set_is_kept_not_overwritten(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    """Another operator changes the daily earn limit while the command, having read it, waits
    for the asset's row: the command reads again and keeps the new value."""
    transaction = admin_conn.transaction()
    await transaction.start()
    try:
        await admin_conn.execute("SELECT FROM api.set_asset_limits($1, NULL, 777, NULL)", LOYALTY)
        run = asyncio.create_task(
            asyncio.to_thread(limits, "set-asset", LOYALTY, "--max-balance", "100")
        )
        await blocked_backend(admin_conn, within=30)
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()
    said, rows = printed(await asyncio.wait_for(run, timeout=60), ASSET_HEADER)
    assert said[1:] == ["kept as they were: daily-earn, daily-spend, time-zone"]
    assert (rows[0]["max-balance"], rows[0]["daily-earn"]) == ("100.00", "777.00")
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY))[:2] == (
        Decimal(100), Decimal(777)
    )  # fmt: skip


async def test_an_asset_locked_too_long_is_lock_not_available_and_nothing_changes(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    async with admin_conn.transaction():
        await admin_conn.execute("SELECT FROM ledger.assets WHERE id = $1 FOR UPDATE", LOYALTY)
        result = await asyncio.to_thread(
            limits, "set-asset", LOYALTY, "--max-balance", "100", WALLET_LOCK_TIMEOUT="200"
        )
    line = refused(result, "set-asset", r"lock_not_available (55P03)")
    assert "the asset stayed locked" in line and line.endswith("; nothing changed")
    assert (await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY))["max_balance"] is None


# ----------------------------------------------------------------------------------------------
# set-user and clear-user
# ----------------------------------------------------------------------------------------------
async def test_set_user_copies_what_it_leaves_out_from_the_asset_then_keeps_the_overrides(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    user = f"{cleanup}-vip"
    await admin_conn.execute("SELECT FROM api.set_asset_limits($1, 1000, 100, 50)", LOYALTY)
    said, rows = printed(
        limits("set-user", user, LOYALTY, "--max-balance", "none", "--daily-earn", "5000"),
        USER_HEADER,
    )
    assert said == [
        f"override of {user} for {LOYALTY} set: it replaces the asset's limits for them",
        "copied from the asset's limits: daily-spend (an override holds all three: later"
        " changes of the asset's limits no longer apply to this user)",
    ]
    [row] = rows
    assert (row["asset"], row["source"]) == (LOYALTY, "user")
    assert (row["max-balance"], row["daily-earn"], row["daily-spend"]) == (
        "none",
        "5000.00",
        "50.00",
    )
    assert tuple(await admin_conn.fetchrow(OVERRIDE, user, LOYALTY)) == (
        None, Decimal(5000), Decimal(50)
    )  # fmt: skip

    said, rows = printed(limits("set-user", user, LOYALTY, "--daily-spend", "75"), USER_HEADER)
    assert said[1:] == ["kept from the override: max-balance, daily-earn"]
    assert tuple(await admin_conn.fetchrow(OVERRIDE, user, LOYALTY)) == (
        None, Decimal(5000), Decimal(75)
    )  # fmt: skip
    # the asset's limits are untouched
    assert tuple(await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY))[:3] == (
        Decimal(1000), Decimal(100), Decimal(50)
    )  # fmt: skip


async def test_an_override_set_with_the_command_is_enforced(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    user = f"{cleanup}-capped"
    printed(limits("set-user", user, GOLD, "--max-balance", "50", "--daily-spend", "none"),
            USER_HEADER)  # fmt: skip
    await admin_conn.execute("SELECT api.topup($1, $2, 40, $3)", user, GOLD, f"{user}-1")
    topup = "SELECT api.topup($1, $2, 20, $3)"
    assert await posting_refused(admin_conn, topup, user, GOLD, f"{user}-2") == "WBLIM"

    printed(limits("set-user", user, GOLD, "--max-balance", "none", "--daily-earn", "45"),
            USER_HEADER)  # fmt: skip
    # 40 earned today already, counted since the asset had limits (the override)
    assert await posting_refused(admin_conn, topup, user, GOLD, f"{user}-3") == "WVLIM"
    _, [row] = printed(limits("show", user, "--asset", GOLD), USER_HEADER)
    assert (row["daily-earn"], row["earned-today"]) == ("45.00", "40.00")


async def test_clear_user_removes_the_override_and_says_so_when_there_was_none(
    admin_conn: asyncpg.Connection, cleanup: str
) -> None:
    user = f"{cleanup}-freed"
    await admin_conn.execute(
        "SELECT FROM api.set_user_limits($1, $2, 10, NULL, NULL)", user, LOYALTY
    )
    assert (await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY))["has_limits"]
    said, [row] = printed(limits("clear-user", user, LOYALTY), USER_HEADER)
    assert said == [f"override of {user} for {LOYALTY} removed: the asset's limits apply to them"]
    assert (row["source"], row["max-balance"]) == ("none", "none")
    assert await admin_conn.fetchrow(OVERRIDE, user, LOYALTY) is None
    assert not (await admin_conn.fetchrow(ASSET_CONFIG, LOYALTY))["has_limits"]
    # the capped top-up now passes
    await admin_conn.execute("SELECT api.topup($1, $2, 20, $3)", user, LOYALTY, f"{user}-1")

    said, _ = printed(limits("clear-user", user, LOYALTY), USER_HEADER)
    assert said == [f"{user} had no override for {LOYALTY}: nothing changed"]


# ----------------------------------------------------------------------------------------------
# Refusals and bad usage
# ----------------------------------------------------------------------------------------------
# (arguments, the code, what its line says); {user} is the test's user
REFUSALS = [
    pytest.param(["set-asset", "asset-nope", "--max-balance", "5"], "unknown_asset",
                 "unknown asset 'asset-nope'", id="set-asset-unknown-asset"),
    pytest.param(["set-user", "{user}", "asset-nope", "--max-balance", "5"], "unknown_asset",
                 "unknown asset 'asset-nope'", id="set-user-unknown-asset"),
    pytest.param(["clear-user", "{user}", "asset-nope"], "unknown_asset",
                 "unknown asset 'asset-nope'", id="clear-user-unknown-asset"),
    pytest.param(["show", "{user}", "--asset", "asset-nope"], "unknown_asset",
                 "unknown asset 'asset-nope'", id="show-unknown-asset"),
    pytest.param(["set-asset", LOYALTY, "--max-balance", "0"], "invalid_limit",
                 "invalid maximum balance: 0; hint: a limit is NULL (none) or an amount above"
                 " zero with at most 2 decimal places", id="zero"),
    pytest.param(["set-asset", LOYALTY, "--daily-spend", "0.001"], "invalid_limit",
                 "invalid daily spend limit: 0.001", id="scale"),
    pytest.param(["set-user", "{user}", LOYALTY, "--daily-earn", "1.005"], "invalid_limit",
                 "invalid daily earn limit: 1.005", id="set-user-scale"),
    pytest.param(["set-asset", LOYALTY, "--time-zone", "Mars/Olympus"], "invalid_limit",
                 "unknown time zone 'Mars/Olympus'; hint: the day's time zone is an IANA name",
                 id="time-zone"),
    pytest.param(["set-user", "not a user!", LOYALTY, "--max-balance", "5"], "invalid_user_id",
                 "invalid user id", id="set-user-bad-user"),
    pytest.param(["show", "not a user!"], "invalid_user_id", "invalid user id", id="show-bad-user"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "says"), REFUSALS)
async def test_a_refusal_is_one_line_naming_its_code_with_exit_status_1_and_nothing_changes(
    admin_conn: asyncpg.Connection, cleanup: str, args: list[str], code: str, says: str
) -> None:
    user = f"{cleanup}-refused"
    before = await admin_conn.fetch("SELECT * FROM ledger.assets ORDER BY id")
    command, *rest = (arg.format(user=user) for arg in args)
    line = refused(limits(command, *rest), command, code)
    assert says in line, line
    assert line.endswith("; nothing changed") == (command != "show"), line
    assert await admin_conn.fetch("SELECT * FROM ledger.assets ORDER BY id") == before
    assert await admin_conn.fetchval(
        "SELECT count(*) FROM ledger.user_limits WHERE user_id LIKE $1", f"{cleanup}%"
    ) == 0  # fmt: skip


def test_the_services_login_may_read_a_users_limits_but_not_list_or_set_them(
    settings: Settings,
) -> None:
    as_service = {"WALLET_JOB_DATABASE_URL": settings.database_url}
    printed(limits("show", "anyone", **as_service), USER_HEADER)
    # the configuration is the jobs' to read (api.asset_limits is not the service's)
    refused(limits("list", **as_service), "list", "insufficient_privilege (42501)")
    line = refused(
        limits("set-asset", LOYALTY, "--max-balance", "5", **as_service),
        "set-asset",
        "insufficient_privilege (42501)",
    )
    # refused at its first read of the configuration, before the setter
    assert "permission denied for function asset_limits" in line


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["set-asset", LOYALTY], "nothing to set: give at least one of --max-balance,"
         " --daily-earn, --daily-spend, --time-zone"),
        (["set-user", "u", LOYALTY], "nothing to set: give at least one of --max-balance,"
         " --daily-earn, --daily-spend"),
        (["set-asset", LOYALTY, "--max-balance", "-5"], "argument --max-balance: a limit is"
         " written like 500 or 29.99, or none for no limit, not '-5'"),
        (["set-asset", LOYALTY, "--daily-earn", "1e3"], "a limit is written like"),
        (["set-asset", LOYALTY, "--daily-spend", "NaN"], "a limit is written like"),
        (["set-asset", LOYALTY, "--daily-spend", "None"], "a limit is written like"),
        (["set-asset", LOYALTY, "--daily-spend", "1,5"], "a limit is written like"),
        (["set-user", "u", LOYALTY, "--time-zone", "UTC"], "unrecognized arguments: --time-zone"),
        (["set-user", "u"], "the following arguments are required: ASSET"),
        (["show"], "the following arguments are required: USER_ID"),
        (["show", "u\udcff"], "argument USER_ID: not UTF-8 text"),
        (["clear-user", "u"], "the following arguments are required: ASSET"),
        (["raise"], "argument limits_command: invalid choice: 'raise'"),
        ([], "the following arguments are required: limits_command"),
    ],
)  # fmt: skip
def test_bad_usage_exits_with_status_2_as_argparse_does(args: list[str], says: str) -> None:
    assert_bad_usage(limits(*args), says)


def test_postgresql_unreachable_exits_with_status_2() -> None:
    result = limits("list", WALLET_JOB_DATABASE_URL="postgresql://n@127.0.0.1:1/n")
    assert_bad_usage(result, "wallet limits: cannot reach PostgreSQL")
