"""The webhooks' delivery worker: POSTs each subscription's events, in sequence order, to its URL,
signed, at least once (docs/webhooks.md; the SQL side is db/functions/29_webhooks.sql).

Every worker process of every instance runs one (WALLET_WEBHOOK_INTERVAL_MS; 0 = none). A turn
leases the subscriptions that are due and behind the seal's head (api.webhook_claim: a committed
lease with an expiry, never a row lock held through an HTTP request, which would hold back the
snapshot xmin and with it the sealer) and delivers each in a task of its own, so a slow or dead
receiver never holds up another subscription. A task posts up to WEBHOOK_BATCH events at a time
from the subscription's cursor and moves the cursor (api.webhook_delivered) only after a 2xx
answer; any other answer, a timeout or no connection counts a failure and backs off
exponentially (WALLET_WEBHOOK_BACKOFF_MS, doubled per consecutive failure up to
WALLET_WEBHOOK_BACKOFF_MAX_MS, with jitter); at WALLET_WEBHOOK_FAILING_AFTER consecutive failures
the subscription is marked failing (still retried). A worker that dies mid-delivery loses its
lease when it expires and the next worker resumes from the cursor: the receiver may see a batch
again, never a gap or a later batch first. The sealer's NOTIFY wakes the turn, so an event is
usually posted within moments of being sealed.

Signature (Stripe's scheme): `Wallet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" under the subscription's secret>`; a receiver recomputes it over the raw body and
refuses a timestamp older than a few minutes, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
import uuid

import httpx

from service.config import Settings
from service.http.codec import encode
from service.http.events import event_of
from service.http.wire import WebhookDelivery
from service.ledger import Ledger, WebhookClaim
from service.observability import (
    WEBHOOK_BACKLOG,
    WEBHOOK_DELIVERIES,
    WEBHOOK_EVENTS,
    WEBHOOK_SUBSCRIPTIONS,
)
from service.sealer import SealedSignal

log = logging.getLogger("wallet.webhooks")

# events per request at most (a subscription's backlog drains in requests of this many)
WEBHOOK_BATCH = 100
# subscriptions one worker delivers at once
WEBHOOK_CONCURRENCY = 16
SIGNATURE_HEADER = "Wallet-Signature"
STATUSES = ("active", "failing", "disabled")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Wallet-Signature header's value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def backoff_ms(settings: Settings, failures: int) -> int:
    """The delay before the next attempt after `failures` consecutive failures (1 or more):
    the first delay doubled per failure before, capped, then between half and all of it, so
    that subscriptions failing together do not retry in step."""
    doubled = settings.webhook_backoff_ms * 2 ** min(failures - 1, 40)
    delay = min(doubled, settings.webhook_backoff_max_ms)
    return int(delay * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not a secret)


def lease_seconds(settings: Settings) -> int:
    """Longer than a delivery can take (its timeout, twice, plus the database calls around it),
    so that a lease does not expire under a worker still delivering; a worker that died holds
    its subscriptions this long (25 s with the default 10 s timeout)."""
    return 2 * -(-settings.webhook_timeout_ms // 1000) + 5


class WebhookDeliverer:
    """The delivery worker of one process: started and stopped by the app's lifespan."""

    name = "wallet-service-webhooks"

    def __init__(
        self, settings: Settings, ledger: Ledger, sealed: SealedSignal | None = None
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._sealed = sealed
        self._interval = settings.webhook_interval_ms / 1000
        self._lease = lease_seconds(settings)
        self._owner = uuid.uuid4()  # this worker's leases
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._delivering: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        if self._interval > 0:
            self._client = httpx.AsyncClient(
                timeout=self._settings.webhook_timeout_ms / 1000,
                follow_redirects=False,  # a redirect is an answer other than 2xx: a failure
                headers={"User-Agent": "wallet-service-webhooks/1"},
            )
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stops delivering and gives the leases back, so that another worker resumes at once (a
        request cut short is sent again from the cursor: at least once)."""
        leased = list(self._delivering)
        tasks = [t for t in (self._task, *self._delivering.values()) if t is not None]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.gather(*tasks, return_exceptions=True)
                for webhook_id in leased:
                    await self._ledger.webhook_release(webhook_id, self._owner)
        self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            try:
                await self.turn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 (the task must outlive any failure)
                log.warning("%s: turn failed: %s", self.name, exc)
            if self._sealed is not None:
                await self._sealed.wait(self._interval)
            else:
                await asyncio.sleep(self._interval)

    async def turn(self) -> None:
        """Leases what is due (as many as this worker has room for) and starts delivering it, then
        reads the subscriptions for /metrics."""
        room = WEBHOOK_CONCURRENCY - len(self._delivering)
        if room > 0:
            for claim in await self._ledger.webhook_claim(self._owner, self._lease, room):
                if claim.id in self._delivering:  # our own lease expired under a slow task
                    continue
                task = asyncio.create_task(self._deliver(claim), name=f"webhook-{claim.id}")
                self._delivering[claim.id] = task
                task.add_done_callback(self._forget)
        rows = await self._ledger.webhooks()
        for status in STATUSES:
            WEBHOOK_SUBSCRIPTIONS.labels(status).set(sum(r.status == status for r in rows))
        WEBHOOK_BACKLOG.set(max((r.backlog for r in rows if r.status != "disabled"), default=0))

    def _forget(self, task: asyncio.Task[None]) -> None:
        for webhook_id, running in list(self._delivering.items()):
            if running is task:
                del self._delivering[webhook_id]

    async def _deliver(self, claim: WebhookClaim) -> None:
        """Delivers one subscription from its cursor until it has caught up or a delivery fails."""
        types = None if claim.event_types is None else frozenset(claim.event_types)
        cursor, failures = claim.after_sequence, claim.failures
        try:
            while True:
                rows = await self._ledger.events(cursor, WEBHOOK_BATCH)
                if not rows:
                    await self._ledger.webhook_release(claim.id, self._owner)
                    return
                chosen = [row for row in rows if types is None or row.type in types]
                if chosen:
                    body = encode(
                        WebhookDelivery(
                            subscription_id=str(claim.id), events=[event_of(r) for r in chosen]
                        )
                    )
                    error = await self._post(claim, body)
                    if error is not None:
                        await self._failed(claim, failures + 1, error)
                        return
                    WEBHOOK_DELIVERIES.labels("delivered").inc()
                    WEBHOOK_EVENTS.inc(len(chosen))
                moved = await self._ledger.webhook_delivered(
                    claim.id, self._owner, rows[-1].sequence, len(chosen), self._lease
                )
                if not moved:
                    log.warning("webhook %s: lease lost, another worker delivers it", claim.id)
                    return
                cursor, failures = rows[-1].sequence, 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (the database: the lease expires, the next turn retries)
            log.warning("webhook %s: delivery stopped: %s", claim.id, exc)

    async def _post(self, claim: WebhookClaim, body: bytes) -> str | None:
        """None when the receiver answered 2xx, else why not."""
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(claim.secret, int(time.time()), body),
            "Wallet-Webhook-Id": str(claim.id),
        }
        try:
            response = await self._client.post(claim.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"no answer within {self._settings.webhook_timeout_ms} ms"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _failed(self, claim: WebhookClaim, failures: int, error: str) -> None:
        WEBHOOK_DELIVERIES.labels("failed").inc()
        delay = backoff_ms(self._settings, failures)
        outcome = await self._ledger.webhook_failed(
            claim.id, self._owner, error, delay, self._settings.webhook_failing_after
        )
        status = "lease lost" if outcome is None else outcome[1]
        log.warning(
            "webhook %s to %s failed (%s, %d in a row, %s): next try in %d ms",
            claim.id, claim.url, error, failures, status, delay,
        )  # fmt: skip
