"""The bulk writer of make bench-depth (bench/depth/depth_fixture.sql) keeps the books exact.

It writes ledger rows directly, bypassing api.topup, so the measurement it feeds is only honest
if what it writes is what the functions would have: here a small run of it, inside a transaction
that is rolled back, must leave every reconciliation check passing and the pages readable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service.config import Settings

FIXTURE = Path(__file__).resolve().parents[2] / "bench" / "depth" / "depth_fixture.sql"


def test_a_small_depth_fixture_reconciles(settings: Settings) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.fail("psql is not on PATH (make install puts PostgreSQL's client there)")
    prefix = "depth-test-"  # rolled back at the end: never seen by other tests

    def chunk(lo: int, hi: int, per_user: int) -> list[str]:
        # \set, not -v: psql sets every -v before running any -c or -f
        variables = {"prefix": prefix, "lo": lo, "hi": hi, "per_user": per_user}
        return [
            *(a for k, v in variables.items() for a in ("-c", f"\\set {k} {v}")),
            "-f",
            str(FIXTURE),
        ]

    # two chunks, the second adding to wallets of the first, as the whale's chunks do
    result = subprocess.run(
        [psql, "-qAtX", "-v", "ON_ERROR_STOP=1", settings.admin_database_url, "-c", "BEGIN",
         *chunk(1, 50, 3), *chunk(40, 60, 2),
         "-c", "SELECT check_name || ': ' || ok FROM api.reconcile()",
         "-c", "SELECT count(*), sum(version) FROM ledger.wallets"
               " WHERE owner_id LIKE 'depth-test-%'",
         "-c", """SELECT string_agg(e.wallet_version::text, ',' ORDER BY e.wallet_version DESC)
                   FROM ledger.wallets AS w,
                        api.wallet_entries(w.id, 3, 1) AS e WHERE w.owner_id = 'depth-test-45'""",
         # as the functions' postings: posted_at never decreases along any wallet's versions
         "-c", """SELECT count(*) FILTER (WHERE x.posted_at < x.before),
                          count(*) FILTER (WHERE x.posted_at IS NULL)
                   FROM (SELECT e.posted_at, lag(e.posted_at) OVER h AS before
                         FROM ledger.entries AS e
                         JOIN ledger.wallets AS w ON w.id = e.wallet_id
                         WHERE w.owner_id LIKE 'depth-test-%' OR w.kind = 'treasury'
                         WINDOW h AS (PARTITION BY e.wallet_id ORDER BY e.wallet_version)) AS x""",
         "-c", "ROLLBACK"],
        capture_output=True, text=True, check=False, env=os.environ | {"PGOPTIONS": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    *checks, wallets, page, posted = result.stdout.splitlines()
    assert len(checks) >= 4 and all(c.endswith(": true") for c in checks), result.stdout
    # 60 wallets; users 1-39 got 3 top-ups, 40-50 got 3 + 2, 51-60 got 2
    assert (wallets, page) == ("60|192", "4,3,2"), result.stdout
    assert posted == "0|0", result.stdout  # none backwards, none without posted_at
