"""bench/sql/slotted_yardstick.py: the yardstick with 64 Treasury slots that make bench-sql and
make bench-sql-costs measure against. Its figures only mean something if the copy does exactly
the yardstick's work on its own tables, so every rewrite must apply and none may be missed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "sql" / "slotted_yardstick.py"
YARDSTICK = ROOT.parent / "shared" / "bench" / "baseline.sql"

spec = importlib.util.spec_from_file_location("slotted_yardstick", SCRIPT)
assert spec is not None and spec.loader is not None
slotted_yardstick = importlib.util.module_from_spec(spec)
sys.modules["slotted_yardstick"] = slotted_yardstick
spec.loader.exec_module(slotted_yardstick)

# The parts of ../shared/bench/baseline.sql the rewrite depends on, for when it is not there.
MINIMAL = """-- a comment that names baseline stays as it is
DROP SCHEMA IF EXISTS baseline CASCADE;
CREATE SCHEMA baseline;
CREATE TABLE baseline.wallets (id bigint, owner_id text, asset_id text, balance numeric);
{insert}
CREATE FUNCTION baseline.topup(p_asset text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM id FROM baseline.wallets WHERE owner_id = 'TREASURY' AND asset_id = p_asset;
END $$;
""".format(
    insert="INSERT INTO baseline.wallets (owner_id, asset_id, balance) "
    "VALUES ('TREASURY', 'asset-gold-coin-001', 0);"
)


def sources() -> list[str]:
    found = [MINIMAL]
    if YARDSTICK.is_file():
        found.append(YARDSTICK.read_text())
    return found


@pytest.mark.parametrize("text", sources(), ids=lambda t: "minimal" if t is MINIMAL else "shared")
def test_the_copy_has_64_treasury_rows_in_a_schema_of_its_own(text: str) -> None:
    copy = slotted_yardstick.slotted(text)
    code = [line for line in copy.splitlines() if not line.lstrip().startswith("--")]
    assert not any("baseline" in line for line in code)
    assert "CREATE SCHEMA yardstick_slotted;" in copy
    assert "generate_series(0, 63)" in copy
    assert "'TREASURY-' || (pg_backend_pid() % 64)" in copy
    assert "owner_id = 'TREASURY' " not in copy


def test_a_changed_yardstick_is_refused_rather_than_half_rewritten() -> None:
    changed = MINIMAL.replace("WHERE owner_id = 'TREASURY' AND", "WHERE owner_id = 'MINT' AND")
    with pytest.raises(ValueError, match="TREASURY"):
        slotted_yardstick.slotted(changed)


def test_a_reference_to_the_yardstick_left_unrewritten_is_refused() -> None:
    with pytest.raises(ValueError, match="unrewritten"):
        slotted_yardstick.slotted(MINIMAL.replace("END $$;", "    PERFORM baseline .x();\nEND $$;"))
