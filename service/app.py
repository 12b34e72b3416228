"""The app factory: wires settings, pools, error handlers, OpenAPI and routes; nothing else."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from service.admission import Admissions
from service.auth import KeyRing
from service.config import Settings, load_settings
from service.db import Database
from service.observability import Observed, configure_logging, tracing_plugin, write_log
from service.problems import (
    PROBLEM_MEDIA_TYPE,
    FieldError,
    ProblemError,
    from_decode_error,
    validation_failed,
)
from service.routes import ROUTES, ExactJSONRequest

MAX_BODY_BYTES = 16 * 1024
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


def _on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    errors = [
        from_decode_error(str(item.get("message", "")), str(item.get("key") or "body"))
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    if not errors:
        errors = [FieldError("body", str(exc.detail))]
    return _problem_response(request, validation_failed("the request is not valid", errors))


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 400:
        # Litestar's own 400s are bodies that are not JSON at all
        error = validation_failed("the body is not valid JSON", [FieldError("body", exc.detail)])
    elif status == 413:
        error = ProblemError(
            413, "payload_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
        )
    else:
        code = _HTTP_CODES.get(status, "http_error")
        error = ProblemError(status, code, exc.detail, headers=exc.headers or {})
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
    error = ProblemError(500, "internal_error", "an unexpected error; it has been logged")
    return _problem_response(request, error)


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Wallet Service",
        version="1.0.0",
        description="Double-entry wallets for virtual currencies. Every error is an RFC 9457 "
        "problem (application/problem+json) with a stable `code`; see docs/http-api.md.",
        path="/schema",
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http", scheme="bearer", description="an API key from `wallet keys create`"
                )
            }
        ),
        security=[{"apiKey": []}],
    )


def create_litestar(settings: Settings) -> Litestar:
    database = Database(settings)
    admissions = Admissions(settings)
    keyring = KeyRing(database, settings.listen_database_url or settings.database_url)
    plugins: list[Any] = []
    tracer_provider: Any = None
    if settings.otel_endpoint:
        plugin, tracer_provider = tracing_plugin(settings.otel_endpoint, settings.otel_service_name)
        plugins.append(plugin)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.open()
        await keyring.start()
        try:
            yield
        finally:
            # on SIGTERM the server stops accepting and lets requests in flight finish first
            await keyring.stop()
            await admissions.close()
            await database.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()

    return Litestar(
        route_handlers=ROUTES,
        lifespan=[lifespan],
        state=State({"database": database, "admissions": admissions, "keyring": keyring}),
        plugins=plugins,
        request_max_body_size=MAX_BODY_BYTES,
        request_class=ExactJSONRequest,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins))
        if settings.cors_origins
        else None,
        exception_handlers={
            ProblemError: _on_problem,
            ValidationException: _on_validation,
            HTTPException: _on_http,
            Exception: _on_unexpected,
        },
        openapi_config=_openapi(),
        logging_config=None,
    )


def create_app(settings: Settings | None = None) -> Observed:
    """The ASGI app `wallet serve` runs: Litestar inside the request-id/log/metrics layer."""
    configure_logging()
    return Observed(create_litestar(settings or load_settings()))  # type: ignore[arg-type]
