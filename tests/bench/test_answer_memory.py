"""bench/redis/answer_memory.py in small, so that it cannot rot: it stores answers as the service
does, measures them, and leaves nothing behind."""

from __future__ import annotations

import importlib.util
import sys

from redis.asyncio import Redis

from service.admission import idempotency_key
from tests.support import ROOT


async def test_answer_memory_measures_and_cleans_up(redis_client: Redis) -> None:
    spec = importlib.util.spec_from_file_location(
        "answer_memory", ROOT / "bench" / "redis" / "answer_memory.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["answer_memory"] = module
    spec.loader.exec_module(module)
    figures = await module.measure(300)
    assert figures["answers"] == 300
    # a top-up's answer: ~300 bytes of body and a ~70-byte key, and Redis's own overhead
    assert 350 < figures["memory_usage_per_key"] < 1000
    assert 250 < figures["value_bytes"] < 400
    assert not await redis_client.keys(idempotency_key(module.CLIENT, "*"))
