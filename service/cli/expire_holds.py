"""`wallet expire-holds`: one sweep of the expired holds (api.expire_holds) from a job, as the
trusted jobs' login (WALLET_JOB_DATABASE_URL, wallet_job). The service's sweeper
(service/sweeper.py) does the same every WALLET_HOLD_SWEEP_SECONDS; this is for a deployment
that turns it off, or for an operator. It takes the sweepers' advisory lock the same way, so
it never sweeps alongside one (it says so and exits 0: that sweep releases the holds)."""

from __future__ import annotations

import psycopg

from service.rules import SWEEP_BATCH, SWEEP_LOCK  # not the sweeper's module: no metrics here


def expire_holds(database_url: str, *, statement_timeout_ms: int) -> int:
    """Prints how many holds it released; exit status 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", SWEEP_LOCK).fetchone()
        if not locked or not locked[0]:
            print("another sweep is running now: nothing done")
            return 0
        released = 0
        while True:
            row = conn.execute("SELECT api.expire_holds(%s)", (SWEEP_BATCH,)).fetchone()
            count = int(row[0]) if row else 0
            released += count
            if count < SWEEP_BATCH:
                break
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", SWEEP_LOCK)
    print(f"expired holds released: {released}")
    return 0
