"""The load the fault tests put on a real `wallet serve`: top-ups and spends with known
Idempotency-Keys from many concurrent clients, every answer recorded per key.

A key ends up, from the client's side:
- acknowledged: a 201 carried its transactionId (every 201 for the key must carry the same body);
- refused: a final 4xx (422 insufficient_funds: nothing moved);
- lost: no final answer yet (no connection, a timeout, a 5xx, 409 idempotency_key_in_flight or
  a 429), so the client must retry it with the same key and body, as docs/http-api.md says.

`verify` then compares what the clients saw with the ledger itself: each acknowledged key has
exactly one ledger transaction, the one it was told; no refused or unanswered key moved money;
every user's balance is what the acknowledged answers add up to; the books reconcile.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.support import GOLD, ROOT

# How long a client waits for one answer. The service's own bounds (statement timeout 5 s, pool
# wait 5 s, Redis 0.5 s) keep every answer well inside it; a request past it is a hang.
REQUEST_TIMEOUT = 20.0
FUNDING = "1000.00"
FINAL_4XX = {(422, "insufficient_funds")}
RETRY_LATER = {(409, "idempotency_key_in_flight"), (429, "rate_limited")}


@dataclass(frozen=True)
class Answer:
    started: float  # time.monotonic() when the request was sent
    seconds: float
    status: int | None  # None: no HTTP answer at all (refused connection, reset, timeout)
    code: str | None = None  # a problem's code
    body: dict[str, Any] | None = None  # a 201's body
    replayed: bool = False
    error: str | None = None  # why there was no answer

    @property
    def final(self) -> bool:
        return self.status == 201 or (self.status, self.code) in FINAL_4XX


@dataclass
class Key:
    name: str
    kind: str  # topup | spend
    body: dict[str, Any]
    answers: list[Answer] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[dict[str, Any]]:
        return [a.body for a in self.answers if a.status == 201 and a.body is not None]

    @property
    def lost_once(self) -> bool:
        """An answer lost on the way: no answer at all, or a 5xx."""
        return any(a.status is None or a.status >= 500 for a in self.answers)

    @property
    def outcome(self) -> str:
        if self.acknowledged:
            return "acknowledged"
        if any(a.final for a in self.answers):
            return "refused"
        return "lost"


@dataclass
class Load:
    """Clients of one API key on users of their own (`prefix`-0 ... -n); `url` may change when a
    server is replaced. Each client sends a new key (a top-up or a spend), now and then two copies
    of a new key at once (a double click), or repeats an acknowledged key."""

    url: str
    api_key: str
    prefix: str
    users: int = 8
    seed: int = 7
    keys: dict[str, Key] = field(default_factory=dict)
    sent: int = 0
    retried: int = 0  # requests sent by retry_lost
    acknowledged: list[Key] = field(default_factory=list)  # in the order of their first 201

    @property
    def user_ids(self) -> list[str]:
        return [f"{self.prefix}-{i}" for i in range(self.users)]

    def _client(self) -> httpx.AsyncClient:
        # no kept connection: each request is a new one, so requests spread over the workers and
        # none is stuck on a connection to a dead process
        return httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0, max_connections=None),
        )

    def new_key(self, kind: str, user: str, amount: str) -> Key:
        name = f"{self.prefix}-{kind}-{len(self.keys)}"
        body: dict[str, Any] = {"userId": user, "assetTypeId": GOLD, "amount": amount}
        if kind == "spend":
            body["serviceDescription"] = "fault test"
        key = Key(name, kind, body)
        self.keys[name] = key
        return key

    async def send(self, client: httpx.AsyncClient, key: Key) -> Answer:
        self.sent += 1
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key.name}
        try:
            response = await client.post(
                f"{self.url}/api/v1/wallet/{key.kind}", json=key.body, headers=headers
            )
        except httpx.HTTPError as exc:
            answer = Answer(started, time.monotonic() - started, None, error=type(exc).__name__)
        else:
            seconds = time.monotonic() - started
            payload = response.json() if response.content else None
            if response.status_code == 201:
                answer = Answer(
                    started,
                    seconds,
                    201,
                    body=payload,
                    replayed=response.headers.get("idempotent-replayed") == "true",
                )
            else:
                code = payload.get("code") if isinstance(payload, dict) else None
                answer = Answer(started, seconds, response.status_code, code=code)
        if answer.status == 201 and not key.acknowledged:
            self.acknowledged.append(key)
        key.answers.append(answer)
        return answer

    async def fund(self) -> None:
        """Every user starts with FUNDING, so that spends rarely run short."""
        async with self._client() as client:
            for user in self.user_ids:
                answer = await self.send(client, self.new_key("topup", user, FUNDING))
                assert answer.status == 201, answer

    async def run(self, stop: asyncio.Event, clients: int = 16) -> None:
        """`clients` concurrent clients until `stop` is set. A client whose answer was lost
        pauses a moment (as a client with back-off does) and goes on with a new key: the lost
        ones are retried afterwards by retry_lost."""

        async def one_client(n: int) -> None:
            rng = random.Random(self.seed * 1000 + n)
            async with self._client() as client:
                while not stop.is_set():
                    draw = rng.random()
                    if draw < 0.15 and self.acknowledged:
                        answers = [await self.send(client, rng.choice(self.acknowledged))]
                    else:
                        kind = "topup" if draw < 0.55 else "spend"
                        amount = f"{rng.randint(1, 500) / 100:.2f}"
                        key = self.new_key(kind, rng.choice(self.user_ids), amount)
                        copies = 2 if draw > 0.92 else 1
                        answers = await asyncio.gather(
                            *(self.send(client, key) for _ in range(copies))
                        )
                    if any(not a.final and a.status not in (409,) for a in answers):
                        await asyncio.sleep(0.1)

        await asyncio.gather(*(one_client(n) for n in range(clients)))

    async def retry_lost(self, timeout: float, clients: int = 16) -> None:
        """Retries every key without a final answer, with its key and body, until each has one
        (a 409 in flight or a 503 is retried after a pause, as Retry-After says). At most
        `clients` requests at once, as many as the load had: a thousand lost keys retried all at
        once would be an overload of its own (it was: answers took up to 15 s, queued in the
        kernel's backlog)."""
        deadline = time.monotonic() + timeout
        slots = asyncio.Semaphore(clients)
        async with self._client() as client:

            async def settle(key: Key) -> None:
                while key.outcome == "lost":
                    assert time.monotonic() < deadline, f"{key.name} unanswered after {timeout} s"
                    self.retried += 1
                    async with slots:
                        answer = await self.send(client, key)
                    if not answer.final:
                        await asyncio.sleep(1.0)

            await asyncio.gather(*(settle(k) for k in self.keys.values() if k.outcome == "lost"))

    # ------------------------------------------------------------------------------------------
    def answers(self) -> list[Answer]:
        return [a for k in self.keys.values() for a in k.answers]

    def statuses(self) -> Counter[str]:
        """Answers by status and code ("201", "503 service_unavailable", "no answer")."""
        return Counter(
            "no answer" if a.status is None else f"{a.status} {a.code or ''}".strip()
            for a in self.answers()
        )


@dataclass
class Figures:
    keys: int
    sent: int
    acknowledged: int
    refused: int
    lost_once: int  # keys whose answer was lost at least once (no answer, or a 5xx)
    retried: int
    committed_unanswered: int  # lost keys whose retry found them already in the ledger
    duplicates: int
    statuses: Counter[str]
    max_seconds: float

    def report(self, name: str) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"faults {name}: {self.sent} requests sent for {self.keys} keys; "
            f"{self.acknowledged} acknowledged, {self.refused} refused, "
            f"{self.lost_once} with an answer lost ({self.committed_unanswered} of them committed "
            f"unanswered), {self.retried} retries, "
            f"{self.duplicates} duplicates; slowest answer {self.max_seconds:.2f} s; "
            f"answers: {statuses}"
        )


