"""Latency of reads at depth, for make bench-depth (bench/depth/bench_depth.sh).

    depth_latency.py BASE_URL API_KEY USER_PREFIX USERS WHALE_USER [READS]

Against a service whose database holds the depth fixture (USERS wallets named USER_PREFIX<n>,
and WHALE_USER with a long history), it measures, one request at a time unless said otherwise:
  * READS (default 2000) balance reads of random users, and 200 of the whale;
  * ledger pages (50 entries) of the whale at increasing depth, by offset and by cursor, and
    checks that both ways return the same entries;
  * balances at a moment (balance?at=): READS of random users at random moments of the fixture's
    writing, and of the whale at moments early, in the middle and late in its history (each
    checked against the entry of that version);
  * statements of the whale: short periods (50 entries) early, in the middle and late, their
    sums checked (opening + credits - debits = closing, exactly, and the entries those of the
    ledger); the first page of a period of 100,000 entries (its sums read all of them); and
    pages by cursor of a period of nearly all its history, at increasing depth, checked against
    the ledger's pages at the same cursor;
and prints a table. Exits 1 if any answer is not 200 or a check fails.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

import httpx

PAGE = 50
DEPTHS = (0, 1_000, 10_000, 100_000, 500_000, 999_950)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(label: str, samples: list[float], extra: str = "") -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{label:<52} {len(ms):>6} {statistics.median(ms):>8.2f} {percentile(ms, 0.95):>8.2f}"
        f" {percentile(ms, 0.99):>8.2f} {max(ms):>8.2f}  {extra}",
        flush=True,
    )


async def timed(
    client: httpx.AsyncClient, url: str, params: dict[str, str] | None = None
) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = await client.get(url, params=params)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        sys.exit(f"GET {url} {params}: {answer.status_code} {answer.text[:300]}")
    return elapsed, answer.json()


async def main(base: str, key: str, prefix: str, users: int, whale: str, reads: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        print(f"{'what':<52} {'reqs':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        rng = random.Random(7)  # noqa: S311 (which users to read, not a secret)

        def random_user() -> str:
            return f"{prefix}{rng.randint(1, users)}"

        samples = [
            (await timed(client, f"/api/v1/wallet/{random_user()}/balance"))[0]
            for _ in range(reads)
        ]
        row(f"balance, random user of {users:,}, 1 at a time", samples)

        _, whale_balance = await timed(client, f"/api/v1/wallet/{whale}/balance")
        (wallet,) = [b for b in whale_balance["balances"] if b["walletId"]]
        wallet_id, newest = wallet["walletId"], wallet["version"]
        samples = [(await timed(client, f"/api/v1/wallet/{whale}/balance"))[0] for _ in range(200)]
        row(f"balance of the whale ({newest:,} entries)", samples)

        ledger = f"/api/v1/wallet/{wallet_id}/ledger"
        disagreements = 0
        for depth in DEPTHS:
            if depth + PAGE > newest:
                continue
            rounds = 5 if depth >= 100_000 else 50
            by_offset: list[float] = []
            by_cursor: list[float] = []
            for _ in range(rounds):
                elapsed, offset_page = await timed(
                    client, ledger, {"limit": str(PAGE), "offset": str(depth)}
                )
                by_offset.append(elapsed)
                # at depth d the cursor is the version of the d-th newest entry: newest - d + 1
                params = {"limit": str(PAGE)}
                if depth:
                    params["cursor"] = str(newest - depth + 1)
                elapsed, cursor_page = await timed(client, ledger, params)
                by_cursor.append(elapsed)
            same = (
                offset_page["entries"] == cursor_page["entries"]
                and len(cursor_page["entries"]) == PAGE
            )
            disagreements += not same
            verdict = "same entries" if same else "DIFFERENT ENTRIES"
            row(f"ledger page at depth {depth:,}, by offset", by_offset, verdict)
            row(f"ledger page at depth {depth:,}, by cursor", by_cursor)
        if disagreements:
            sys.exit(f"{disagreements} depths where offset and cursor paging disagree")

        await moments_in_time(client, rng, prefix, users, whale, wallet_id, newest, reads)


async def entry_at(client: httpx.AsyncClient, wallet_id: str, version: int) -> dict:
    """The whale's entry of `version` (a ledger page of one, below version + 1)."""
    _, page = await timed(
        client, f"/api/v1/wallet/{wallet_id}/ledger", {"limit": "1", "cursor": str(version + 1)}
    )
    (entry,) = page["entries"]
    return entry


def posted(entry: dict) -> str:
    """When an entry of the fixture was posted: its transaction's createdAt (the fixture writes
    both the same, one microsecond apart in order)."""
    return entry["createdAt"]


