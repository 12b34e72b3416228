"""`wallet seed`: the contract's users and their opening balances (db/seed.sql)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from service import OWNER_ROLE, db_dir


def seed(admin_url: str, say: Callable[[str], object] = print) -> None:
    """The contract's users and their opening balances; running it again changes nothing."""
    script = (db_dir() / "seed.sql").read_text(encoding="utf-8")
    with psycopg.connect(admin_url) as conn:
        conn.execute(f"SET ROLE {OWNER_ROLE}")
        rows = conn.execute(script.encode()).fetchall()
        conn.commit()
    for user_id, asset_id, balance, replayed in rows:
        state = "already seeded" if replayed else "seeded"
        say(f"{user_id:<14} {asset_id:<20} {balance:>12}  {state}")
