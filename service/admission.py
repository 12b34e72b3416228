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
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.config import RateLimit, Settings, claim_ttl_seconds
from service.observability import REDIS_FAILURES

# Redis unreachable, whichever way it shows: a RedisError, or, while Redis shuts down under
# uvloop, the RuntimeError of a write to a transport the loop has closed (redis-py lets it through
# from its reconnect). Every Redis call of this module treats them alike: the fast path is lost.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisError, RuntimeError)

log = logging.getLogger("wallet.admission")

_SCRIPT = """
-- KEYS[1] general counter prefix, KEYS[2] idempotency key (or ""), KEYS[3] transactions
-- counter prefix (or ""). ARGV: fingerprint, claim ttl, general limit, general window,
-- transactions limit, transactions window (a limit of 0 is off), the request's token.
-- Returns {verdict, detail, g_limit, g_remaining, g_reset, t_limit, t_remaining, t_reset}; a
-- claim's detail is the transactions counter it counted in (or ""), for a refund.
-- A key's value: P|fingerprint|token (claimed), D|fingerprints|status|body (done: one
-- fingerprint, or several separated by commas, each a request the ledger answers with that
-- transaction), or R|fingerprint|token (released: as good as absent, except to the request of
-- that token).
local now = tonumber(redis.call('TIME')[1])

local held = false
if KEYS[2] ~= '' then
  held = redis.call('GET', KEYS[2])
  if held then
    local state, rest = string.match(held, '^(%a)|[%x,]+|(.*)$')
    if state == 'R' then
      -- this very request, run by Redis after the service stopped waiting and settled it: nothing
      -- more to do (not even counting); any other request finds the key free
      if rest == ARGV[7] then return {'settled', '', 0, 0, 0, 0, 0, 0} end
      held = false
    end
  end
end

local function count(prefix, limit, window)
  if prefix == '' or limit == 0 then return {0, 0, 0, ''} end
  local key = prefix .. ':' .. math.floor(now / window)
  local used = redis.call('INCR', key)
  if used == 1 then redis.call('EXPIRE', key, window + 1) end
  return {limit, limit - used, window - (now % window), key}
end

local g = count(KEYS[1], tonumber(ARGV[3]), tonumber(ARGV[4]))
if g[1] > 0 and g[2] < 0 then
  return {'limited', 'general', g[1], 0, g[3], 0, 0, 0}
end
if KEYS[2] == '' then
  return {'admitted', '', g[1], g[2], g[3], 0, 0, 0}
end

if held then
  local state, fingerprints, rest = string.match(held, '^(%a)|([%x,]+)|(.*)$')
  if not string.find(',' .. fingerprints .. ',', ',' .. ARGV[1] .. ',', 1, true) then
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
redis.call('SET', KEYS[2], 'P|' .. ARGV[1] .. '|' .. ARGV[7], 'EX', tonumber(ARGV[2]))
return {'claimed', t[4], g[1], g[2], g[3], t[1], t[2], t[3]}
"""

# Frees a key whose request moved nothing, unless another request holds it now: the key becomes
# R|fingerprint|token, which the admission script treats as absent, except that the same request's
# claim arriving late (Redis ran it after the service stopped waiting) then claims nothing.
# KEYS[1] the idempotency key, KEYS[2] the transactions counter to refund (or "").
# ARGV: fingerprint, token, how long the marker lives.
_RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held or held == 'P|' .. ARGV[1] .. '|' .. ARGV[2] then
  redis.call('SET', KEYS[1], 'R|' .. ARGV[1] .. '|' .. ARGV[2], 'EX', tonumber(ARGV[3]))
end
if KEYS[2] ~= '' and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 1
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
class Claim:
    """What a money-moving request holds in Redis, or may hold: enough to settle it afterwards."""

    idempotency_key: str  # the Redis key
    fingerprint: str
    token: str  # this request's, so that settling it never touches another request's claim
    counted_in: str  # the transactions counter that counted the request ("" if none or unknown)
    # False when Redis did not answer in time: it may have run the claim, or may run it yet
    certain: bool


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    quota: Quota | None = None  # the tightest limit that applied, for RateLimit-* headers
    limit: str | None = None  # "limited": which limit was reached ("general" or "transactions")
    answer: StoredAnswer | None = None  # "replay": the key's first answer
    claim: Claim | None = None  # "claimed", or "open" after a timeout: what to settle

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


# The fingerprint's form: its version is part of the key, so that after a deploy that changes
# what makes two requests the same (service/http/metadata.py) a repeat of a request made before
# it finds no answer in Redis, and the ledger answers it, instead of a fingerprint in the old form
# answering 422 idempotency_key_reused. Old keys expire with their TTL.
FINGERPRINT_VERSION = 2


