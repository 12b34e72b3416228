"""Print ../shared/bench/baseline.sql rewritten as the yardstick with 64 Treasury slots.

The yardstick (schema baseline) locks one Treasury row on every top-up. This copy, in schema
yardstick_slotted, is the same function doing the same work, except that it picks one of 64
Treasury rows by its backend's pid, so sessions wait for each other only when their pids fall on
the same row. It is not a design to ship (a busy row is waited for, never skipped, and it has
none of our guarantees); it measures what the plain design costs per call once nothing queues,
which is the ceiling our top-ups are compared with in docs/performance.md.

usage: python3 bench/sql/slotted_yardstick.py [BASELINE_SQL] | psql ...
Fails (exit 1) if the yardstick's text has changed so that the rewrite no longer applies.
"""

import sys
from pathlib import Path

SLOTS = 64
DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "bench" / "baseline.sql"

# (what the yardstick says, what the slotted copy says instead); each must occur exactly once
REWRITES = [
    (
        "DROP SCHEMA IF EXISTS baseline CASCADE;",
        "DROP SCHEMA IF EXISTS yardstick_slotted CASCADE;",
    ),
    ("CREATE SCHEMA baseline;", "CREATE SCHEMA yardstick_slotted;"),
    (
        "INSERT INTO baseline.wallets (owner_id, asset_id, balance) "
        "VALUES ('TREASURY', 'asset-gold-coin-001', 0);",
        "INSERT INTO yardstick_slotted.wallets (owner_id, asset_id, balance)\n"
        f"SELECT 'TREASURY-' || g, 'asset-gold-coin-001', 0\n"
        f"FROM generate_series(0, {SLOTS - 1}) AS g;",
    ),
    (
        "WHERE owner_id = 'TREASURY' AND asset_id = p_asset;",
        f"WHERE owner_id = 'TREASURY-' || (pg_backend_pid() % {SLOTS}) AND asset_id = p_asset;",
    ),
]


def slotted(text: str) -> str:
    for old, new in REWRITES:
        if text.count(old) != 1:
            raise ValueError(f"expected exactly one {old!r} in the yardstick")
        text = text.replace(old, new)
    text = text.replace("baseline.", "yardstick_slotted.")
    # a schema name left unrewritten would make the copy touch the real yardstick
    for line in text.splitlines():
        if "baseline" in line and not line.lstrip().startswith("--"):
            raise ValueError(f"unrewritten reference to schema baseline: {line.strip()!r}")
    return text


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    try:
        sys.stdout.write(slotted(path.read_text()))
    except (OSError, ValueError) as error:
        print(f"slotted_yardstick.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
