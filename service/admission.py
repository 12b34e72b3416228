"""Redis in front of the ledger: rate limits and idempotency claims, in one round trip.

One Lua script (atomic across every worker and instance) counts the API key's general limit,
looks the Idempotency-Key up, counts the user's money-moving limit and claims the key. The
claim lives seconds, not a day: a process killed mid-request must not leave its key answering
409 for long. The finished answer is then kept for WALLET_IDEMPOTENCY_TTL so repeats are
answered from Redis. Redis is only the fast path: the ledger's durable (client, key) is the
guarantee, so when Redis is down requests go straight to the ledger (limits fail open) and
money still moves exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.config import RateLimit, Settings, claim_ttl_seconds
from service.observability import REDIS_FAILURES

log = logging.getLogger("wallet.admission")

_SCRIPT = """
-- KEYS[1] general counter prefix, KEYS[2] idempotency key (or ""), KEYS[3] transactions
-- counter prefix (or ""). ARGV: fingerprint, claim ttl, general limit, general window,
-- transactions limit, transactions window (a limit of 0 is off).
-- Returns {verdict, detail, g_limit, g_remaining, g_reset, t_limit, t_remaining, t_reset}.
local now = tonumber(redis.call('TIME')[1])

local function count(prefix, limit, window)
  if prefix == '' or limit == 0 then return {0, 0, 0} end
  local key = prefix .. ':' .. math.floor(now / window)
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('EXPIRE', key, window + 1) end
  return {limit, limit - used, window - (now % window)}
end

local g = count(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]))
if g[1] > 0 and g[2] < 0 then
  return {'limited', 'general', g[1], 0, g[3], 0, 0, 0}
end
if KEYS[2] == '' then
  return {'admitted', '', g[1], g[2], g[3], 0, 0, 0}
end

local held = redis.call('GET', KEYS[2])
if held then
  local state, fingerprint, rest = string.match(held, '^(%a)|(%x+)|(.*)$')
  if fingerprint ~= ARGV[1] then
    return {'reused', '', g[1], g[2], g[3], 0, 0, 0}
  end
  if state == 'P' then
    return {'in_flight', '', g[1], g[2], g[3], 0, 0, 0}
  end
  return {'replay', rest, g[1], g[2], g[3], 0, 0, 0}
end

local t = count(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6]))
if t[1] > 0 and t[2] < 0 then
  return {'limited', 'transactions', g[1], g[2], g[3], t[1], 0, t[3]}
end
redis.call('SET', KEYS[2], 'P|' .. ARGV[1] .. '|', 'EX', tonumber(ARGV[2]))
return {'claimed', '', g[1], g[2], g[3], t[1], t[2], t[3]}
"""

Verdict = Literal["admitted", "claimed", "replay", "in_flight", "reused", "limited", "open"]


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    reset_seconds: int


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer kept for an Idempotency-Key, sent again to its repeats."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    quota: Quota | None = None  # the tightest limit that applied, for RateLimit-* headers
    limit: str | None = None  # "limited": which limit was reached ("general" or "transactions")
    answer: StoredAnswer | None = None  # "replay": the key's first answer

    @property
    def claimed(self) -> bool:
        return self.verdict == "claimed"


def _tightest(values: list[Any]) -> Quota | None:
    quotas = [
        Quota(int(values[i]), max(int(values[i + 1]), 0), int(values[i + 2]))
        for i in (2, 5)
        if int(values[i]) > 0
    ]
    return min(quotas, key=lambda q: q.remaining) if quotas else None


def _limit_args(limit: RateLimit | None) -> tuple[int, int]:
    return (limit.limit, limit.window_seconds) if limit else (0, 1)


class Admissions:
    def __init__(self, settings: Settings) -> None:
        self._redis = aioredis.Redis.from_url(
            settings.redis_url,
            # a Redis that does not answer must not hold requests up: fail open quickly
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry_on_timeout=False,
        )
        self._script = self._redis.register_script(_SCRIPT)
        self._ttl = settings.idempotency_ttl
        self.claim_ttl = claim_ttl_seconds(settings)
        self._general = _limit_args(settings.rate_limit_general)
        self._transactions = _limit_args(settings.rate_limit_transactions)
        self._last_warning = 0.0

    async def close(self) -> None:
        with contextlib.suppress(RedisError, TimeoutError):
            async with asyncio.timeout(5):
                await self._redis.aclose()

    def _warn(self, action: str, exc: Exception) -> None:
        REDIS_FAILURES.inc()
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            log.warning("redis unavailable (%s): %s; limits open, ledger keys guard", action, exc)

    async def admit(
        self, client: str, *, key: str = "", fingerprint: str = "", user_id: str = ""
    ) -> Admission:
        """Reads pass only the client; money-moving requests pass the key, its fingerprint and
        the user, and are claimed when admitted."""
        if not key and self._general[0] == 0:
            return Admission("admitted")  # a read with the general limit off: nothing to count
        keys = [
            f"wallet:rl:key:{client}",
            f"wallet:idem:{client}:{key}" if key else "",
            f"wallet:rl:user:{user_id}" if key else "",
        ]
        args: list[str | int] = [
            fingerprint,
            self.claim_ttl,
            *self._general,
            *self._transactions,
        ]
        try:
            values = await self._script(keys=keys, args=args)
        except RedisError as exc:
            self._warn("admit", exc)
            return Admission("open")
        verdict, detail, quota = values[0].decode(), values[1], _tightest(values)
        if verdict == "limited":
            return Admission(verdict, quota, limit=detail.decode())
        if verdict == "replay":
            status, _, body = detail.partition(b"|")
            return Admission(verdict, quota, answer=StoredAnswer(int(status), body))
        return Admission(verdict, quota)

    async def complete(
        self, client: str, key: str, fingerprint: str, status: int, body: bytes
    ) -> None:
        """Keeps the answer for repeats of the key; the claim becomes the result."""
        value = b"D|" + fingerprint.encode() + b"|" + str(status).encode() + b"|" + body
        try:
            await self._redis.set(f"wallet:idem:{client}:{key}", value, ex=self._ttl)
        except RedisError as exc:
            self._warn("complete", exc)

    async def release(self, client: str, key: str) -> None:
        """Nothing moved (rejected or failed): the key is free for a corrected retry."""
        try:
            await self._redis.delete(f"wallet:idem:{client}:{key}")
        except RedisError as exc:
            self._warn("release", exc)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False