def idempotency_key(client: str, key: str) -> str:
    """The Redis key holding a client's Idempotency-Key: its claim, then its answer."""
    return f"wallet:idem:{FINGERPRINT_VERSION}:{client}:{key}"


# Settling a claim whose admission timed out is retried in the background for up to the claim's
# lifetime; past this many such settlements at once (Redis hung under load), new ones are dropped
# and their claims simply expire.
_MAX_SETTLING = 10_000


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
        self._release = self._redis.register_script(_RELEASE)
        self._ttl = settings.idempotency_ttl
        self.claim_ttl = claim_ttl_seconds(settings)
        self._general = _limit_args(settings.rate_limit_general)
        self._transactions = _limit_args(settings.rate_limit_transactions)
        self._last_warning = 0.0
        self._settling: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        if self._settling:  # a moment for claims of timed-out admissions to be settled
            await asyncio.wait(self._settling, timeout=1)
            for task in self._settling:
                task.cancel()
        with contextlib.suppress(*REDIS_DOWN, TimeoutError):
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
        the user whose transaction limit counts them (none: no user's), and are claimed when
        admitted."""
        if not key and self._general[0] == 0:
            return Admission("admitted")  # a read with the general limit off: nothing to count
        keys = [
            f"wallet:rl:key:{client}",
            idempotency_key(client, key) if key else "",
            f"wallet:rl:user:{user_id}" if key and user_id else "",
        ]
        token = secrets.token_hex(8) if key else ""
        args: list[str | int] = [
            fingerprint,
            self.claim_ttl,
            *self._general,
            *self._transactions,
            token,
        ]
        try:
            values = await self._script(keys=keys, args=args)
        except RedisTimeoutError as exc:
            # Redis may still run the script (it was sent): the request goes on without the
            # claim, and settles the claim it may have made once it knows its outcome
            self._warn("admit", exc)
            if not key:
                return Admission("open")
            return Admission("open", claim=Claim(keys[1], fingerprint, token, "", certain=False))
        except REDIS_DOWN as exc:
            self._warn("admit", exc)
            return Admission("open")
        verdict, detail, quota = values[0].decode(), values[1], _tightest(values)
        if verdict == "limited":
            return Admission(verdict, quota, limit=detail.decode())
        if verdict == "replay":
            status, _, body = detail.partition(b"|")
            return Admission(verdict, quota, answer=StoredAnswer(int(status), body))
        if verdict == "claimed":
            claim = Claim(keys[1], fingerprint, token, detail.decode(), certain=True)
            return Admission(verdict, quota, claim=claim)
        return Admission(verdict, quota)

    async def complete(
        self, claim: Claim, status: int, body: bytes, also_same: Sequence[str] = ()
    ) -> None:
        """Keeps the answer for repeats of the key; the claim becomes the result. `also_same`:
        the fingerprints of other requests that the ledger answers with the same transaction,
        which Redis then answers alike."""
        fingerprints = ",".join([claim.fingerprint, *also_same]).encode()
        value = b"D|" + fingerprints + b"|" + str(status).encode() + b"|" + body
        await self._settle(claim, "complete", lambda: self._redis.set(
            claim.idempotency_key, value, ex=self._ttl))  # fmt: skip

    async def release(self, claim: Claim, *, refund: bool) -> None:
        """Nothing moved (rejected or failed): the key is free for a corrected retry. With
        `refund`, the request does not count against the user's transaction limit either."""
        counter = claim.counted_in if refund else ""
        await self._settle(claim, "release", lambda: self._release(
            keys=[claim.idempotency_key, counter],
            args=[claim.fingerprint, claim.token, self.claim_ttl]))  # fmt: skip

    async def _settle(
        self, claim: Claim, action: str, command: Callable[[], Awaitable[object]]
    ) -> None:
        if claim.certain:
            try:
                await command()
            except REDIS_DOWN as exc:
                self._warn(action, exc)
            return
        if len(self._settling) >= _MAX_SETTLING:
            return
        task = asyncio.create_task(self._settle_until_done(action, command))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle_until_done(
        self, action: str, command: Callable[[], Awaitable[object]]
    ) -> None:
        """Retries a settlement until Redis takes it, for as long as a claim could live."""
        deadline = time.monotonic() + self.claim_ttl
        pause = 0.05
        while True:
            try:
                await command()
                return
            except REDIS_DOWN as exc:
                if time.monotonic() + pause > deadline:
                    self._warn(action, exc)
                    return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except REDIS_DOWN:
            return False
