"""What wraps every request: request id, security headers, one JSON log line, Prometheus metrics,
and (when WALLET_OTEL_ENDPOINT is set) OpenTelemetry tracing.

The wrapper is plain ASGI around the whole Litestar app, so it also covers answers Litestar makes
before any route matched (404, 405). The log line never holds an API key, an Authorization
header or a body.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUESTS = Counter("wallet_http_requests", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "wallet_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
TRANSACTIONS = Counter(
    "wallet_transactions", "Ledger transactions made through the API", ["type", "asset"]
)
REPLAYS = Counter(
    "wallet_idempotent_replays",
    "Repeated Idempotency-Keys answered with the original result",
    ["source"],  # redis (the fast path) or ledger (Redis had lost it)
)
RATE_LIMITED = Counter("wallet_rate_limited", "Requests refused by a rate limit", ["limit"])
REDIS_FAILURES = Counter(
    "wallet_redis_failures", "Redis calls that failed (limits open, the ledger guards keys)"
)
HOLD_SWEEPS = Counter(
    "wallet_hold_sweeps",
    "Turns of the holds sweeper",
    ["outcome"],  # swept (it ran), skipped (another session was sweeping) or failed
)
HOLDS_EXPIRED = Counter("wallet_holds_expired", "Expired holds the sweepers released")
SEAL_PASSES = Counter(
    "wallet_seal_passes",
    "Turns of the sealer",
    ["outcome"],  # sealed (it ran), busy (another session was sealing) or failed
)
SEALED = Counter("wallet_sealed_transactions", "Transactions the sealers sealed")
# what each worker's sealer read after its turn (api.seal_status), the freshest of the live workers
SEAL_UNSEALED = Gauge(
    "wallet_seal_unsealed", "Committed transactions not sealed yet", multiprocess_mode="livemax"
)
SEAL_OLDEST_UNSEALED = Gauge(
    "wallet_seal_oldest_unsealed_seconds",
    "Age of the oldest transaction not sealed yet (0 when none)",
    multiprocess_mode="livemax",
)
# the webhooks' delivery workers (service/webhooks.py)
WEBHOOK_DELIVERIES = Counter(
    "wallet_webhook_deliveries",
    "Webhook requests sent",
    ["outcome"],  # delivered (a 2xx answer) or failed (another answer, a timeout, no connection)
)
WEBHOOK_EVENTS = Counter("wallet_webhook_events_delivered", "Events delivered by webhooks (2xx)")
# what each worker read after its turn (api.webhooks()), the freshest of the live workers
WEBHOOK_SUBSCRIPTIONS = Gauge(
    "wallet_webhook_subscriptions",
    "Webhook subscriptions by status (active, failing, disabled)",
    ["status"],
    multiprocess_mode="livemax",
)
WEBHOOK_BACKLOG = Gauge(
    "wallet_webhook_backlog_events",
    "Sealed events not yet delivered to the enabled subscription furthest behind",
    multiprocess_mode="livemax",
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
]
# The console's pages (service/console/): only its own style sheet and images, no script at all
# (it has none), forms posted only to itself, and never framed
_CONSOLE_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        b"base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_NO_STORE = (b"cache-control", b"no-store")
_log_encoder = msgspec.json.Encoder()


class _WorkersCollector(MultiProcessCollector):
    """MultiProcessCollector without the files of workers caught starting up, nor the "live"
    gauges of workers that are gone.

    A worker creates its metrics file, then sizes it; a scrape that globs the file in between
    reads an empty file, which prometheus_client fails on (struct.error), and /metrics would
    answer 500. Such a worker has counted nothing yet, so its file is left out.

    A live gauge (wallet_seal_unsealed, livemax) counts only live processes because a process
    that ends removes its file (prometheus_client's mark_process_dead); a worker killed (SIGKILL,
    the OOM killer) and replaced by Granian never does, and its last reading stayed in the max
    for good: 10,284 transactions unsealed with none left (tests/faults/test_sealer.py)."""

    def collect(self) -> Any:
        files = glob.glob(os.path.join(self._path, "*.db"))
        kept = [f for f in files if sized_metrics_file(f) and not _dead_live_gauge(f)]
        return self.merge(kept, accumulate=True)  # type: ignore[no-untyped-call]


def _dead_live_gauge(path: str) -> bool:
    """A live gauge's file (gauge_live<mode>_<pid>.db) whose process no longer exists."""
    name = os.path.basename(path)
    if not name.startswith("gauge_live"):
        return False
    try:
        os.kill(int(name[: -len(".db")].rsplit("_", 1)[1]), 0)
    except ValueError:  # not a pid: keep it
        return False
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of another user's: alive
        return False
    return False


