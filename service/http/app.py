"""The app factory: wires settings, the ledger, Redis and the key ring, the /api/v1 router with its
guard, error handlers and OpenAPI, and the operator console under /console; nothing else."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, Router
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler

from service.admission import Admissions
from service.auth import KeyRing
from service.config import Settings, load_settings
from service.console import pages as console
from service.console.sessions import Sessions
from service.http import batches, events, holds, money, operations, reads, reversals
from service.http.codec import ExactJSONRequest
from service.http.gate import Gate
from service.http.guards import ApiKeyGuard
from service.http.openapi import openapi_config
from service.ledger import (
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    OutOfRangeArgumentError,
    RefusedArgumentError,
    UnstorableTextError,
)
from service.observability import Observed, configure_logging, tracing_plugin, write_log
from service.problems import (
    DESCRIPTION_FIELD,
    PROBLEM_MEDIA_TYPE,
    FieldError,
    ProblemError,
    from_decode_error,
    from_ledger,
    from_out_of_range,
    unavailable,
    validation_failed,
)
from service.sealer import SealedSignal, Sealer
from service.sweeper import HoldSweeper
from service.webhooks import WebhookDeliverer

# Every route's body limit but a batch's, which sets its own (service/http/batches.py)
MAX_BODY_BYTES = 16 * 1024
# Litestar's own HTTP errors (no route, wrong method, ...) by status
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _problem_response(request: Request[Any, Any, Any], error: ProblemError) -> Response[bytes]:
    request_id = request.scope.get("wallet.request_id")
    return Response(
        msgspec.json.encode(error.problem(request_id if isinstance(request_id, str) else None)),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(error.headers),
    )


def _on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    return _problem_response(request, exc)


def _on_ledger_error(request: Request[Any, Any, Any], exc: LedgerError) -> Response[bytes]:
    try:
        error = from_ledger(exc, request.route_handler.opt.get(DESCRIPTION_FIELD, "description"))
    except LookupError:  # a broken invariant of the ledger: never the client's doing
        return _on_unexpected(request, exc)
    return _problem_response(request, error)


def _on_unavailable(
    request: Request[Any, Any, Any], exc: LedgerUnavailableError
) -> Response[bytes]:
    return _problem_response(request, unavailable(exc.reason))


def _on_unstorable_text(
    request: Request[Any, Any, Any], exc: UnstorableTextError
) -> Response[bytes]:
    error = validation_failed(
        "the request holds text that cannot be stored",
        [FieldError("body", "text may not contain the NUL character (U+0000)")],
    )
    return _problem_response(request, error)


def _on_refused_argument(
    request: Request[Any, Any, Any], exc: RefusedArgumentError
) -> Response[bytes]:
    # the edge's own checks (service/rules.py) should have refused it first: defence in depth
    error = validation_failed(
        "the request holds a value the database cannot take",
        [FieldError("body", f"a value the database cannot take: {exc}")],
    )
    return _problem_response(request, error)


def _on_out_of_range(
    request: Request[Any, Any, Any], exc: OutOfRangeArgumentError
) -> Response[bytes]:
    return _problem_response(request, from_out_of_range(exc))


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    errors = [
        from_decode_error(str(item.get("message", "")), str(item.get("key") or "body"))
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    if not errors:
        errors = [FieldError("body", str(exc.detail))]
    return _problem_response(request, validation_failed("the request is not valid", errors))


def _body_limit(request: Request[Any, Any, Any]) -> int:
    """The body limit of the request's route: the app's, or the route's own (a batch's)."""
    handler = request.scope.get("route_handler")
    if isinstance(handler, HTTPRouteHandler):
        return handler.resolve_request_max_body_size() or MAX_BODY_BYTES
    return MAX_BODY_BYTES


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 400:
        # Litestar's own 400s are bodies that are not JSON at all
        error = validation_failed("the body is not valid JSON", [FieldError("body", exc.detail)])
    elif status == 413:
        error = ProblemError(
            "payload_too_large", f"this route's bodies are limited to {_body_limit(request)} bytes"
        )
    elif status in _HTTP_CODES:
        error = ProblemError(_HTTP_CODES[status], exc.detail, headers=exc.headers or {})
    else:
        error = ProblemError("http_error", exc.detail, headers=exc.headers or {}, status=status)
    return _problem_response(request, error)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    write_log(
        {
            "level": "error",
            "msg": "unhandled exception",
            "requestId": request.scope.get("wallet.request_id"),
            "error": repr(exc),
            "traceback": traceback.format_exception(exc),
        }
    )
    error = ProblemError("internal_error", "an unexpected error; it has been logged")
    return _problem_response(request, error)


@dataclass(frozen=True, slots=True)
class Backends:
    """What the app talks to, made once per process and opened and closed by its lifespan."""

    ledger: Ledger
    admissions: Admissions
    keyring: KeyRing
    # woken by the sealer's NOTIFY through the key ring's listener (without it, a long-poll
    # looks again every second)
    sealed: SealedSignal = field(default_factory=SealedSignal)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        ledger = Ledger(settings)
        listen_url = settings.listen_database_url or settings.database_url
        sealed = SealedSignal()
        keyring = KeyRing(ledger, listen_url, on_sealed=sealed.notify)
        return cls(ledger, Admissions(settings), keyring, sealed)


def create_litestar(settings: Settings, backends: Backends | None = None) -> Litestar:
    backends = backends or Backends.from_settings(settings)
    ledger, admissions, keyring = backends.ledger, backends.admissions, backends.keyring
    sweeper = HoldSweeper(settings)
    sealer = Sealer(settings)
    deliverer = WebhookDeliverer(settings, ledger, backends.sealed)
    sessions = Sessions(settings)
    plugins: list[Any] = []
    tracer_provider: Any = None
    if settings.otel_endpoint:
        plugin, tracer_provider = tracing_plugin(settings.otel_endpoint, settings.otel_service_name)
        plugins.append(plugin)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await ledger.open()
        await keyring.start()
        await sweeper.start()
        await sealer.start()
        await deliverer.start()
        try:
            yield
        finally:
            # on SIGTERM the server stops accepting and lets requests in flight finish first
            await deliverer.stop()
            await sealer.stop()
            await sweeper.stop()
            await keyring.stop()
            await sessions.close()
            await admissions.close()
            await ledger.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()

    # Each module's routes are bound to what they use when they are made: Litestar's dependency
    # injection, resolving a handler's independent dependencies concurrently, cost an anyio task
    # group per request (65-90 µs with three of them) and, chained to avoid it, still 4% more
    # interpreter work per top-up than this (docs/performance.md).
    gate = Gate(admissions)
    api = Router(
        "/api/v1",
        route_handlers=[
            *money.routes(ledger, gate),
            *reversals.routes(ledger, gate),
            *holds.routes(ledger, gate),
            *batches.routes(ledger, gate),
            *reads.routes(ledger, gate),
            *events.routes(ledger, gate, backends.sealed),
        ],
        guards=[ApiKeyGuard(keyring)],
    )
    return Litestar(
        route_handlers=[
            api,
            *operations.routes(ledger, gate),
            console.routes(ledger, gate, keyring, sessions),
        ],
        lifespan=[lifespan],
        plugins=plugins,
        request_max_body_size=MAX_BODY_BYTES,
        request_class=ExactJSONRequest,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins))
        if settings.cors_origins
        else None,
        exception_handlers={
            ProblemError: _on_problem,
            LedgerError: _on_ledger_error,
            LedgerUnavailableError: _on_unavailable,
            UnstorableTextError: _on_unstorable_text,
            RefusedArgumentError: _on_refused_argument,
            OutOfRangeArgumentError: _on_out_of_range,
            ValidationException: _on_validation,
            HTTPException: _on_http,
            Exception: _on_unexpected,
        },
        openapi_config=openapi_config(),
        logging_config=None,
    )


def create_app(settings: Settings | None = None) -> Observed:
    """The ASGI app `wallet serve` runs: Litestar inside the request-id/log/metrics layer."""
    configure_logging()
    return Observed(create_litestar(settings or load_settings()))  # type: ignore[arg-type]
