"""Latency of reads at depth, for make bench-depth (bench/depth/bench_depth.sh).

    depth_latency.py BASE_URL API_KEY USER_PREFIX USERS WHALE_USER [READS]

Against a service whose database holds the depth fixture (USERS wallets named USER_PREFIX<n>,
and WHALE_USER with a long history), it measures, one request at a time unless said otherwise:
  * READS (default 2000) balance reads of random users, and 200 of the whale;
  * ledger pages (50 entries) of the whale at increasing depth, by offset and by cursor, and
    checks that both ways return the same entries;
and prints a table. Exits 1 if any answer is not 200 or the two ways of paging disagree.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time

import httpx

PAGE = 50
DEPTHS = (0, 1_000, 10_000, 100_000, 500_000, 999_950)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(label: str, samples: list[float], extra: str = "") -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{label:<44} {len(ms):>6} {statistics.median(ms):>8.2f} {percentile(ms, 0.95):>8.2f}"
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
        print(f"{'what':<44} {'reqs':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
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


if __name__ == "__main__":
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    base_url, api_key, user_prefix, user_count, whale_user = sys.argv[1:6]
    reads = int(sys.argv[6]) if len(sys.argv) == 7 else 2000
    asyncio.run(main(base_url, api_key, user_prefix, int(user_count), whale_user, reads))
