"""`wallet grant` against the test stack, as an operator runs it (login wallet_job): what it
posts, that running it again (after a SIGKILL at any moment too) grants each line once, its bad
lines, refusals and summary; and its parts (keys, progress, the file's reading) on their own.

Every test grants to users of its own (`unique`), so the ledger's other users never change."""

from __future__ import annotations

import asyncio
import io
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from service.cli import grant as grant_module
from service.cli.grant import CLIENT_ID, Item, Progress, chunk_key, read_grant
from tests.cli.test_cli import assert_bad_usage, wallet
from tests.support import GOLD, ROOT

LOYALTY = "asset-loyalty-001"
SUMMARY = re.compile(r"^(\w[\w ]*?) {2,}(.*)$", re.M)


def grant(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return wallet("grant", *map(str, args))


async def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(grant, *args)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The summary's lines by label (columns two or more spaces apart)."""
    return dict(SUMMARY.findall(result.stdout))


def counts(result: subprocess.CompletedProcess[str]) -> tuple[int, int, int]:
    """(posted, already done, failed) of the summary."""
    said = summary(result)
    return tuple(int(said[label].split()[0]) for label in ("posted", "already done", "failed"))  # type: ignore[return-value]


def write(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


async def balances(conn: asyncpg.Connection, prefix: str, asset: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT owner_id, balance FROM ledger.wallets WHERE owner_id LIKE $1 || '%' AND"
        " asset_id = $2",
        prefix,
        asset,
    )
    return {row["owner_id"]: str(row["balance"]) for row in rows}


async def items_of(conn: asyncpg.Connection, prefix: str) -> list[asyncpg.Record]:
    """The batches' transactions whose user leg is a user of `prefix`: per transaction its
    user, signed amount, metadata, its batch's client and key, and its own key."""
    return await conn.fetch(
        "SELECT w.owner_id AS user_id, e.amount, t.metadata::text AS metadata, t.client_id,"
        " t.idempotency_key, b.client_id AS batch_client, b.idempotency_key AS batch_key,"
        " b.items AS batch_items, b.atomic"
        " FROM ledger.entries AS e JOIN ledger.wallets AS w ON w.id = e.wallet_id"
        " JOIN ledger.transactions AS t ON t.id = e.transaction_id"
        " LEFT JOIN ledger.batches AS b ON b.id = t.batch_id"
        " WHERE w.owner_id LIKE $1 || '%' ORDER BY t.id",
        prefix,
    )


@pytest.fixture
def u(unique: str) -> str:
    """The test's users' ids start with it."""
    return f"gr-{unique}"


async def test_a_bonus_file_with_a_header_and_metadata_is_granted(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(
        tmp_path / "rewards.csv",
        [
            "userId,amount,metadata",
            f'{u}-a,10.50,"{{""season"": 12, ""rank"": 1}}"',
            f"{u}-b,3,",
            "",  # a blank line is left out
            f"{u}-c,0.01",
        ],
    )
    result = await run("--type", "bonus", "--asset", LOYALTY, "--reason", "Season 12", path)
    assert result.returncode == 0, result.stderr
    said = summary(result)
    assert said["file"] == f"{path}: 3 items, header on line 1"
    assert counts(result) == (3, 0, 0)
    assert said["chunks"] == "1 of 1"
    assert await balances(admin_conn, u, LOYALTY) == {
        f"{u}-a": "10.50",
        f"{u}-b": "3.00",
        f"{u}-c": "0.01",
    }
    items = await items_of(admin_conn, u)
    assert [(r["user_id"], r["metadata"]) for r in items] == [
        (f"{u}-a", '{"rank": 1, "season": 12}'),
        (f"{u}-b", "{}"),
        (f"{u}-c", "{}"),
    ]
    assert {(r["client_id"], r["batch_client"], r["batch_items"], r["atomic"]) for r in items} == {
        ("ledger:batch", CLIENT_ID, 3, True)
    }
    reasons = await admin_conn.fetch(
        "SELECT DISTINCT t.description, t.type::text FROM ledger.transactions AS t"
        " JOIN ledger.batches AS b ON b.id = t.batch_id WHERE b.idempotency_key = $1",
        items[0]["batch_key"],
    )
    assert [tuple(r) for r in reasons] == [("Season 12", "bonus")]


async def test_a_file_without_header_is_granted_from_its_first_line(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(tmp_path / "topups.csv", [f"{u}-a,7", f"{u}-b,2.25", f"{u}-a,1"])
    result = await run("--type", "topup", "--asset", GOLD, path)
    assert result.returncode == 0, result.stderr
    assert summary(result)["file"] == f"{path}: 3 items"
    assert counts(result) == (3, 0, 0)
    # a user on two lines is granted twice: each line is an item
    assert await balances(admin_conn, u, GOLD) == {f"{u}-a": "8.00", f"{u}-b": "2.25"}


async def test_running_it_again_reports_every_item_already_done_and_moves_nothing(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(tmp_path / "r.csv", ["user,amount", *(f"{u}-{i},{i + 1}" for i in range(5))])
    first = await run("--type", "topup", "--asset", GOLD, path)
    assert counts(first) == (5, 0, 0), first.stdout + first.stderr
    before = await balances(admin_conn, u, GOLD)
    # the same file written otherwise (no header, amounts with trailing zeros) is the same grant
    write(path, [f"{u}-{i},{i + 1}.00" for i in range(5)])
    again = await run("--type", "topup", "--asset", GOLD, path)
    assert again.returncode == 0, again.stderr
    assert counts(again) == (0, 5, 0)
    assert await balances(admin_conn, u, GOLD) == before
    assert len(await items_of(admin_conn, u)) == 5
    # another reason is another grant
    other = await run("--type", "bonus", "--asset", GOLD, "--reason", "again, on purpose", path)
    assert counts(other) == (5, 0, 0), other.stdout + other.stderr
    assert len(await items_of(admin_conn, u)) == 10


async def test_killed_at_random_points_and_run_again_it_grants_every_user_exactly_once(
    tmp_path: Path, admin_conn: asyncpg.Connection, unique: str
) -> None:
    """SIGKILL mid-grant (between chunks, during a chunk's call) a few times, then run to the
    end: each line is one transaction, exactly, and the books balance."""
    u = f"gk-{unique}"
    rng = random.Random()
    lines = 10_000
    amounts = [Decimal(rng.randint(1, 99_999)) / 100 for _ in range(lines)]
    path = write(tmp_path / "big.csv", [f"{u}-{i},{a}" for i, a in enumerate(amounts)])
    command = [sys.executable, "-m", "service.cli", "grant", "--type", "topup"]
    command += ["--asset", GOLD, str(path)]
    partial: list[int] = []  # items in the ledger after each kill that left the grant half done
    delay = 0.3
    for _ in range(8):
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(delay)
        if process.poll() is not None:
            break  # it finished before the kill
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        await asyncio.sleep(0.2)  # a chunk the server was still running commits meanwhile
        done = await admin_conn.fetchval(
            "SELECT count(*) FROM ledger.wallets WHERE owner_id LIKE $1 || '%'", u
        )
        if 0 < done < lines:
            partial.append(done)
        if len(partial) >= 3:
            break
        delay += rng.uniform(0.05, 0.3)
    assert partial, "no kill landed while the grant was under way"

    final = await run("--type", "topup", "--asset", GOLD, path)
    assert final.returncode == 0, final.stderr
    posted, replayed, failed_items = counts(final)
    assert (posted + replayed, failed_items) == (lines, 0)
    assert replayed >= partial[-1] and replayed % 1000 == 0  # whole chunks, all or nothing

    # exactly one ledger:batch transaction per line, of the right amount, in a grant's batch
    rows = await items_of(admin_conn, u)
    got = {r["user_id"]: r["amount"] for r in rows}
    assert len(rows) == lines == len(got)
    assert got == {f"{u}-{i}": a for i, a in enumerate(amounts)}
    assert {(r["client_id"], r["batch_client"]) for r in rows} == {("ledger:batch", CLIENT_ID)}
    assert len({r["batch_key"] for r in rows}) == lines // 1000
    balance = await balances(admin_conn, u, GOLD)
    assert balance == {f"{u}-{i}": f"{a:.2f}" for i, a in enumerate(amounts)}
    assert await admin_conn.fetch("SELECT * FROM api.reconcile() WHERE NOT ok") == []


async def test_a_bad_line_stops_it_before_anything_moves_naming_the_line(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(
        tmp_path / "bad.csv",
        [
            "userId,amount",
            f"{u}-a,5",
            "not a user,5",
            f"{u}-b,1e3",
            f"{u}-c,5,[1]",
            f"{u}-d,5,{{x}}",
            f"{u}-e,5,x,y",
            f"{u}-f,0",
            f"{u}-g,-1",
            f"{u}-h,5",
        ],
    )
    result = await run("--type", "topup", "--asset", GOLD, path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    said = result.stderr.splitlines()
    named = [re.match(rf"wallet grant: {path}: line (\d+): ", line) for line in said]
    assert [int(m[1]) for m in named if m] == [3, 4, 5, 6, 7, 8, 9]
    whys = ["user id 'not a user'", "amount '1e3'", "JSON object", "not valid JSON", "4 columns",
            "amount '0'", "amount '-1'"]  # fmt: skip
    assert all(why in line for why, line in zip(whys, said, strict=False)), said
    assert said[-1] == (
        "wallet grant: 7 bad line(s); nothing moved (--skip-invalid posts the others)"
    )
    assert await balances(admin_conn, u, GOLD) == {}


async def test_skip_invalid_reports_the_bad_lines_and_grants_the_others(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(tmp_path / "some.csv", [f"{u}-a,5", f"{u}-b,five", f"{u}-c,2.5"])
    result = await run("--type", "topup", "--asset", GOLD, "--skip-invalid", path)
    assert result.returncode == 0, result.stderr
    assert f"{path}: line 2: amount 'five'" in result.stderr
    assert "1 bad line(s) skipped" in result.stderr
    assert counts(result) == (2, 0, 0)
    assert summary(result)["skipped"] == "1 bad lines"
    assert await balances(admin_conn, u, GOLD) == {f"{u}-a": "5.00", f"{u}-c": "2.50"}


async def test_an_unknown_asset_is_refused_with_its_code_and_nothing_moves(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(tmp_path / "r.csv", [f"{u}-a,5"])
    result = await run("--type", "topup", "--asset", "asset-nope-001", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        "wallet grant: chunk 1 (lines 1 to 1): unknown_asset: unknown asset 'asset-nope-001';"
        " nothing moved\n"
    )
    assert await balances(admin_conn, u, GOLD) == {}


async def test_a_file_of_1001_lines_is_posted_in_two_chunks(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    path = write(tmp_path / "r.csv", [f"{u}-{i},1.5" for i in range(1001)])
    result = await run("--type", "topup", "--asset", GOLD, path)
    assert result.returncode == 0, result.stderr
    assert counts(result) == (1001, 0, 0)
    assert summary(result)["chunks"] == "2 of 2"
    rows = await items_of(admin_conn, u)
    sizes = sorted({(r["batch_key"], r["batch_items"]) for r in rows}, key=lambda k: k[1])
    assert [size for _, size in sizes] == [1, 1000]
    assert [key.split(":")[1] for key, _ in sizes] == ["1", "0"]  # the chunks' positions
    assert set((await balances(admin_conn, u, GOLD)).values()) == {"1.50"}
    assert len(await balances(admin_conn, u, GOLD)) == 1001


async def test_a_rejected_chunk_names_its_lines_stops_and_the_chunks_before_it_stay_done(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    users = [f"{u}-{i}" for i in range(1002)]
    funded = await run(
        "--type", "topup", "--asset", GOLD, write(tmp_path / "t.csv", [f"{x},10" for x in users])
    )
    assert funded.returncode == 0, funded.stderr
    spends = [f"{x},1" for x in users]
    spends[1001] = f"{users[1001]},50"  # line 1002, in the second chunk: more than they have
    path = write(tmp_path / "spend.csv", spends)
    args = ("--type", "spend", "--asset", GOLD, "--description", "Season pass", path)
    result = await run(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"wallet grant: line 1002: {users[1001]} 50: insufficient_funds: balance: 10.00,"
        " requested: 50.00",
        "wallet grant: chunk 2 (lines 1001 to 1002): batch_rejected: 1 of 2 items cannot be"
        " posted (the lines above); nothing of this chunk moved; chunk 1 is posted"
        " (once it is fixed, the same command replays them and goes on from here)",
    ]
    assert counts(result) == (1000, 0, 0)
    assert summary(result)["not posted"].startswith("2 items")
    after = await balances(admin_conn, u, GOLD)
    assert [after[x] for x in (users[0], users[999], users[1000], users[1001])] == [
        "9.00", "9.00", "10.00", "10.00",
    ]  # fmt: skip

    # the line fixed, the same command again: chunk 1 replayed, chunk 2 posted
    spends[1001] = f"{users[1001]},5"
    write(path, spends)
    again = await run(*args)
    assert again.returncode == 0, again.stderr
    assert counts(again) == (2, 1000, 0)
    after = await balances(admin_conn, u, GOLD)
    assert [after[x] for x in (users[0], users[1000], users[1001])] == ["9.00", "9.00", "5.00"]


async def test_per_item_posts_what_it_can_and_reports_the_lines_that_failed(
    tmp_path: Path, admin_conn: asyncpg.Connection, u: str
) -> None:
    await run("--type", "topup", "--asset", GOLD, write(tmp_path / "t.csv", [f"{u}-a,10"]))
    path = write(tmp_path / "s.csv", [f"{u}-a,4", f"{u}-b,1", f"{u}-a,4"])
    args = ("--type", "spend", "--asset", GOLD, "--description", "Entry fee", path)
    result = await run(*args, "--per-item")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"wallet grant: line 2: {u}-b 1: failed: insufficient_funds: balance: 0.00,"
        " requested: 1.00\n"
    )
    assert counts(result) == (2, 0, 1)
    assert await balances(admin_conn, u, GOLD) == {f"{u}-a": "2.00"}
    # run again: the same outcome, replayed; in the other mode: refused, not posted twice
    again = await run(*args, "--per-item")
    assert counts(again) == (0, 2, 1)
    other = await run(*args)
    assert other.returncode == 1
    assert "idempotency_key_reused" in other.stderr and "(--per-item)" in other.stderr
    assert await balances(admin_conn, u, GOLD) == {f"{u}-a": "2.00"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--type", "topup", "--reason", "r"), "--reason is only for bonuses"),
        (("--type", "bonus"), "--type bonus needs --reason"),
        (("--type", "bonus", "--description", "d"), "--description is only for spends"),
        (("--type", "spend"), "--type spend needs --description"),
        (("--type", "transfer"), "invalid choice: 'transfer'"),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", ["someone,1"])
    assert_bad_usage(grant(*args, "--asset", GOLD, path), says)


def test_a_file_that_cannot_be_read_exits_2(tmp_path: Path) -> None:
    missing = grant("--type", "topup", "--asset", GOLD, tmp_path / "missing.csv")
    assert_bad_usage(missing, f"cannot read {tmp_path / 'missing.csv'}: No such file")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"j\xe9r\xf4me,1\n")
    assert_bad_usage(grant("--type", "topup", "--asset", GOLD, latin1), "not UTF-8 text")


# ----------------------------------------------------------------------------------------------
# The parts on their own
# ----------------------------------------------------------------------------------------------
def _items(*pairs: tuple[str, str]) -> list[Item]:
    return [Item(n, user, Decimal(amount), None) for n, (user, amount) in enumerate(pairs, 1)]


def test_a_chunks_key_is_its_grant_position_and_items_not_its_line_numbers() -> None:
    items = _items(("a", "1.50"), ("b", "2"))
    key = chunk_key("bonus", LOYALTY, "Season 12", 0, items)
    assert key.startswith("wallet-grant:0:") and key.isascii() and len(key) <= 255
    # the same items written otherwise, on other lines, with {} for no metadata: the same key
    same = [Item(7, "a", Decimal("1.5"), "{}"), Item(9, "b", Decimal("2.00"), None)]
    assert chunk_key("bonus", LOYALTY, "Season 12", 0, same) == key
    with_metadata = [items[0], Item(2, "b", Decimal(2), '{"x": 1}')]
    others = [
        chunk_key("topup", LOYALTY, "Season 12", 0, items),
        chunk_key("bonus", GOLD, "Season 12", 0, items),
        chunk_key("bonus", LOYALTY, "Season 13", 0, items),
        chunk_key("bonus", LOYALTY, "Season 12", 1, items),
        chunk_key("bonus", LOYALTY, "Season 12", 0, items[:1]),
        chunk_key("bonus", LOYALTY, "Season 12", 0, _items(("a", "1.51"), ("b", "2"))),
        chunk_key("bonus", LOYALTY, "Season 12", 0, with_metadata),
    ]
    assert len({key, *others}) == len(others) + 1


def test_the_header_is_a_first_line_whose_amount_is_not_a_number(tmp_path: Path) -> None:
    assert read_grant(write(tmp_path / "a.csv", ["user,amount", "u,1"])).header == 1
    assert read_grant(write(tmp_path / "b.csv", ["", "user,amount", "u,1"])).header == 2
    plain = read_grant(write(tmp_path / "c.csv", ["u,1", "v,x"]))
    assert (plain.header, [b.line for b in plain.bad]) == (None, [2])
    # a byte order mark, CRLF line ends and a quoted field over two lines
    path = tmp_path / "d.csv"
    path.write_bytes(b'\xef\xbb\xbfuserId,amount\r\nu,1,"{""a"":\r\n1}"\r\nv,2\r\n')
    read = read_grant(path)
    assert read.header == 1
    assert [(i.line, i.user_id, i.amount) for i in read.items] == [(2, "u", 1), (4, "v", 2)]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    clock, stream = _Clock(), _Stream(tty=True)
    progress = Progress(4000, stream, clock)
    clock.now += 1
    progress.update(1000)
    clock.now += 1
    progress.update(2000)
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[Kwallet grant: 1000/4000 items (25%), 1000 items/s, about 3 s left"
        "\r\x1b[Kwallet grant: 2000/4000 items (50%), 1000 items/s, about 2 s left\n"
    )


def test_progress_writes_a_line_now_and_then_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grant_module, "PROGRESS_EVERY_SECONDS", 10.0)
    clock, stream = _Clock(), _Stream(tty=False)
    progress = Progress(1_000_000, stream, clock)
    for _ in range(30):  # a chunk every 2 s for a minute
        clock.now += 2
        progress.update(int((clock.now - 100) * 500))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6
    assert lines[0] == (
        "wallet grant: 5000/1000000 items (0%), 500 items/s, about 33 min 10 s left"
    )
    assert lines[-1] == (
        "wallet grant: 30000/1000000 items (3%), 500 items/s, about 32 min 20 s left"
    )
