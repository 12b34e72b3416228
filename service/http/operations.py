"""Operations: health (for load balancers and orchestrators) and Prometheus metrics."""

from __future__ import annotations

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from service.http.codec import encode, json_response
from service.http.gate import Gate
from service.http.wire import HealthResponse
from service.ledger import Ledger, LedgerUnavailableError
from service.observability import metrics_text

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4"


@get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    tags=["operations"],
    media_type=METRICS_MEDIA_TYPE,
)
async def metrics() -> Response[bytes]:
    return Response(metrics_text(), media_type=f"{METRICS_MEDIA_TYPE}; charset=utf-8")


def routes(ledger: Ledger, gate: Gate) -> list[HTTPRouteHandler]:
    """Health, bound to the ledger and the gate it checks, and metrics."""

    @get(
        "/health",
        summary="ok; degraded when Redis is down (limits open); 503 when PostgreSQL is unreachable",
        tags=["operations"],
        responses={
            503: ResponseSpec(HealthResponse, description="PostgreSQL is unreachable"),
        },
    )
    async def health() -> Response[HealthResponse]:
        checks = {"postgres": "ok", "redis": "ok"}
        try:
            await ledger.ping()
        except LedgerUnavailableError:
            checks["postgres"] = "unreachable"
        if not await gate.ping():
            checks["redis"] = "unreachable"
        if checks["postgres"] != "ok":
            status, code = "unavailable", 503
        else:
            status, code = ("ok", 200) if checks["redis"] == "ok" else ("degraded", 200)
        body = encode(HealthResponse(status=status, checks=checks))  # type: ignore[arg-type]
        return json_response(body, code, {})

    return [health, metrics]