async def verify(load: Load, conn: asyncpg.Connection, client_id: str) -> Figures:
    """What the clients were told against the ledger; raises AssertionError on any difference."""
    rows: dict[str, list[int]] = {}
    for row in await conn.fetch(
        "SELECT id, idempotency_key FROM ledger.transactions WHERE client_id = $1", client_id
    ):
        rows.setdefault(row["idempotency_key"], []).append(row["id"])
    duplicates = sum(len(ids) - 1 for ids in rows.values())
    problems: list[str] = []
    expected: dict[str, Decimal] = dict.fromkeys(load.user_ids, Decimal(0))
    committed_unanswered = 0
    for key in load.keys.values():
        bodies = key.acknowledged
        if key.outcome == "lost":
            problems.append(f"{key.name}: never answered ({key.answers[-1]})")
        elif bodies:
            if any(body != bodies[0] for body in bodies):
                problems.append(f"{key.name}: different 201 bodies {bodies}")
            told = int(bodies[0]["transactionId"])
            if rows.get(key.name) != [told]:
                problems.append(f"{key.name}: told {told}, ledger has {rows.get(key.name)}")
            sign = 1 if key.kind == "topup" else -1
            expected[key.body["userId"]] += sign * Decimal(key.body["amount"])
            # the posting's own answer (the one not replayed) never reached a client
            if not any(a.status == 201 and not a.replayed for a in key.answers):
                committed_unanswered += 1
        elif key.name in rows:
            problems.append(f"{key.name}: refused ({key.answers[-1]}) yet in the ledger")
    strays = set(rows) - set(load.keys)
    if strays:
        problems.append(f"{len(strays)} ledger transactions of no key sent, e.g. {min(strays)}")
    balances = {
        r["user_id"]: r["balance"]
        for r in await conn.fetch(
            "SELECT u.user_id, b.balance FROM unnest($1::text[]) AS u(user_id),"
            " LATERAL api.balances(u.user_id, $2) AS b",
            load.user_ids,
            GOLD,
        )
    }
    if balances != expected:
        problems.append(f"balances {balances} are not what the 201s add up to: {expected}")
    assert not problems, f"{len(problems)} differences: " + "; ".join(problems[:10])
    assert duplicates == 0

    reconcile = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "service.cli", "reconcile"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr

    keys = load.keys.values()
    return Figures(
        keys=len(load.keys),
        sent=load.sent,
        acknowledged=sum(k.outcome == "acknowledged" for k in keys),
        refused=sum(k.outcome == "refused" for k in keys),
        lost_once=sum(k.lost_once for k in keys),
        retried=load.retried,
        committed_unanswered=committed_unanswered,
        duplicates=duplicates,
        statuses=load.statuses(),
        max_seconds=max(a.seconds for a in load.answers()),
    )
