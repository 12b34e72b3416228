"""A measurement, not part of the service: how much Redis memory one stored answer takes, so that
an operator can size `maxmemory` for their rate and WALLET_IDEMPOTENCY_TTL (docs/operations.md).

Stores N answers as the service does (Admissions.complete: the key wallet:idem:2:<client>:<key>
holding D|fingerprint|201|body, with its TTL), bodies made by the money route's own
transaction_body from realistic values, then reads Redis's used_memory before and after, and
MEMORY USAGE of a sample of keys; deletes what it stored. Run it against an idle Redis
(WALLET_REDIS_URL, e.g. a stack's from `scripts/stack.sh env test`):

    .venv/bin/python bench/redis/answer_memory.py [N]     # N answers, default 20000
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from service.admission import Admissions, Claim, idempotency_key
from service.config import load_settings
from service.http.money import transaction_body
from service.http.wire import TopupRequest
from service.ledger import Posting

CLIENT = "answer-memory-bench"


async def measure(count: int) -> dict[str, float]:
    settings = load_settings()
    redis = Redis.from_url(settings.redis_url)
    admissions = Admissions(settings)
    try:
        await redis.memory_purge()
        before = (await redis.info("memory"))["used_memory"]
        keys: list[str] = []
        for i in range(count):
            key = str(uuid.uuid4())  # what clients send most
            request = TopupRequest(
                user_id=f"player-{i:09d}", asset_type_id="asset-gold-coin-001", amount="100.00"
            )
            posting = Posting(
                transaction_id=10_000_000 + i,
                wallet_id=1_000_000 + i,
                balance=Decimal("12345.67"),
                replayed=False,
                amount=Decimal("100.00"),
                created_at=datetime.now(UTC),
            )
            fingerprint = hashlib.sha256(key.encode()).hexdigest()
            redis_key = idempotency_key(CLIENT, key)
            claim = Claim(redis_key, fingerprint, "0" * 16, "", certain=True)
            await admissions.complete(claim, 201, transaction_body("topup", request, posting))
            keys.append(redis_key)
        after = (await redis.info("memory"))["used_memory"]
        sample = keys[:: max(1, count // 200)]
        usages = [await redis.memory_usage(k) or 0 for k in sample]
        value = await redis.get(keys[0]) or b""
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
        return {
            "answers": count,
            "used_memory_delta_per_answer": (after - before) / count,
            "memory_usage_per_key": sum(usages) / len(usages),
            "value_bytes": len(value),
            "key_bytes": len(keys[0]),
        }
    finally:
        await admissions.close()
        await redis.aclose()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    figures = asyncio.run(measure(count))
    per_answer = figures["used_memory_delta_per_answer"]
    print(
        f"{figures['answers']} answers: {per_answer:.0f} bytes each by used_memory, "
        f"{figures['memory_usage_per_key']:.0f} by MEMORY USAGE "
        f"(key {figures['key_bytes']} bytes, value {figures['value_bytes']} bytes); "
        f"1,000 answers/s kept 24 h: {per_answer * 1000 * 86400 / 2**30:.1f} GiB"
    )


if __name__ == "__main__":
    main()