def sized_metrics_file(path: str) -> bool:
    """False for a worker's metrics file not sized yet (or gone): it holds nothing to read."""
    try:
        return os.path.getsize(path) >= 8  # the used-bytes header every sized file starts with
    except FileNotFoundError:  # a dead worker's file, removed since the glob
        return False


def metrics_text() -> bytes:
    """Prometheus text for this process, or for every worker when `wallet serve` runs several
    (prometheus_client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _WorkersCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def write_log(line: dict[str, Any]) -> None:
    sys.stdout.buffer.write(_log_encoder.encode(line) + b"\n")
    sys.stdout.flush()


class JsonLogHandler(logging.Handler):
    """The service's own log records (logger "wallet.*") as JSON lines beside the request lines."""

    def emit(self, record: logging.LogRecord) -> None:
        write_log(
            {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname.lower(),
                "msg": record.getMessage(),
                "logger": record.name,
            }
        )


def configure_logging() -> None:
    logger = logging.getLogger("wallet")
    if not any(isinstance(h, JsonLogHandler) for h in logger.handlers):
        logger.addHandler(JsonLogHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Observed:
    """The outermost ASGI layer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope["wallet.request_id"] = request_id
        traceparent = _header(scope, b"traceparent")
        trace = _TRACEPARENT.match(traceparent) if traceparent else None
        if trace:
            scope["wallet.trace_id"] = trace.group(1)
        path: str = scope["path"]
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.extend(
                    _CONSOLE_SECURITY_HEADERS if path.startswith("/console") else _SECURITY_HEADERS
                )
                headers.append((b"x-request-id", request_id.encode()))
                if not path.startswith("/schema"):
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            # the route template, so metrics stay few: /api/v1/wallet/{userId}/balance
            route = scope.get("path_template") or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            line: dict[str, Any] = {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": "error" if status >= 500 else "info",
                "msg": "request",
                "requestId": request_id,
                "method": method,
                "route": route,
                "status": status,
                "durationMs": round(elapsed * 1000, 2),
            }
            client = scope.get("wallet.client")
            if client is not None:
                line["client"] = client
            trace_id = scope.get("wallet.trace_id")
            if trace_id:
                line["traceId"] = trace_id
            write_log(line)


def tracing_plugin(endpoint: str, service_name: str) -> Any:
    """Litestar's OpenTelemetry plugin exporting OTLP/HTTP to `endpoint`. Called only when tracing
    is on: otherwise no tracer, exporter or middleware exists and requests pay nothing for it.
    The W3C traceparent of a request is continued, and its trace id goes into the log line.
    Health checks and metric scrapes are not traced (they would drown the traces)."""
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))

    def remember_trace_id(span: Any, scope: dict[str, Any]) -> None:
        context = span.get_span_context()
        if context.is_valid:
            scope["wallet.trace_id"] = format(context.trace_id, "032x")

    config = OpenTelemetryConfig(
        tracer_provider=provider,
        server_request_hook_handler=remember_trace_id,
        exclude=["^/health$", "^/metrics$"],
    )
    return OpenTelemetryPlugin(config), provider
