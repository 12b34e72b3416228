"""`wallet limits show|list|set-asset|set-user|clear-user`: operators read and set the balance and
velocity limits (docs/sql-api.md, Limits) through the SQL API, as the trusted jobs' login
(WALLET_JOB_DATABASE_URL, wallet_job), which may call the setters but read no table.

A limit is written as an exact amount (500, 29.99) or `none` (no limit). The SQL setters state
the whole configuration at once; here an option left out keeps the value it has: `set-asset`
keeps the asset's, `set-user` what applies to the user now (their override's, else the asset's,
copied into the override, which always holds all three). The values kept are read in the same
REPEATABLE READ transaction as the setter runs in, so a change that commits in between (another
operator's) makes the setter fail with a serialization failure instead of being overwritten;
the command then reads and sets again.

wallet_job reads no table: a user's limits come from api.limits, the assets' own from
api.asset_limits, the overrides from api.limit_overrides.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import class_row

from service.cli.reverse import amount, utf8_text
from service.cli.text import failed, print_table, set_timeouts, when

NO_LIMIT = "none"
# (option's attribute, label and option name, api.limits column)
LIMITS = (
    ("max_balance", "max-balance", "max_balance"),
    ("daily_earn", "daily-earn", "daily_earn_limit"),
    ("daily_spend", "daily-spend", "daily_spend_limit"),
)
_ATTEMPTS = 5  # reads and sets again after a concurrent change this many times in all
_ADVICE = {
    "55P03": "the asset stayed locked (another change of its limits) longer than"
    " WALLET_LOCK_TIMEOUT; run the same command again",
    "57014": "it ran longer than WALLET_STATEMENT_TIMEOUT",
    "40001": f"the limits kept changing under this command ({_ATTEMPTS} tries); run it again",
}


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit as written on the command line: an amount, or None for `none` (no limit)."""

    value: Decimal | None


def limit(text: str) -> Limit:
    """argparse type: `none`, or an amount read exactly (never through a float). Whether it is
    above zero and has no more decimal places than the asset is the ledger's rule (WLIMT)."""
    if text == NO_LIMIT:
        return Limit(None)
    try:
        return Limit(amount(text))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"a limit is written like 500 or 29.99, or {NO_LIMIT} for no limit, not {text!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Limits:
    """A row of api.limits: a user's limits for one asset, as postings apply them."""

    asset_id: str
    source: str  # user (their override), asset, or none (the asset has no limits nor overrides)
    max_balance: Decimal | None
    daily_earn_limit: Decimal | None
    daily_spend_limit: Decimal | None
    day_time_zone: str
    earned_today: Decimal
    spent_today: Decimal
    resets_at: datetime


@dataclass(frozen=True, slots=True)
class AssetLimits:
    """A row of api.asset_limits: an asset's own limits (a user without an override's)."""

    asset_id: str
    has_limits: bool
    max_balance: Decimal | None
    daily_earn_limit: Decimal | None
    daily_spend_limit: Decimal | None
    day_time_zone: str
    overrides: int


@dataclass(frozen=True, slots=True)
class Override:
    """A row of api.limit_overrides: one user's override for one asset."""

    user_id: str
    asset_id: str
    max_balance: Decimal | None
    daily_earn_limit: Decimal | None
    daily_spend_limit: Decimal | None
    updated_at: datetime


@dataclass(slots=True)
class Report:
    """What a command prints: sentences, then a table (its header and rows)."""

    said: list[str]
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


