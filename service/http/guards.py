"""The guard of every /api/v1 route: an active API key holding the route's scope, and a JSON body
on a POST. The client it finds is what the handlers receive as `client`."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.auth import ApiClient, KeyRing
from service.http.codec import JSON
from service.problems import ProblemError, unavailable

# Where the guard leaves the client in the ASGI scope: "wallet.client" (its name) is also read
# by the log line of service/observability.py.
_CLIENT = "wallet.api_client"
_CLIENT_NAME = "wallet.client"
_CHALLENGE = 'Bearer realm="wallet"'

AnyRequest = Request[Any, Any, Any]
# A POST route's option: it may be sent without a body (a hold's void), then with no Content-Type
BODY_OPTIONAL = "body_optional"


def _no_body(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    headers = connection.headers
    return "transfer-encoding" not in headers and headers.get("content-length", "0") == "0"


class ApiKeyGuard:
    """Checks the key against the key ring's in-memory copy of the active keys (no database call)
    and the route's scope, `opt={"scope": ...}` on its handler. A coroutine though it never
    awaits: Litestar runs a plain function guard in a thread pool, a hand-off that cost more than
    the rest of a request's Python."""

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring

    def __deepcopy__(self, memo: dict[int, Any]) -> ApiKeyGuard:
        """Itself: Litestar deep-copies a Router as it registers it, and a copy would hold a copy
        of the key ring, one that the running service never loads."""
        return self

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        scope: str | None = handler.opt.get("scope")
        if scope is None and connection.scope.get("method") == "OPTIONS":
            # Litestar's own answer to OPTIONS (the allowed methods, no data) has no scope and,
            # as before the routes shared a Router, needs no key
            return
        if scope is None:
            raise RuntimeError(f"{handler} under /api/v1 names no scope in its opt")
        if not self._keyring.loaded:
            # a key cannot be judged before the keys were read once: not the client's fault
            raise unavailable("API keys cannot be read yet: the database is unreachable")
        authorization = connection.headers.get("authorization")
        if not authorization:
            raise ProblemError(
                "unauthenticated",
                "send an API key: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        client = self._keyring.client(authorization)
        if client is None:
            raise ProblemError(
                "unauthenticated",
                "the API key is not valid (unknown or revoked)",
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        if scope not in client.scopes:
            raise ProblemError("forbidden", f"this API key lacks the scope {scope}")
        connection.scope[_CLIENT_NAME] = client.name  # type: ignore[literal-required]
        connection.scope[_CLIENT] = client  # type: ignore[literal-required]
        if connection.scope.get("method") == "POST" and not (
            handler.opt.get(BODY_OPTIONAL) and _no_body(connection)
        ):
            media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != JSON and not media_type.endswith("+json"):
                raise ProblemError(
                    "unsupported_media_type",
                    "send the body as JSON: Content-Type: application/json",
                )


def guarded_client(request: AnyRequest) -> ApiClient:
    """The client ApiKeyGuard admitted to the request's /api/v1 route."""
    client: ApiClient = request.scope[_CLIENT]  # type: ignore[literal-required]
    return client
