"""The cost of limits on ledger._post (issue 16), in one session: this branch's _post against
the _post of a base commit (default main) loaded as costs_limits._post, alternating rounds so
drift falls on all alike; top-ups and spends on an asset without limits, and this branch's _post
with limits on (generous ones, so every call is counted and none refused). Like
posting_costs.py's time_call: a DO loop of N calls, one COMMIT each, synchronous_commit off.

Usage: python3 bench/sql/limits_cost.py ROUNDS CALLS [BASE]   (with the PG* variables of a stack
whose database you may write to: it tops up 10,000 bench users and sets, then removes, limits on
the gold asset; run it on a throwaway stack only).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

GOLD = "asset-gold-coin-001"


def psql(sql: str) -> str:
    out = subprocess.run(  # noqa: S603 - our psql, running SQL this script writes
        [os.environ.get("PSQL", "psql"), "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        env={**os.environ, "PGOPTIONS": "-c synchronous_commit=off -c client_min_messages=warning"},
    )
    if out.returncode != 0:
        raise SystemExit(f"limits_cost.py: psql failed:\n{out.stderr.strip()}")
    return out.stdout + out.stderr


def base_post(base: str) -> str:
    text = subprocess.run(  # noqa: S603 - git show of a commit the caller names
        ["git", "show", f"{base}:db/functions/10_ledger_private.sql"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    start = text.index("CREATE OR REPLACE FUNCTION ledger._post(")
    end = text.index("$$;", text.index("AS $$", start)) + 3
    return text[start:end].replace("FUNCTION ledger._post(", "FUNCTION costs_limits._post(", 1)


def time_call(call: str, calls: int) -> float:
    out = psql(f"""
DO $$ DECLARE t0 timestamptz; U text; K text; BEGIN
  t0 := clock_timestamp();
  FOR i IN 1..{calls} LOOP
    U := 'bench-lim-' || (1 + floor(random() * 10000))::int; K := gen_random_uuid()::text;
    PERFORM {call};
    COMMIT;
  END LOOP;
  RAISE WARNING 'us_per_call %', extract(epoch FROM clock_timestamp() - t0) * 1e6 / {calls};
END $$;""")
    match = re.search(r"us_per_call ([0-9.]+)", out)
    if not match:
        raise SystemExit(f"limits_cost.py: no timing in {out!r}")
    return float(match.group(1))


def main() -> int:
    rounds, calls = int(sys.argv[1]), int(sys.argv[2])
    base = sys.argv[3] if len(sys.argv) > 3 else "main"
    psql("DROP SCHEMA IF EXISTS costs_limits CASCADE; CREATE SCHEMA costs_limits;")
    psql(base_post(base))
    # every bench user holds enough for the spends
    psql(f"""DO $$ BEGIN FOR i IN 1..10000 LOOP
        PERFORM ledger._post('topup', 'bench-lim-' || i, '{GOLD}', 1000000, NULL,
                             'bench-lim-fund-' || i || '-' || gen_random_uuid(), '{{}}', NULL);
        END LOOP; END $$;""")
    topup = "{}._post('topup', U, '" + GOLD + "', 1, NULL, K, '{{}}', NULL)"
    spend = "{}._post('spend', U, '" + GOLD + "', 0.01, 'bench', K, '{{}}', NULL)"
    limits_on = f"SELECT api.set_asset_limits('{GOLD}', 1e15, 1e15, 1e15)"
    limits_off = f"SELECT api.set_asset_limits('{GOLD}', NULL, NULL, NULL)"
    steps = [
        ("top-up, base _post", topup.format("costs_limits"), limits_off),
        ("top-up, branch _post, no limits", topup.format("ledger"), limits_off),
        ("top-up, branch _post, limits on", topup.format("ledger"), limits_on),
        ("spend, base _post", spend.format("costs_limits"), limits_off),
        ("spend, branch _post, no limits", spend.format("ledger"), limits_off),
        ("spend, branch _post, limits on", spend.format("ledger"), limits_on),
    ]
    samples: dict[str, list[float]] = {label: [] for label, _, _ in steps}
    try:
        for _ in range(rounds):
            for label, call, before in steps:
                psql(before)
                samples[label].append(time_call(call, calls))
                print(".", end="", file=sys.stderr, flush=True)
    finally:
        psql(limits_off)
        psql("DROP SCHEMA IF EXISTS costs_limits CASCADE;")
    print(file=sys.stderr)
    for label, values in samples.items():
        print(
            f"{label:36s} median {statistics.median(values):7.1f} us/call  "
            f"rounds {' '.join(f'{v:.1f}' for v in values)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
