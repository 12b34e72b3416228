"""Redis is bounded (maxmemory, allkeys-lru) and losing answers to eviction loses nothing: the
repeats of evicted keys are answered by the ledger, with the same transaction, and nothing
moves twice."""

from __future__ import annotations

import os
import re
import uuid

from redis.asyncio import Redis

from service.config import Settings
from tests.support import GOLD, running_app

FILLER = "test:filler:"


def _bytes(size: str) -> int:
    """Redis's size notation, as scripts/stack.sh passes REDIS_MAXMEMORY: 256mb, 1gb, 4096."""
    number, unit = re.fullmatch(r"([0-9]+)([kmg]?b?)", size.strip().lower()).groups()  # type: ignore[union-attr]
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "kb": 2**10, "mb": 2**20, "gb": 2**30}
    return int(number) * units.get(unit, 1)


async def test_the_local_stack_redis_is_bounded_and_evicts_least_recently_used(
    redis_client: Redis,
) -> None:
    """The tests run on a Redis of scripts/stack.sh (make test): bounded as it says."""
    config = await redis_client.config_get("maxmemory*")
    assert int(config["maxmemory"]) == _bytes(os.environ.get("REDIS_MAXMEMORY", "256mb"))
    assert config["maxmemory-policy"] == "allkeys-lru"


async def test_answers_evicted_past_the_bound_are_replayed_by_the_ledger_and_nothing_doubles(
    settings: Settings, key: str, unique: str, redis_client: Redis
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    user = f"u-{unique}"
    bound = (await redis_client.config_get("maxmemory"))["maxmemory"]
    used = (await redis_client.info("memory"))["used_memory"]
    requests = [
        ({**auth, "Idempotency-Key": str(uuid.uuid4())},
         {"userId": user, "assetTypeId": GOLD, "amount": f"{i + 1}.00"})
        for i in range(40)
    ]  # fmt: skip
    try:
        # room for what is there and 2 MB more; then 8 MB of newer keys push the answers out
        await redis_client.config_set("maxmemory", used + 2 * 2**20)
        async with running_app(settings) as api:
            first = [
                await api.post("/api/v1/wallet/topup", json=body, headers=headers)
                for headers, body in requests
            ]
            assert all(r.status_code == 201 for r in first)
            evicted_before = (await redis_client.info("stats"))["evicted_keys"]
            chunk = b"x" * 8192
            for n in range(1024):
                await redis_client.set(f"{FILLER}{unique}:{n}", chunk, ex=60)
            assert (await redis_client.info("stats"))["evicted_keys"] > evicted_before
            gone = [
                headers
                for headers, _ in requests
                if not await redis_client.keys(f"wallet:idem:*:{headers['Idempotency-Key']}")
            ]
            assert gone, "the bound evicted some of the stored answers"
            again = [
                await api.post("/api/v1/wallet/topup", json=body, headers=headers)
                for headers, body in requests
            ]
            balance = await api.get(f"/api/v1/wallet/{user}/balance", headers=auth)
    finally:
        await redis_client.config_set("maxmemory", bound)
        async for filler in redis_client.scan_iter(f"{FILLER}{unique}:*", count=1000):
            await redis_client.delete(filler)
    for before, after in zip(first, again, strict=True):
        assert after.status_code == 201 and after.headers["idempotent-replayed"] == "true"
        assert after.json()["transactionId"] == before.json()["transactionId"]
    assert balance.json()["balances"][1]["balance"] == f"{sum(range(1, 41))}.00", "nothing doubled"
    print(f"{len(gone)} of {len(requests)} answers evicted, all replayed from the ledger")