async def moments_in_time(
    client: httpx.AsyncClient,
    rng: random.Random,
    prefix: str,
    users: int,
    whale: str,
    wallet_id: str,
    newest: int,
    reads: int,
) -> None:
    """Balances at a moment and statements, one request at a time (the module's docstring)."""
    failures: list[str] = []
    # the users' fixture was written between user 1's first entry and the last user's last
    user_wallets = []
    for n in (1, users):
        _, body = await timed(client, f"/api/v1/wallet/{prefix}{n}/balance")
        (wallet,) = [b for b in body["balances"] if b["walletId"]]
        user_wallets.append(wallet)
    first = await entry_at(client, user_wallets[0]["walletId"], 1)
    last = await entry_at(client, user_wallets[1]["walletId"], user_wallets[1]["version"])
    start, end = (datetime.fromisoformat(posted(e)) for e in (first, last))
    span = (end - start).total_seconds()

    samples = []
    for _ in range(reads):
        at = start + timedelta(seconds=rng.uniform(0, span))
        samples.append(
            (
                await timed(
                    client,
                    f"/api/v1/wallet/{prefix}{rng.randint(1, users)}/balance",
                    {"at": at.isoformat()},
                )
            )[0]
        )
    row("balance?at=, random user at a random moment", samples)

    places = {
        "early": max(1, newest // 1000),
        "in the middle": newest // 2,
        "late": newest - max(1, newest // 1000),
    }
    entries = {name: await entry_at(client, wallet_id, v) for name, v in places.items()}
    for name, version in places.items():
        at = posted(entries[name])
        samples = []
        for _ in range(100):
            elapsed, body = await timed(client, f"/api/v1/wallet/{whale}/balance", {"at": at})
            samples.append(elapsed)
        (wallet,) = [b for b in body["balances"] if b["walletId"]]
        # a moment equal to an entry's posted_at includes it (the fixture's are all distinct)
        if (wallet["balance"], wallet["version"]) != (entries[name]["balanceAfter"], version):
            failures.append(f"balance?at= of the whale {name}: {wallet} at version {version}")
        row(f"balance?at= of the whale, {name} (v {version:,})", samples)

    statement = f"/api/v1/wallet/{wallet_id}/statement"
    ledger = f"/api/v1/wallet/{wallet_id}/ledger"
    for name, version in places.items():
        period = (version, min(newest, version + PAGE))
        ends = [posted(await entry_at(client, wallet_id, v)) for v in period]
        params = {"from": ends[0], "to": ends[1], "limit": str(PAGE)}
        samples = []
        for _ in range(50):
            elapsed, body = await timed(client, statement, params)
            samples.append(elapsed)
        failures += check_statement(body, f"a short period {name}")
        _, page = await timed(
            client, ledger, {"limit": str(PAGE), "cursor": str(body["closingVersion"] + 1)}
        )
        wanted = page["entries"][: body["closingVersion"] - body["openingVersion"]]
        if body["entries"] != wanted:
            failures.append(f"statement {name}: its entries are not the ledger's")
        span_entries = body["closingVersion"] - body["openingVersion"]
        row(f"statement of the whale, {span_entries} entries, {name}", samples)

    # the first page of a long period: its sums read every entry of it
    low = max(1, newest // 2 - 50_000)
    high = min(newest, low + 100_000)
    ends = [posted(await entry_at(client, wallet_id, v)) for v in (low, high)]
    samples = []
    for _ in range(5):
        elapsed, body = await timed(
            client, statement, {"from": ends[0], "to": ends[1], "limit": str(PAGE)}
        )
        samples.append(elapsed)
    failures += check_statement(body, "a long period's first page")
    row(f"statement, first page of {high - low:,} entries (sums)", samples)

    # pages by cursor of a period of nearly the whole history, at increasing depth
    low, high = places["early"], places["late"]
    ends = [posted(await entry_at(client, wallet_id, v)) for v in (low, high)]
    for depth in sorted({*DEPTHS, high - low - PAGE}):
        cursor = high + 1 - depth
        if cursor - PAGE <= low:
            continue
        params = {"from": ends[0], "to": ends[1], "limit": str(PAGE), "cursor": str(cursor)}
        samples = []
        for _ in range(20):
            elapsed, body = await timed(client, statement, params)
            samples.append(elapsed)
        _, page = await timed(client, ledger, {"limit": str(PAGE), "cursor": str(cursor)})
        same = body["entries"] == page["entries"] and body["credits"] is None
        if not same:
            failures.append(f"statement page at depth {depth:,}: not the ledger's entries")
        verdict = "same entries as the ledger" if same else "DIFFERENT ENTRIES"
        row(f"statement page by cursor at depth {depth:,}", samples, verdict)
    if failures:
        sys.exit("\n".join(failures))


def check_statement(body: dict, what: str) -> list[str]:
    """A first page's sums: opening + credits - debits = closing, exactly, and by type."""
    opening, credits, debits, closing = (
        Decimal(body[k]) for k in ("opening", "credits", "debits", "closing")
    )
    by_type = body["byType"] or {}
    count = sum(t["count"] for t in by_type.values())
    if opening + credits - debits != closing:
        return [f"statement of {what}: {opening} + {credits} - {debits} != {closing}"]
    if sum(Decimal(t["credits"]) for t in by_type.values()) != credits or count != (
        body["closingVersion"] - body["openingVersion"]
    ):
        return [f"statement of {what}: byType does not add up: {by_type}"]
    return []


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    base_url, api_key, user_prefix, user_count, whale_user = sys.argv[1:6]
    reads = int(sys.argv[6]) if len(sys.argv) == 7 else 2000
    asyncio.run(main(base_url, api_key, user_prefix, int(user_count), whale_user, reads))
