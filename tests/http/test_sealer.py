"""The service's sealer (service/sealer.py; issue 18): what the service posts is
sealed by the service itself within about WALLET_SEAL_INTERVAL_MS, and /metrics says so."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from service.config import Settings
from tests.support import running_app, topup


async def test_the_running_service_seals_what_it_posts_and_reports_it_in_metrics(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, seal_interval_ms=50) as api:
        answer = await topup(api, auth, f"u-{unique}", "3.00")
        assert answer.status_code == 201, answer.text
        transaction = int(answer.json()["transactionId"])
        sequence = None
        async with asyncio.timeout(5):
            while sequence is None:
                sequence = await admin_conn.fetchval(
                    "SELECT sequence FROM ledger.seals WHERE transaction_id = $1", transaction
                )
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a turn after the seal: the gauges read nothing left
        metrics = (await api.get("/metrics")).text
    sealed = re.search(r"^wallet_sealed_transactions_total ([0-9.e+]+)$", metrics, re.M)
    assert sealed and float(sealed[1]) >= 1, metrics
    assert re.search(r'^wallet_seal_passes_total\{outcome="sealed"\} [1-9]', metrics, re.M)
    assert re.search(r"^wallet_seal_unsealed 0\.0$", metrics, re.M), metrics
    verdict = await admin_conn.fetchrow("SELECT * FROM api.verify_seal()")
    assert verdict["problem"] is None, verdict
