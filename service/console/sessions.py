"""The console's sessions: an API key, presented once at sign-in, exchanged for a session.

The browser holds only a random session id, signed (HMAC-SHA256) in an HttpOnly, SameSite=Strict
cookie; the key itself is never sent back, rendered or stored in the browser. The session lives
in Redis, under a digest of its id (a copy of Redis reveals no cookie), holding the key's hash,
the key's name and the session's CSRF token. Kept server-side rather than in the cookie, so that
signing out ends it at once everywhere, and each worker and instance sees the same sessions.

A session ends after WALLET_CONSOLE_IDLE_MINUTES without a request (each request pushes the
expiry back), after ABSOLUTE_LIFETIME_SECONDS whatever happens, on sign-out, and when its key is
revoked (the console finds the key's client again on every request: service/console/guard.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from service.admission import REDIS_DOWN
from service.config import Settings

SESSION_COOKIE = "wallet_console"
# The sign-in form's CSRF token, before there is a session: the same random value in this cookie
# and in the form (double submit), so that another site cannot sign a browser in with its key
SIGN_IN_COOKIE = "wallet_console_sign_in"
# However active, a session ends this long after its sign-in
ABSOLUTE_LIFETIME_SECONDS = 12 * 3600
_SESSION_PREFIX = "wallet:console:session:"
# Where the signing secret is kept when WALLET_CONSOLE_SECRET is not set: made by the first
# worker that needs it (SET NX), then read by every other
_SECRET_REDIS_KEY = "wallet:console:secret"  # noqa: S105 (where it is kept, not it)


class SessionsUnavailableError(Exception):
    """Redis, where the sessions live, cannot be reached: nobody can sign in or be recognised."""


class _Record(msgspec.Struct, frozen=True):
    key_hash: str  # hex
    name: str
    csrf: str
    started: float  # Unix time of the sign-in


@dataclass(frozen=True, slots=True)
class Session:
    digest: str  # of the session id: its place in Redis
    key_hash: bytes
    name: str
    csrf: str
    started: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _signature(secret: bytes, session_id: str) -> str:
    mac = hmac.new(secret, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def new_token() -> str:
    """A random token (a CSRF token, a session id): 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str) -> bool:
    """Whether `given` is `expected`, in time that does not depend on where they differ."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(self, settings: Settings) -> None:
        self._redis = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        self.idle_seconds = settings.console_idle_minutes * 60
        self._configured_secret = settings.console_secret.encode() or None
        self._kept_secret: bytes | None = None  # Redis's, as this worker last read it

    async def close(self) -> None:
        with contextlib.suppress(*REDIS_DOWN, TimeoutError):
            await self._redis.aclose()

    async def _signing_secret(self, fresh: bool = False) -> bytes:
        """WALLET_CONSOLE_SECRET, else the one kept in Redis (made there by the first worker to
        need it). Read again when `fresh`: after Redis lost its data, the first worker to need a
        secret makes a new one, which every other must come to use too."""
        if self._configured_secret is not None:
            return self._configured_secret
        if self._kept_secret is None or fresh:
            await self._redis.set(_SECRET_REDIS_KEY, secrets.token_hex(32), nx=True)
            stored = await self._redis.get(_SECRET_REDIS_KEY)
            if not stored:
                raise SessionsUnavailableError("the console's signing secret cannot be read")
            self._kept_secret = stored if isinstance(stored, bytes) else stored.encode()
        return self._kept_secret

    async def start(self, key_hash: bytes, name: str) -> tuple[str, Session]:
        """A new session for the key with this hash: the cookie's value, and the session."""
        session_id = new_token()
        record = _Record(key_hash.hex(), name, new_token(), time.time())
        try:
            # read afresh: a sign-in is rare, and the session must be signed as every worker
            # will check it
            secret = await self._signing_secret(fresh=True)
            await self._redis.set(
                _SESSION_PREFIX + _digest(session_id),
                msgspec.json.encode(record),
                ex=self.idle_seconds,
            )
        except REDIS_DOWN as exc:
            raise SessionsUnavailableError(str(exc)) from exc
        cookie = f"{session_id}.{_signature(secret, session_id)}"
        return cookie, _session(_digest(session_id), record)

    async def find(self, cookie: str | None) -> Session | None:
        """The live session the cookie names, its idle expiry pushed back; None for no cookie,
        a cookie not signed by us, or a session that has ended."""
        if not cookie:
            return None
        session_id, _, signature = cookie.rpartition(".")
        if not session_id:
            return None
        try:
            secret = await self._signing_secret()
            if not same_token(signature, _signature(secret, session_id)):
                # the kept secret may have changed since this worker read it (Redis lost it)
                fresher = await self._signing_secret(fresh=True)
                if fresher == secret or not same_token(signature, _signature(fresher, session_id)):
                    return None
            digest = _digest(session_id)
            raw = await self._redis.getex(_SESSION_PREFIX + digest, ex=self.idle_seconds)
        except REDIS_DOWN as exc:
            raise SessionsUnavailableError(str(exc)) from exc
        if raw is None:
            return None
        record = msgspec.json.decode(raw, type=_Record)
        session = _session(digest, record)
        if time.time() - record.started > ABSOLUTE_LIFETIME_SECONDS:
            await self.end(session)
            return None
        return session

    async def end(self, session: Session) -> None:
        try:
            await self._redis.delete(_SESSION_PREFIX + session.digest)
        except REDIS_DOWN as exc:
            raise SessionsUnavailableError(str(exc)) from exc


def _session(digest: str, record: _Record) -> Session:
    return Session(digest, bytes.fromhex(record.key_hash), record.name, record.csrf, record.started)
