"""The gate between a request and the ledger: Redis (service/admission.py) counts the rate limits,
and for a money-moving request runs the exactly-once flow around its one ledger call. A request's
data makes one pass: handler -> gate -> ledger -> gate -> handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from service.admission import Admission, Admissions
from service.auth import ApiClient
from service.ledger import LedgerError, RefusedArgumentError, UnstorableTextError
from service.observability import RATE_LIMITED, REPLAYS
from service.problems import ProblemError

CREATED = 201


@dataclass(frozen=True, slots=True)
class Moved:
    """What a money request's one ledger call came to: its 201 body, whether the ledger replayed
    an earlier transaction, and the fingerprints of other requests that the ledger would answer
    with the same transaction (a reversal of "all that remains" and of the amount that was all)."""

    body: bytes
    replayed: bool
    also_same: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


def rate_headers(admission: Admission) -> dict[str, str]:
    """RateLimit-* of the tightest limit that counted the request, if any did."""
    quota = admission.quota
    if quota is None:
        return {}
    return {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset_seconds),
    }


def _refusal(admission: Admission, headers: dict[str, str]) -> ProblemError | None:
    """The problem answering an admission that is neither a go-ahead nor a replay, if any."""
    if admission.verdict == "limited":
        RATE_LIMITED.labels(admission.limit).inc()
        which = "API key's request" if admission.limit == "general" else "user's transaction"
        retry = str(admission.quota.reset_seconds if admission.quota else 1)
        return ProblemError(
            "rate_limited",
            f"the {which} limit is reached; retry after {retry} s",
            headers={**headers, "Retry-After": retry},
        )
    if admission.verdict == "in_flight":
        return ProblemError(
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is being processed; retry shortly for its result",
            headers={**headers, "Retry-After": "1"},
        )
    if admission.verdict == "reused":
        return ProblemError(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
            headers=headers,
        )
    return None


# Refusals of a valid request that the same request may pass later (once the user has the
# money, once a limit resets or is raised): real attempts on the user's money
_ATTEMPTS = frozenset({"insufficient_funds", "balance_limit_exceeded", "velocity_limit_exceeded"})


def _not_an_attempt(exc: BaseException) -> bool:
    """Whether the ledger refused the request as invalid (an amount, asset or user id it does not
    accept, a key reused...): such a request gives the user's transaction limit its count back,
    so that nobody can use up another user's quota with requests that could never move money.
    Insufficient funds and a limit's refusal are real attempts on the user's money, and count."""
    if isinstance(exc, UnstorableTextError | RefusedArgumentError):
        return True
    return isinstance(exc, LedgerError) and exc.code not in _ATTEMPTS


class Gate:
    def __init__(self, admissions: Admissions) -> None:
        self._admissions = admissions

    async def admit_read(self, client: ApiClient) -> dict[str, str]:
        """Counts a read against the client's general limit: its RateLimit-* headers, or the
        rate_limited problem."""
        admission = await self._admissions.admit(client.name)
        headers = rate_headers(admission)
        refusal = _refusal(admission, headers)
        if refusal is not None:
            raise refusal
        return headers

    async def exactly_once(
        self,
        client: ApiClient,
        key: str,
        fingerprint: str,
        user_id: str | None,
        move: Callable[[], Awaitable[Moved]],
    ) -> Answer:
        """Moves money once per (client, key): `move` makes the ledger call. A repeat that Redis
        still remembers is answered from there; a key in flight, reused with another request, or
        over a limit is refused. `user_id` is the user whose transaction limit counts the
        request (None: no user's). Redis being down only skips the fast path: the ledger's own
        unique (client, key) still makes the movement happen once."""
        admission = await self._admissions.admit(
            client.name, key=key, fingerprint=fingerprint, user_id=user_id or ""
        )
        headers = rate_headers(admission)
        if admission.answer is not None:
            REPLAYS.labels("redis").inc()
            headers["Idempotent-Replayed"] = "true"
            return Answer(admission.answer.status, admission.answer.body, headers)
        refusal = _refusal(admission, headers)
        if refusal is not None:
            raise refusal
        claim = admission.claim  # held, or perhaps held if Redis timed out
        try:
            moved = await move()
        except BaseException as exc:
            if claim is not None:  # nothing moved: the key is free for a corrected retry
                await self._admissions.release(claim, refund=_not_an_attempt(exc))
            raise
        if claim is not None:
            await self._admissions.complete(claim, CREATED, moved.body, moved.also_same)
        if moved.replayed:
            REPLAYS.labels("ledger").inc()
            headers["Idempotent-Replayed"] = "true"
        return Answer(CREATED, moved.body, headers)

    async def ping(self) -> bool:
        return await self._admissions.ping()
