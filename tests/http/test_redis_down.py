"""Redis failing in ways other than refusing a connection: still a fast path lost, never a 500."""

from __future__ import annotations

import pytest

from service.admission import Admissions
from service.config import Settings


async def test_bug_a_redis_connection_closed_under_the_event_loop_is_redis_down_not_500(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by tests/faults/test_redis.py (Redis stopped under load, `wallet serve` on uvloop):
    redis-py reconnecting to a Redis that was shutting down wrote to a transport uvloop had
    closed, and uvloop raised RuntimeError, not a RedisError: the admission let it through and
    the request was answered 500. The exception is injected here as it was raised there (the
    default event loop of the tests only logs such a write); Redis unreachable is a fast path
    lost, not an error: the request goes on unclaimed, its limits open."""
    admissions = Admissions(settings)

    async def closed_transport(*args: object, **kwargs: object) -> object:
        raise RuntimeError(
            "unable to perform operation on <TCPTransport closed=True reading=False>;"
            " the handler is closed"
        )

    monkeypatch.setattr(admissions._redis, "execute_command", closed_transport)
    try:
        admission = await admissions.admit("c", key="k", fingerprint="f", user_id="u")
        assert admission.verdict == "open"
        assert await admissions.ping() is False
    finally:
        await admissions.close()