_USER = "the user's id, as the HTTP API and the ledger know it"
_ASSET = "the asset's id, e.g. asset-gold-coin-001"
_LIMITS = (
    "SELECT asset_id, source, max_balance, daily_earn_limit, daily_spend_limit, day_time_zone,"
    " earned_today, spent_today, resets_at FROM api.limits(%s, %s)"
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`wallet limits` and its subcommands, under the `wallet` command's subparsers."""
    parser = commands.add_parser(
        "limits",
        help="show and set the assets' balance and daily limits and users' overrides"
        " (as wallet_job: WALLET_JOB_DATABASE_URL)",
        description="A limit is an amount (500, 29.99) or none. In set-asset and set-user an"
        " option left out keeps the limit as it is (docs/operations.md, Limits).",
    )
    sub = parser.add_subparsers(dest="limits_command", required=True)
    show = sub.add_parser(
        "show",
        help="a user's limits per asset as postings apply them, and the day's usage",
    )
    show.add_argument("user_id", type=utf8_text, metavar="USER_ID", help=_USER)
    show.add_argument("--asset", type=utf8_text, metavar="ASSET", help="only this asset")
    sub.add_parser(
        "list",
        help="every asset's own limits (those of users without an override) and how many"
        " overrides it has",
    )
    overrides = sub.add_parser("overrides", help="the users' overrides, by asset then user")
    overrides.add_argument("--asset", type=utf8_text, metavar="ASSET", help="only this asset")
    set_asset = sub.add_parser(
        "set-asset",
        help="an asset's limits, for every user without an override",
        description="Sets the asset's limits (api.set_asset_limits). An option left out keeps"
        " the asset's value, --time-zone included.",
    )
    set_asset.add_argument("asset_id", type=utf8_text, metavar="ASSET", help=_ASSET)
    _limit_options(set_asset, "the asset's")
    set_asset.add_argument(
        "--time-zone",
        type=utf8_text,
        metavar="TZ",
        help="the IANA zone whose midnight starts the day of the daily limits (UTC, Europe/Paris)",
    )
    set_user = sub.add_parser(
        "set-user",
        help="a user's override for an asset, which replaces the asset's three limits for them",
        description="Sets a user's override (api.set_user_limits): it holds all three limits"
        " and replaces the asset's for this user. An option left out keeps what applies to the"
        " user now: their override's value, else the asset's (copied into the override).",
    )
    set_user.add_argument("user_id", type=utf8_text, metavar="USER_ID", help=_USER)
    set_user.add_argument("asset_id", type=utf8_text, metavar="ASSET", help=_ASSET)
    _limit_options(set_user, "the user's")
    clear_user = sub.add_parser(
        "clear-user", help="remove a user's override: the asset's limits apply to them again"
    )
    clear_user.add_argument("user_id", type=utf8_text, metavar="USER_ID", help=_USER)
    clear_user.add_argument("asset_id", type=utf8_text, metavar="ASSET", help=_ASSET)
    for setter in (set_asset, set_user):
        setter.set_defaults(usage_error=setter.error)


def _limit_options(parser: argparse.ArgumentParser, whose: str) -> None:
    helps = {
        "max-balance": "the most a user's balance may be",
        "daily-earn": "the most a user may earn a day (top-ups, bonuses, transfers received)",
        "daily-spend": "the most a user may spend a day (spends, transfers sent)",
    }
    for attribute, name, _ in LIMITS:
        parser.add_argument(
            f"--{name}",
            dest=attribute,
            type=limit,
            metavar="X|none",
            help=f"{helps[name]}: {whose} limit, or {NO_LIMIT} (left out: kept as it is)",
        )


def limits_command(
    database_url: str, args: argparse.Namespace, *, lock_timeout_ms: int, statement_timeout_ms: int
) -> int:
    """Prints the limits; a refusal is one line on stderr naming its code, exit status 1. A
    connection lost during the call is exit status 2, as is one that cannot be made (left to
    the caller), and bad usage."""
    command = args.limits_command
    if command in ("set-asset", "set-user") and not _given(args):
        names = [name for _, name, _ in LIMITS] + (["time-zone"] if command == "set-asset" else [])
        args.usage_error(f"nothing to set: give at least one of --{', --'.join(names)}")
    name = f"wallet limits {command}"
    with psycopg.connect(database_url, autocommit=True, application_name=name) as conn:
        try:
            set_timeouts(
                conn, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms
            )
            report = _COMMANDS[command](conn, args)
        except psycopg.Error as exc:
            return failed(
                name,
                exc,
                advice=_ADVICE,
                outcome="" if command in _READS else "nothing changed",
                lost="a change may or may not have been made; `wallet limits show` or `list`"
                " tells, and running the same command again is harmless",
            )
    for line in report.said:
        print(line)
    print_table(report.header, report.rows)
    return 0


def _given(args: argparse.Namespace) -> bool:
    options = [getattr(args, attribute) for attribute, _, _ in LIMITS]
    options.append(getattr(args, "time_zone", None))  # set-asset's only
    return any(option is not None for option in options)


def _limits(conn: psycopg.Connection[Any], user: str, asset: str | None) -> list[Limits]:
    with conn.cursor(row_factory=class_row(Limits)) as cursor:
        return cursor.execute(_LIMITS, (user, asset)).fetchall()


def _assets_own(conn: psycopg.Connection[Any], asset: str | None) -> list[AssetLimits]:
    with conn.cursor(row_factory=class_row(AssetLimits)) as cursor:
        return cursor.execute(
            "SELECT asset_id, has_limits, max_balance, daily_earn_limit, daily_spend_limit,"
            " day_time_zone, overrides FROM api.asset_limits(%s)",
            (asset,),
        ).fetchall()


def _show(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    return _user_report([], _limits(conn, args.user_id, args.asset))


def _list(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    return _asset_report([], _assets_own(conn, None))


def _overrides(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    with conn.cursor(row_factory=class_row(Override)) as cursor:
        rows = cursor.execute(
            "SELECT user_id, asset_id, max_balance, daily_earn_limit, daily_spend_limit,"
            " updated_at FROM api.limit_overrides(%s)",
            (args.asset,),
        ).fetchall()
    names = [name for _, name, _ in LIMITS]
    return Report(
        [f"{len(rows)} override(s)"],
        ("user", "asset", *names, "updated-at"),
        [
            (
                row.user_id,
                row.asset_id,
                _text(row.max_balance),
                _text(row.daily_earn_limit),
                _text(row.daily_spend_limit),
                when(row.updated_at),
            )
            for row in rows
        ],
    )


def _read_and_set(conn: psycopg.Connection[Any], change: Callable[[], Report]) -> Report:
    """`change` in a REPEATABLE READ transaction, again if a concurrent change of the limits it
    read made its setter fail (the last failure is the command's)."""
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with conn.transaction():
                return change()
        except psycopg.errors.SerializationFailure:
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _chosen(
    args: argparse.Namespace, now: Limits | AssetLimits
) -> tuple[list[Decimal | None], list[str]]:
    """The three limits to set (an option given, else the value `now`) and the names kept."""
    values: list[Decimal | None] = []
    kept: list[str] = []
    for attribute, name, column in LIMITS:
        option: Limit | None = getattr(args, attribute)
        if option is None:
            values.append(getattr(now, column))
            kept.append(name)
        else:
            values.append(option.value)
    return values, kept


def _set_asset(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    asset = args.asset_id

    def change() -> Report:
        [now] = _assets_own(conn, asset)
        values, kept = _chosen(args, now)
        zone = args.time_zone
        if zone is None:
            zone, kept = now.day_time_zone, [*kept, "time-zone"]
        conn.execute(
            "SELECT FROM api.set_asset_limits(%s, %s::numeric, %s::numeric, %s::numeric, %s)",
            (asset, *values, zone),
        )
        said = [f"limits of {asset} set: they apply to every user without an override"]
        if kept:
            said.append(f"kept as they were: {', '.join(kept)}")
        return _asset_report(said, _assets_own(conn, asset))

    return _read_and_set(conn, change)


def _set_user(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    user, asset = args.user_id, args.asset_id

    def change() -> Report:
        [now] = _limits(conn, user, asset)
        values, kept = _chosen(args, now)
        conn.execute(
            "SELECT FROM api.set_user_limits(%s, %s, %s::numeric, %s::numeric, %s::numeric)",
            (user, asset, *values),
        )
        said = [f"override of {user} for {asset} set: it replaces the asset's limits for them"]
        if kept and now.source == "user":
            said.append(f"kept from the override: {', '.join(kept)}")
        elif kept:
            said.append(
                f"copied from the asset's limits: {', '.join(kept)} (an override holds all"
                " three: later changes of the asset's limits no longer apply to this user)"
            )
        return _user_report(said, _limits(conn, user, asset))

    return _read_and_set(conn, change)


def _clear_user(conn: psycopg.Connection[Any], args: argparse.Namespace) -> Report:
    user, asset = args.user_id, args.asset_id
    with conn.transaction():
        row = conn.execute("SELECT api.clear_user_limits(%s, %s)", (user, asset)).fetchone()
        rows = _limits(conn, user, asset)
    if row is not None and row[0]:
        said = f"override of {user} for {asset} removed: the asset's limits apply to them"
    else:
        said = f"{user} had no override for {asset}: nothing changed"
    return _user_report([said], rows)


_READS = ("show", "list", "overrides")
_COMMANDS: dict[str, Callable[[psycopg.Connection[Any], argparse.Namespace], Report]] = {
    "show": _show,
    "list": _list,
    "overrides": _overrides,
    "set-asset": _set_asset,
    "set-user": _set_user,
    "clear-user": _clear_user,
}


def _text(value: Decimal | None) -> str:
    return NO_LIMIT if value is None else str(value)


def _asset_report(said: list[str], rows: Sequence[AssetLimits]) -> Report:
    """The assets' own configuration, one line per asset."""
    names = [name for _, name, _ in LIMITS]
    return Report(
        said,
        ("asset", *names, "time-zone", "overrides"),
        [
            (
                row.asset_id,
                _text(row.max_balance),
                _text(row.daily_earn_limit),
                _text(row.daily_spend_limit),
                row.day_time_zone,
                str(row.overrides),
            )
            for row in rows
        ],
    )


def _user_report(said: list[str], rows: Sequence[Limits]) -> Report:
    """A user's limits, one line per asset: where they come from and the day's usage."""
    names = [name for _, name, _ in LIMITS]
    return Report(
        said,
        ("asset", "source", *names, "time-zone", "earned-today", "spent-today", "resets-at"),
        [
            (
                row.asset_id,
                row.source,
                _text(row.max_balance),
                _text(row.daily_earn_limit),
                _text(row.daily_spend_limit),
                row.day_time_zone,
                str(row.earned_today),
                str(row.spent_today),
                when(row.resets_at),
            )
            for row in rows
        ],
    )
