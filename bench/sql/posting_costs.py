"""What each of our guarantees costs per top-up, in microseconds of one PostgreSQL backend.

Run by bench/sql/posting_costs.sh on a scratch database it has migrated and funded (this script
drops constraints and triggers there). Takes the guarantees away one after another, cumulatively,
and times each step with a server-side loop: N calls of the function, each committed on its own,
random user of 10,000, fresh idempotency key, synchronous_commit off (so that the figure is CPU,
not the disk's flush). The yardstick (one Treasury row) and the yardstick with 64 Treasury slots
(bench/sql/slotted_yardstick.py) are timed the same way in every phase, so that each step is
compared with them on the same machine minutes apart.

Why a single session: at 32 pgbench clients our top-ups are bound by CPU, so their throughput
follows their CPU per call; the loop measures that without the client's and the network's share.

usage: posting_costs.py ROUNDS CALLS [no-yardstick]   (environment: PG* of the scratch database)
Without ../shared/bench/baseline.sql, pass no-yardstick: the ladder alone, no comparison.
"""

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "db" / "functions"
ASSET = "asset-gold-coin-001"
ARGS = "U, '" + ASSET + "', 1.00, K"
POST_ARGS = "'topup', U, '" + ASSET + "', 1.00, NULL, K, '{}', NULL"


