"""GET /api/v1/events (issue 18): the sealed transactions in seal order after a
sequence, and the long-poll the sealer's NOTIFY wakes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx

from service.config import Settings
from tests.support import GOLD, assert_problem, running_app, topup


async def head(conn: asyncpg.Connection) -> int:
    sequence: int = await conn.fetchval("SELECT last_sequence FROM api.seal_status()")
    return sequence


async def test_events_after_a_sequence_are_the_sealed_transactions_in_seal_order(
    settings: Settings, new_key: Callable[..., str], unique: str, admin_conn: asyncpg.Connection
) -> None:
    auth = {"Authorization": f"Bearer {new_key()}"}
    reader = {"Authorization": f"Bearer {new_key(['wallet:read'])}"}
    user = f"ev-{unique}"
    async with running_app(settings, seal_interval_ms=0) as api:  # sealed by hand below
        await admin_conn.execute("SELECT * FROM api.seal(100000)")
        after = await head(admin_conn)
        first = await topup(api, auth, user, "5.00")
        second = await api.post(
            "/api/v1/wallet/spend",
            json={
                "userId": user,
                "assetTypeId": GOLD,
                "amount": "2.00",
                "serviceDescription": "hat",
            },
            headers={**auth, "Idempotency-Key": f"spend-{unique}"},
        )
        assert (first.status_code, second.status_code) == (201, 201), second.text
        unsealed = await api.get(f"/api/v1/events?after={after}", headers=auth)
        assert unsealed.json() == {"events": [], "nextAfter": str(after)}, (
            "not sealed: no event yet"
        )
        await admin_conn.execute("SELECT * FROM api.seal(100000)")
        answer = await api.get(f"/api/v1/events?after={after}&limit=1000", headers=auth)
        forbidden = await api.get("/api/v1/events", headers=reader)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    mine = [e for e in body["events"] if e["userId"] == user]
    assert [(e["type"], e["amount"], e["transactionId"]) for e in mine] == [
        ("topup", "5.00", first.json()["transactionId"]),
        ("spend", "2.00", second.json()["transactionId"]),
    ]
    sequences = [int(e["sequence"]) for e in body["events"]]
    assert sequences == list(range(after + 1, after + 1 + len(sequences))), "gap-free, in order"
    assert body["nextAfter"] == str(sequences[-1])
    legs = mine[1]["entries"]
    assert (legs[0]["userId"], legs[0]["amount"], legs[0]["balanceAfter"]) == (
        user,
        "-2.00",
        "3.00",
    )
    assert legs[1]["account"].startswith("revenue#") and legs[1]["userId"] is None
    assert_problem(forbidden, 403, "forbidden")


async def test_bad_arguments_are_validation_failed_naming_each(
    api: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    answer = await api.get("/api/v1/events?after=-1&limit=1001&wait=31", headers=auth)
    problem = assert_problem(answer, 400, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["after", "limit", "wait"]


async def test_a_long_poll_answers_as_soon_as_the_service_seals_a_new_transaction(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, seal_interval_ms=50) as api:
        await asyncio.sleep(0.3)  # the sealer catches up with what is there
        after = await head(admin_conn)
        poll = asyncio.create_task(api.get(f"/api/v1/events?after={after}&wait=10", headers=auth))
        # just after the poll's own look of each second (events.py, _RECHECK_SECONDS): found by
        # looking again, the event would come 0.9 s after its posting; woken by the NOTIFY, at once
        await asyncio.sleep(1.1)
        assert not poll.done(), "nothing new: it waits"
        posted = await topup(api, auth, f"lp-{unique}", "1.00")
        started = time.monotonic()
        answer = await poll
        waited = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    events = answer.json()["events"]
    assert posted.json()["transactionId"] in [e["transactionId"] for e in events]
    assert waited < 0.7, f"woken by the sealer's NOTIFY, not by looking again: {waited:.2f} s"
