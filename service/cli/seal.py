"""`wallet seal` and `wallet seal-head`, as the trusted jobs' login (WALLET_JOB_DATABASE_URL,
wallet_job).

`wallet seal` runs the sealer's passes (api.seal) until everything committed is sealed: the
service's sealer (service/sealer.py) does the same every WALLET_SEAL_INTERVAL_MS; this is for a
deployment that turns it off, or for an operator. When a sealer is at work it says so and exits
0 (that sealer seals).

`wallet seal-head` prints the chain's head (its sequence, hash and time) on one line, to be
written somewhere the database's owner cannot rewrite (a log shipped elsewhere, a ticket, a
notary): the owner of the database could otherwise rebuild the whole chain after an edit. A
head noted down once proves every seal up to it (docs/operations.md, "Anchoring the seal")."""

from __future__ import annotations

import psycopg

from service.rules import SEAL_BATCH  # not the sealer's module: no metrics here (service/rules.py)


def seal(database_url: str, *, statement_timeout_ms: int) -> int:
    """Prints how many transactions it sealed and the head; exit status 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        sealed = 0
        while True:
            row = conn.execute("SELECT sealed, busy FROM api.seal(%s)", (SEAL_BATCH,)).fetchone()
            assert row is not None
            if row[1]:
                print("another sealer is at work now: it seals")
                return 0
            sealed += int(row[0])
            if row[0] < SEAL_BATCH:
                break
    print(f"sealed: {sealed}")
    return seal_head(database_url, statement_timeout_ms=statement_timeout_ms)


def seal_head(database_url: str, *, statement_timeout_ms: int) -> int:
    """Prints `<sequence> <sha-256 hex> <sealed at, UTC> unsealed <n>`; exit status 0."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        row = conn.execute(
            "SELECT last_sequence, last_hash, coalesce(to_char(sealed_at AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), unsealed FROM api.seal_status()"
        ).fetchone()
    assert row is not None
    print(f"{row[0]} {row[1]} {row[2]} unsealed {row[3]}")
    return 0