def psql(sql: str) -> str:
    out = subprocess.run(  # noqa: S603 - our psql, running SQL this script writes
        [os.environ.get("PSQL", "psql"), "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        env={**os.environ, "PGOPTIONS": "-c synchronous_commit=off -c client_min_messages=warning"},
    )
    if out.returncode != 0:
        raise SystemExit(f"posting_costs.py: psql failed:\n{out.stderr.strip()}")
    return out.stdout + out.stderr


def cut(text: str, start: str, end: str, replacement: str) -> str:
    """text with [start, end) replaced; fails if either marker is missing (the function changed)."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"posting_costs.py: ledger._post no longer has {start!r} ... {end!r}")
    return text[:i] + replacement + text[j:]


def function_text(path: Path, header: str) -> str:
    """The CREATE FUNCTION statement starting with `header` in a db/functions file."""
    source = path.read_text()
    start = source.find(header)
    if start < 0:
        raise SystemExit(f"posting_costs.py: {path.name} no longer has {header!r}")
    return source[start : source.index("$$;", start) + 3]


def variants() -> list[str]:
    """Copies in schema costs: api.topup's door without its pinned search_path, and ledger._post
    with one more guarantee taken away in each."""
    door = function_text(FUNCTIONS / "20_api_money.sql", "CREATE OR REPLACE FUNCTION api.topup(")
    pinned = "SET search_path = pg_catalog, pg_temp\n"
    if pinned not in door:
        raise SystemExit("posting_costs.py: api.topup no longer pins its search_path")
    unpinned = door.replace(pinned, "").replace(
        "FUNCTION api.topup(", "FUNCTION costs.topup_unpinned("
    )

    post = function_text(
        FUNCTIONS / "10_ledger_private.sql", "CREATE OR REPLACE FUNCTION ledger._post("
    )
    no_posted_at = post
    for posted, unposted in (
        ("    v_posted := clock_timestamp();\n", ""),
        ("wallet_version, posted_at)", "wallet_version)"),
        ("v_version,\n            v_posted)", "v_version)"),
        ("v_slot_version, v_posted)", "v_slot_version)"),
    ):
        if posted not in no_posted_at:
            raise SystemExit(f"posting_costs.py: ledger._post no longer has {posted!r}")
        no_posted_at = no_posted_at.replace(posted, unposted)
    no_limits = cut(no_posted_at, "    -- Limits (migration 0013)", "    -- The system side", "")
    no_validation = cut(
        no_limits, "    -- NaN compares", "    -- Claims the key", "    v_amount := p_amount;\n"
    )
    no_skip_locked = cut(
        no_validation,
        "    v_home := pg_backend_pid()",
        "    INSERT INTO ledger.entries",
        """    v_home := pg_backend_pid() % v_asset.system_slots;
    UPDATE ledger.wallets AS w
    SET balance = w.balance + CASE WHEN v_credit THEN -v_amount ELSE v_amount END,
        version = w.version + 1, updated_at = now()
    WHERE w.asset_id = p_asset_id AND w.kind = v_system AND w.kind <> 'user' AND w.slot = v_home
    RETURNING w.id, w.balance, w.version INTO STRICT v_slot, v_slot_balance, v_slot_version;
""",
    )
    conflict = "    ON CONFLICT (client_id, idempotency_key) DO NOTHING\n"
    if conflict not in no_skip_locked:
        raise SystemExit("posting_costs.py: ledger._post no longer claims its key with ON CONFLICT")
    no_on_conflict = no_skip_locked.replace(conflict, "")
    posts = {
        "no_posted_at": no_posted_at,
        "no_limits": no_limits,
        "no_validation": no_validation,
        "no_skip_locked": no_skip_locked,
        "no_on_conflict": no_on_conflict,
    }
    return [unpinned] + [
        text.replace("FUNCTION ledger._post(", f"FUNCTION costs.{name}(", 1)
        for name, text in posts.items()
    ]


def time_call(call: str, calls: int) -> float:
    """Microseconds per call of `call` (SQL using U, the user, and K, a fresh key)."""
    out = psql(f"""
DO $$ DECLARE t0 timestamptz; U text; K text; BEGIN
  t0 := clock_timestamp();
  FOR i IN 1..{calls} LOOP
    U := 'bench-user-' || (1 + floor(random() * 10000))::int; K := gen_random_uuid()::text;
    PERFORM {call};
    COMMIT;
  END LOOP;
  RAISE WARNING 'us_per_call %', extract(epoch FROM clock_timestamp() - t0) * 1e6 / {calls};
END $$;""")
    match = re.search(r"us_per_call ([0-9.]+)", out)
    if not match:
        raise SystemExit(f"posting_costs.py: no timing in {out!r}")
    return float(match.group(1))


def phase(
    steps: list[tuple[str, str]],
    rounds: int,
    calls: int,
    before: dict[str, str] | None = None,
    calls_of: dict[str, int] | None = None,
) -> dict[str, float]:
    """Median µs per call of each (label, call), rounds interleaved so drift falls on all alike;
    `before` maps a label to SQL run before each of its timings, `calls_of` to its own number of
    calls (else `calls`)."""
    samples: dict[str, list[float]] = {label: [] for label, _ in steps}
    for _ in range(rounds):
        for label, call in steps:
            if before and label in before:
                psql(before[label])
            samples[label].append(time_call(call, (calls_of or {}).get(label, calls)))
            print(".", end="", file=sys.stderr, flush=True)
    return {label: statistics.median(values) for label, values in samples.items()}


def limits_phase(rounds: int, calls: int) -> dict[str, float]:
    """Top-ups and spends with the asset's limits off, and on: limits of 10^15, so that every call
    is checked and counted (the override probe, the counters' UPDATE) and none refused. Run
    before the ladder, which changes the tables; the asset is left without limits."""
    off = f"SELECT api.set_asset_limits('{ASSET}', NULL, NULL, NULL)"
    on = f"SELECT api.set_asset_limits('{ASSET}', 1e15, 1e15, 1e15)"
    spend = "api.spend(U, '" + ASSET + "', 0.01, 'bench', K)"
    steps = [
        ("top-up, the asset without limits", f"api.topup({ARGS})"),
        ("top-up, the asset with limits (checked, counted)", f"api.topup({ARGS})"),
        ("spend, the asset without limits", spend),
        ("spend, the asset with limits (checked, counted)", spend),
    ]
    try:
        return phase(
            steps,
            rounds,
            calls,
            {label: on if "with limits" in label else off for label, _ in steps},
        )
    finally:
        psql(off)


def seal_phase(rounds: int, calls: int) -> dict[str, float]:
    """What the seal costs a posting (issue 18): top-ups and spends as shipped (the column
    default that records commit_xid, and its index entry in transactions_by_commit_xid), and
    with both taken away before each timing, put back after. Nothing else of the seal is on the
    posting path: no global row, no NOTIFY. Run before the ladder, which changes the tables."""
    keep = (
        "ALTER TABLE ledger.transactions ALTER COLUMN commit_xid SET DEFAULT pg_current_xact_id();"
        " CREATE INDEX IF NOT EXISTS transactions_by_commit_xid ON ledger.transactions"
        " (commit_xid, id) WHERE commit_xid IS NOT NULL"
    )
    drop = (
        "ALTER TABLE ledger.transactions ALTER COLUMN commit_xid DROP DEFAULT;"
        " DROP INDEX IF EXISTS ledger.transactions_by_commit_xid"
    )
    spend = "api.spend(U, '" + ASSET + "', 0.01, 'bench', K)"
    steps = [
        ("top-up, as shipped (commit_xid and its index entry)", f"api.topup({ARGS})"),
        ("top-up, without commit_xid's default and index", f"api.topup({ARGS})"),
        ("spend, as shipped", spend),
        ("spend, without commit_xid's default and index", spend),
    ]
    try:
        before = {label: drop if "without" in label else keep for label, _ in steps}
        return phase(steps, rounds, calls, before)
    finally:
        psql(keep)


BATCH = 100
BATCH_SIZES = (1, 10, 100, 1000)  # per item, the fixed cost of a batch spreads over its items


def batch_call(size: int) -> str:
    """Our constants only: a batch of `size` top-ups of 0.01 to random funded users."""
    users = f"ARRAY(SELECT 'bench-user-' || (1 + floor(random() * 10000))::int FROM generate_series(1, {size}))"  # noqa: E501, S608
    return (
        f"api.post_batch('topup', '{ASSET}', {users}, array_fill(0.01::numeric, ARRAY[{size}]),"
        " NULL, K)"
    )


def batch_phase(rounds: int, calls: int) -> dict[str, float]:
    """Batches of top-ups (issue 17), µs per item: batches of 1, 10, 100 and 1,000 items (each
    size timed over about `calls` items), and batches of 100 without the batch's double-entry
    check (its deferred trigger disabled before each such timing, enabled after); a single top-up
    is the ladder's first line. Run before the ladder, which changes the tables."""
    enable = "ALTER TABLE ledger.batches ENABLE TRIGGER batches_balance"
    steps = [(f"api.post_batch of {n} top-ups, per item", batch_call(n)) for n in BATCH_SIZES]
    unchecked = f"  batches of {BATCH} without the batch's double-entry check"
    steps.append((unchecked, batch_call(BATCH)))
    size_of = {label: n for (label, _), n in zip(steps, [*BATCH_SIZES, BATCH], strict=True)}
    before = {label: enable for label, _ in steps}
    before[unchecked] = "ALTER TABLE ledger.batches DISABLE TRIGGER batches_balance"
    calls_of = {label: max(1, calls // n) for label, n in size_of.items()}
    try:
        medians = phase(steps, rounds, calls, before, calls_of)
    finally:
        psql(enable)
    return {label: micros / size_of[label] for label, micros in medians.items()}


def main() -> int:
    rounds, calls = int(sys.argv[1]), int(sys.argv[2])
    with_yardstick = sys.argv[3:] != ["no-yardstick"]
    psql("DROP SCHEMA IF EXISTS costs CASCADE; CREATE SCHEMA costs;")
    for text in variants():
        psql(text)
    yardsticks = [
        ("yardstick, one Treasury row", f"baseline.topup({ARGS})"),
        ("yardstick, 64 Treasury slots", f"yardstick_slotted.topup({ARGS})"),
    ]
    if not with_yardstick:
        yardsticks = []
    # (label, call, SQL run before the phase): cumulative, each line takes one more thing away
    ladder = [
        ("api.topup, as shipped", f"api.topup({ARGS})", None),
        ("the same door without its pinned search_path", f"costs.topup_unpinned({ARGS})", None),
        (
            "ledger._post called directly: no door at all",
            f"ledger._post({POST_ARGS})",
            None,
        ),
        (
            "minus posted_at (its clock reading and column)",
            f"costs.no_posted_at({POST_ARGS})",
            None,
        ),
        (
            "minus the limits switch (has_limits, one boolean test)",
            f"costs.no_limits({POST_ARGS})",
            None,
        ),
        ("minus argument validation", f"costs.no_validation({POST_ARGS})", None),
        ("minus the SKIP LOCKED slot search", f"costs.no_skip_locked({POST_ARGS})", None),
        ("minus ON CONFLICT on the key", f"costs.no_on_conflict({POST_ARGS})", None),
        (
            "minus the double-entry trigger",
            f"costs.no_on_conflict({POST_ARGS})",
            "ALTER TABLE ledger.transactions DISABLE TRIGGER transactions_balance",
        ),
        (
            "minus the below-zero trigger (was a CHECK)",
            f"costs.no_on_conflict({POST_ARGS})",
            "DROP TRIGGER wallets_negative_only_by_reversal ON ledger.wallets",
        ),
        (
            "minus the entries' foreign keys",
            f"costs.no_on_conflict({POST_ARGS})",
            "ALTER TABLE ledger.entries DROP CONSTRAINT entries_transaction_id_fkey, "
            "DROP CONSTRAINT entries_wallet_id_fkey",
        ),
    ]
    limits = limits_phase(rounds, calls)
    seal = seal_phase(rounds, calls)
    batches = batch_phase(rounds, calls)
    rows = []  # (label, µs[, µs of the slotted yardstick, µs of the yardstick, same phase])
    pending: list[tuple[str, str]] = []

    def run(steps: list[tuple[str, str]]) -> None:
        medians = phase(steps + yardsticks, rounds, calls)
        for label, _ in steps:
            rows.append(
                (label, medians[label], *(medians[name] for name, _ in reversed(yardsticks)))
            )

    for label, call, before in ladder:
        if before:  # a table-level step: measure what is pending, then change the tables
            if pending:
                run(pending)
                pending = []
            psql(before)
        pending.append((label, call))
    run(pending)
    print(file=sys.stderr)

    print(
        f"# µs of one backend per top-up, median of {rounds} rounds of {calls} calls,"
        " synchronous_commit off"
    )
    header = f"{'step':<56} | {'µs':>6} | {'saved':>6}"
    print(header + (f" | {'x slotted yardstick':>19}" if yardsticks else ""))
    previous = None
    for label, micros, *reference in rows:
        saved = "" if previous is None else f"{previous - micros:6.0f}"
        line = f"{label:<56} | {micros:6.0f} | {saved:>6}"
        print(line + (f" | {micros / reference[0]:18.2f}x" if reference else ""))
        previous = micros
    print()
    print("# limits (issue 16): µs per call, the asset's limits off and on, one phase")
    for label, micros in limits.items():
        print(f"{label:<56} | {micros:6.0f} |")
    print()
    print("# the seal (issue 18): µs per call, with and without what a posting pays, one phase")
    for label, micros in seal.items():
        print(f"{label:<56} | {micros:6.0f} |")
    print()
    print("# batches (issue 17): µs per item, one phase")
    for label, micros in batches.items():
        print(f"{label:<56} | {micros:6.1f} |")
    if yardsticks:
        slotted = statistics.median(r[2] for r in rows)
        plain = statistics.median(r[3] for r in rows)
        print(f"{'yardstick, one Treasury row (median over the phases)':<56} | {plain:6.0f} |")
        print(f"{'yardstick, 64 Treasury slots (median over the phases)':<56} | {slotted:6.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
