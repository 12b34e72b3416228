"""Holds (issue 16) over HTTP: a wallet's ledger and a transaction's detail that show a hold's
transactions (hold, capture, release)."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support import GOLD, topup

Client = httpx.AsyncClient


async def test_reads_show_a_holds_hold_capture_and_release_transactions(
    api: Client, auth: dict[str, str], unique: str, service_conn: asyncpg.Connection
) -> None:
    """The ledger page and the transaction detail validate (their types are declared) for a hold,
    a partial capture (its rest released to the user), a whole capture (no user leg: no balance)
    and a void."""
    user = f"u-{unique}"
    assert (await topup(api, auth, user, "10.00")).status_code == 201
    authorize = "SELECT * FROM api.authorize_hold($1, $2, $3, 'Entry fee', $4)"
    first = await service_conn.fetchrow(authorize, user, GOLD, 3, f"h1-{unique}")
    second = await service_conn.fetchrow(authorize, user, GOLD, 2, f"h2-{unique}")
    third = await service_conn.fetchrow(authorize, user, GOLD, 1, f"h3-{unique}")
    assert first is not None and second is not None and third is not None
    capture = "SELECT * FROM api.capture_hold($1, $2, $3)"
    part = await service_conn.fetchrow(capture, first["hold_id"], 1, f"c1-{unique}")
    whole = await service_conn.fetchrow(capture, second["hold_id"], None, f"c2-{unique}")
    void = await service_conn.fetchrow(
        "SELECT * FROM api.void_hold($1, $2)", third["hold_id"], f"v3-{unique}"
    )
    assert part is not None and whole is not None and void is not None

    page = await api.get(f"/api/v1/wallet/{first['wallet_id']}/ledger", headers=auth)
    assert page.status_code == 200, page.text
    lines = [(e["type"], e["direction"], e["amount"]) for e in page.json()["entries"]]
    assert lines == [
        ("release", "credit", "1.00"),
        ("capture", "credit", "2.00"),
        ("hold", "debit", "1.00"),
        ("hold", "debit", "2.00"),
        ("hold", "debit", "3.00"),
        ("topup", "credit", "10.00"),
    ]
    assert page.json()["balance"] == "7.00"

    hold = await api.get(f"/api/v1/transactions/{first['transaction_id']}", headers=auth)
    assert hold.status_code == 200, hold.text
    assert (hold.json()["type"], hold.json()["amount"], hold.json()["balance"]) == (
        "hold",
        "3.00",
        "7.00",
    )
    assert any(e["account"].startswith("holds#") for e in hold.json()["entries"] if e["account"])
    captured = await api.get(f"/api/v1/transactions/{part['transaction_id']}", headers=auth)
    assert captured.status_code == 200, captured.text
    assert (captured.json()["type"], captured.json()["amount"]) == ("capture", "1.00")
    all_of_it = await api.get(f"/api/v1/transactions/{whole['transaction_id']}", headers=auth)
    assert all_of_it.status_code == 200, all_of_it.text
    body = all_of_it.json()
    assert (body["type"], body["amount"], body["balance"], body["userId"]) == (
        "capture",
        "2.00",
        None,
        user,
    )
    released = await api.get(f"/api/v1/transactions/{void['transaction_id']}", headers=auth)
    assert released.status_code == 200, released.text
    assert (released.json()["type"], released.json()["amount"]) == ("release", "1.00")
