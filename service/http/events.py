"""The event stream over HTTP (issue 18): GET /api/v1/events, every sealed
transaction in seal order after a sequence the consumer has seen (api.events), with a long-poll
(`wait`, up to 30 s) woken by the sealer's NOTIFY (service/sealer.py, SealedSignal). Sealed only:
an event's place never changes and none is ever inserted before one already read, so `after` is a
complete cursor; a consumer that stores the last sequence it handled misses nothing and, after a
crash, sees again at most what it had not stored (delivery is at least once: deduplicate by
sequence)."""

from __future__ import annotations

import re
import time
from typing import Annotated

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import QueryParameter

from service import rules
from service.http.codec import decimal_text, encode, json_response
from service.http.gate import Gate
from service.http.guards import AnyRequest, guarded_client
from service.http.openapi import API_PROBLEMS, problem_responses
from service.http.wire import Event, EventLeg, EventsResponse
from service.ledger import EventRow, Ledger
from service.problems import FieldError, validation_failed
from service.sealer import SealedSignal

_COUNT = re.compile(r"^(0|[1-9][0-9]{0,17})$")
_legs = msgspec.json.Decoder(list[EventLeg])
# a long-poll looks again at least this often, a NOTIFY missed (the listener reconnecting) or not
_RECHECK_SECONDS = 1.0


def event_arguments(after: str | None, limit: str | None, wait: str | None) -> tuple[int, int, int]:
    """after, limit and wait, or validation_failed naming each bad one."""
    errors: list[FieldError] = []
    values = {"after": 0, "limit": rules.EVENTS_LIMIT_DEFAULT, "wait": 0}
    bounds = {
        "after": (0, None, "after is a sequence: a whole number from 0"),
        "limit": (1, rules.EVENTS_LIMIT_MAX,
                  f"limit is a whole number from 1 to {rules.EVENTS_LIMIT_MAX}"),
        "wait": (0, rules.EVENTS_WAIT_MAX_SECONDS,
                 f"wait is whole seconds from 0 to {rules.EVENTS_WAIT_MAX_SECONDS}"),
    }  # fmt: skip
    for name, text in (("after", after), ("limit", limit), ("wait", wait)):
        if text is None:
            continue
        low, high, message = bounds[name]
        if _COUNT.match(text) and int(text) >= low and (high is None or int(text) <= high):
            values[name] = int(text)
        else:
            errors.append(FieldError(name, message))
    if errors:
        raise validation_failed("the request is not valid", errors)
    return values["after"], values["limit"], values["wait"]


def event_of(row: EventRow) -> Event:
    """An event as the stream and the webhooks give it."""
    return Event(
        sequence=str(row.sequence),
        type=row.type,  # type: ignore[arg-type]
        transaction_id=str(row.transaction_id),
        user_id=row.user_id,
        asset_type_id=row.asset_id,
        amount=None if row.amount is None else decimal_text(row.amount),
        entries=_legs.decode(row.entries),
        metadata=row.metadata,
        created_at=row.created_at,
        posted_at=row.posted_at,
    )


def routes(ledger: Ledger, gate: Gate, sealed: SealedSignal) -> list[HTTPRouteHandler]:
    @get(
        "/events",
        opt={"scope": rules.SCOPE_EVENTS},
        responses=problem_responses("validation_failed", *API_PROBLEMS),
        summary="Every sealed transaction in seal order after a sequence, waiting up to `wait` "
        "seconds for the first",
        tags=["events"],
    )
    async def events(
        request: AnyRequest,
        after: Annotated[
            str | None, QueryParameter(description="the last sequence handled, default 0")
        ] = None,
        limit: Annotated[
            str | None,
            QueryParameter(
                description=f"1 to {rules.EVENTS_LIMIT_MAX}, default {rules.EVENTS_LIMIT_DEFAULT}"
            ),
        ] = None,
        wait: Annotated[
            str | None,
            QueryParameter(
                description=f"seconds to wait when nothing follows `after` (0 to "
                f"{rules.EVENTS_WAIT_MAX_SECONDS}, default 0)"
            ),
        ] = None,
    ) -> Response[EventsResponse]:
        start_after, count, seconds = event_arguments(after, limit, wait)
        headers = await gate.admit_read(guarded_client(request))
        deadline = time.monotonic() + seconds
        rows = await ledger.events(start_after, count)
        while not rows and (left := deadline - time.monotonic()) > 0:
            await sealed.wait(min(left, _RECHECK_SECONDS))
            rows = await ledger.events(start_after, count)
        body = EventsResponse(
            events=[event_of(row) for row in rows],
            next_after=str(rows[-1].sequence) if rows else str(start_after),
        )
        return json_response(encode(body), 200, headers)

    return [events]
