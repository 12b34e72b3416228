"""Operations: health (for load balancers and orchestrators) and Prometheus metrics."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from service.http.codec import encode, json_response
from service.http.gate import Gate
from service.http.wire import HealthResponse
from service.ledger import Ledger, LedgerUnavailableError
from service.observability import metrics_text

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4"


@get(
    "/health",
    summary="ok; degraded when Redis is down (limits open); 503 when PostgreSQL is unreachable",
    tags=["operations"],
    responses={
        503: ResponseSpec(HealthResponse, description="PostgreSQL is unreachable"),
    },
)
async def health(
    ledger: NamedDependency[Ledger], gate: NamedDependency[Gate]
) -> Response[HealthResponse]:
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


@get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    tags=["operations"],
    media_type=METRICS_MEDIA_TYPE,
)
async def metrics() -> Response[bytes]:
    return Response(metrics_text(), media_type=f"{METRICS_MEDIA_TYPE}; charset=utf-8")


ROUTES = [health, metrics]
