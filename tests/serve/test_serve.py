"""`wallet serve` as it runs in production: Granian, two worker processes, one port.

Each test starts its own server process with the `start_server` fixture (tests/support.py) and
stops it; whatever happens, the fixture kills the server's process group at the end.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from service.keys import create_key, revoke_key
from tests.support import (
    ALL_SCOPES,
    GOLD,
    ROOT,
    UNSET,
    StartServer,
    bearer,
    blocked_backend,
    burst,
    fresh_client,
    money,
    refuses_connections,
    wallet_locked,
)

BALANCE_ROUTE = "/api/v1/wallet/{userId}/balance"


# ----------------------------------------------------------------------------------------------
# 1. API keys: revocation and creation reach every worker
# ----------------------------------------------------------------------------------------------
async def test_revoked_key_is_refused_by_every_worker_within_10_seconds(
    start_server: StartServer, settings: Settings, unique: str
) -> None:
    name = f"serve-revoke-{unique}"
    key = create_key(settings.admin_database_url, name, ["wallet:read"]).key
    server = start_server()
    path = f"/api/v1/wallet/u-{unique}/balance"
    assert await burst(server, 20, path, bearer(key)) == [200] * 20

    revoke_key(settings.admin_database_url, name)
    revoked = time.monotonic()
    while 200 in await burst(server, 10, path, bearer(key)):
        assert time.monotonic() - revoked < 10, "the revoked key still works after 10 s"
        await asyncio.sleep(0.05)
    took = time.monotonic() - revoked
    assert took < 10

    before = server.worker_counts(BALANCE_ROUTE, "401")
    async with fresh_client(server) as client:
        responses = await asyncio.gather(
            *(client.get(path, headers=bearer(key)) for _ in range(40))
        )
    assert [r.status_code for r in responses] == [401] * 40
    assert {r.json()["code"] for r in responses} == {"unauthenticated"}
    after = server.worker_counts(BALANCE_ROUTE, "401")
    refused_by = {pid for pid, count in after.items() if count > before.get(pid, 0)}
    assert len(refused_by) == 2, f"the 40 refusals came from workers {after} (before: {before})"


async def test_key_created_while_serving_works_on_every_worker_within_seconds(
    start_server: StartServer, settings: Settings, unique: str
) -> None:
    server = start_server()
    path = f"/api/v1/wallet/u-{unique}/balance"
    key = create_key(settings.admin_database_url, f"serve-new-{unique}", ["wallet:read"]).key
    created = time.monotonic()
    while set(await burst(server, 10, path, bearer(key))) != {200}:
        assert time.monotonic() - created < 5, "a new key is still refused after 5 s"
        await asyncio.sleep(0.05)

    assert await burst(server, 40, path, bearer(key)) == [200] * 40
    assert len(server.worker_counts(BALANCE_ROUTE, "200")) == 2


# ----------------------------------------------------------------------------------------------
# 2. Graceful shutdown
# ----------------------------------------------------------------------------------------------
async def test_sigterm_finishes_the_spend_in_flight_refuses_new_connections_and_exits_0(
    start_server: StartServer, settings: Settings, admin_conn: asyncpg.Connection, unique: str
) -> None:
    key = create_key(settings.admin_database_url, f"serve-term-{unique}", ALL_SCOPES).key
    server = start_server()
    user = f"term-{unique}"
    async with fresh_client(server) as client:
        funded = await client.post(
            "/api/v1/wallet/topup",
            json={"userId": user, "assetTypeId": GOLD, "amount": "10.00"},
            headers=money(key),
        )
    assert funded.status_code == 201, funded.text

    async def spend() -> httpx.Response:
        async with fresh_client(server, timeout=30) as client:
            return await client.post(
                "/api/v1/wallet/spend",
                json={
                    "userId": user,
                    "assetTypeId": GOLD,
                    "amount": "3.00",
                    "serviceDescription": "x",
                },
                headers=money(key),
            )

    async with wallet_locked(admin_conn, user):
        in_flight = asyncio.create_task(spend())
        await blocked_backend(admin_conn, within=2)  # well inside the service's 3 s lock_timeout

        server.terminate()
        terminated = time.monotonic()
        while not refuses_connections(server.port):
            assert time.monotonic() - terminated < 1, "new connections accepted 1 s after SIGTERM"
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, 1 - (time.monotonic() - terminated)))
        assert not in_flight.done(), "the spend did not wait for the lock"

    response = await asyncio.wait_for(in_flight, timeout=15)
    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["balance"]) == ("3.00", "7.00")
    code = await asyncio.to_thread(server.wait, 10)
    assert code == 0, server.output()
    assert time.monotonic() - terminated < 10
    assert refuses_connections(server.port)


# ----------------------------------------------------------------------------------------------
# 3. Metrics
# ----------------------------------------------------------------------------------------------
def sample_sum(text: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


# "serve's own": without PROMETHEUS_MULTIPROC_DIR (as `make run` and the container run it) `wallet
# serve` makes the directory itself, which works only if the `wallet` command has not imported
# prometheus_client before: it reads the variable once, at import. Found by hand under `make run`:
# `wallet seal`'s module imported the sealer, and with it the metrics, into every `wallet`
# command; the workers counted in memory and /metrics answered an empty page.
@pytest.mark.parametrize("own_directory", [False, True], ids=["given directory", "serve's own"])
async def test_metrics_sum_the_requests_of_both_workers_in_one_scrape(
    start_server: StartServer, settings: Settings, unique: str, own_directory: bool
) -> None:
    key = create_key(settings.admin_database_url, f"serve-metrics-{unique}", ALL_SCOPES).key
    server = start_server(**({"PROMETHEUS_MULTIPROC_DIR": UNSET} if own_directory else {}))
    reads, topups = 30, 4
    assert (
        await burst(server, reads, f"/api/v1/wallet/m-{unique}/balance", bearer(key))
        == [200] * reads
    )
    async with fresh_client(server) as client:
        posted = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/wallet/topup",
                    json={"userId": f"m-{unique}-{i}", "assetTypeId": GOLD, "amount": "1.00"},
                    headers=money(key),
                )
                for i in range(topups)
            )
        )
        assert [r.status_code for r in posted] == [201] * topups
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    if not own_directory:  # the harness reads the files of the directory it gave
        assert len(server.worker_counts(BALANCE_ROUTE)) == 2, "one worker answered every read"
    text = scrape.text
    assert sample_sum(text, "wallet_http_requests_total", route=BALANCE_ROUTE) == reads
    ok = sample_sum(text, "wallet_http_requests_total", route=BALANCE_ROUTE, status="200")
    assert ok == reads
    assert sample_sum(text, "wallet_transactions_total", type="topup", asset=GOLD) == topups
    topup_route = "/api/v1/wallet/topup"
    timed = sample_sum(text, "wallet_http_request_duration_seconds_count", route=topup_route)
    assert timed == topups


def test_the_wallet_command_imports_no_metrics_before_serve_sets_their_directory() -> None:
    """The cause of the failure above, caught before any server starts: a `wallet` subcommand's
    module that imports service.observability (through the sweeper or the sealer) makes
    prometheus_client count in memory in every worker of `wallet serve`."""
    probe = "import sys, service.cli; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False", "service.cli imports prometheus_client"


# ----------------------------------------------------------------------------------------------
# 4. The request log
# ----------------------------------------------------------------------------------------------
async def test_one_json_log_line_per_request_without_keys_or_bodies(
    start_server: StartServer, settings: Settings, unique: str
) -> None:
    name = f"serve-log-{unique}"
    key = create_key(settings.admin_database_url, name, ALL_SCOPES).key
    unknown_key = "wk_" + uuid.uuid4().hex + "notakey"
    secret = f"body-secret-{unique}"
    user = f"log-{unique}"
    server = start_server()
    rid = f"req-{unique}"
    async with fresh_client(server) as client:
        read = await client.get(
            f"/api/v1/wallet/{user}/balance", headers={**bearer(key), "X-Request-ID": f"{rid}-1"}
        )
        topup = await client.post(
            "/api/v1/wallet/topup",
            json={"userId": user, "assetTypeId": GOLD, "amount": "5.00", "metadata": {"s": secret}},
            headers={**money(key), "X-Request-ID": f"{rid}-2"},
        )
        spend = await client.post(
            "/api/v1/wallet/spend",
            json={
                "userId": user,
                "assetTypeId": GOLD,
                "amount": "1.00",
                "serviceDescription": secret,
            },
            headers={**money(key), "X-Request-ID": f"{rid}-3"},
        )
        refused = await client.get(
            f"/api/v1/wallet/{user}/balance",
            headers={**bearer(unknown_key), "X-Request-ID": f"{rid}-4"},
        )
        generated = await client.get(f"/api/v1/wallet/{user}/balance", headers=bearer(key))
        unsafe = await client.get(
            f"/api/v1/wallet/{user}/balance", headers={**bearer(key), "X-Request-ID": 'a b"c'}
        )
    statuses = [r.status_code for r in (read, topup, spend, refused, generated, unsafe)]
    assert statuses == [200, 201, 201, 401, 200, 200]
    for n, response in enumerate((read, topup, spend, refused), start=1):
        assert response.headers["x-request-id"] == f"{rid}-{n}"
    generated_id = generated.headers["x-request-id"]
    unsafe_id = unsafe.headers["x-request-id"]
    assert generated_id and unsafe_id != 'a b"c'
    assert server.stop() == 0

    lines = [line for line in server.request_lines() if line.get("route") != "/health"]
    by_id = {line["requestId"]: line for line in lines}
    ids = [f"{rid}-1", f"{rid}-2", f"{rid}-3", f"{rid}-4", generated_id, unsafe_id]
    assert len(lines) == len(ids) and set(by_id) == set(ids), lines
    expected = [
        ("GET", BALANCE_ROUTE, 200, name),
        ("POST", "/api/v1/wallet/topup", 201, name),
        ("POST", "/api/v1/wallet/spend", 201, name),
        ("GET", BALANCE_ROUTE, 401, None),
        ("GET", BALANCE_ROUTE, 200, name),
        ("GET", BALANCE_ROUTE, 200, name),
    ]
    for request_id, (method, route, status, client_name) in zip(ids, expected, strict=True):
        line = by_id[request_id]
        got = (line["msg"], line["method"], line["route"], line["status"])
        assert got == ("request", method, route, status), line
        assert line.get("client") == client_name, line
        assert isinstance(line["durationMs"], int | float) and line["durationMs"] >= 0, line
        assert line["level"] == "info" and line["time"], line

    logged = server.output()
    for forbidden in (key, key[3:20], unknown_key, secret, "bearer", "authorization"):
        assert forbidden.lower() not in logged.lower(), f"{forbidden!r} is in the log"


# ----------------------------------------------------------------------------------------------
# 5. OpenTelemetry
# ----------------------------------------------------------------------------------------------
class Collector:
    """A tiny OTLP/HTTP collector: records the body of every POST /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    bodies.append(body)
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_traceparent_is_continued_exported_over_otlp_and_logged(
    start_server: StartServer, settings: Settings, unique: str
) -> None:
    key = create_key(settings.admin_database_url, f"serve-otel-{unique}", ["wallet:read"]).key
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    with Collector() as collector:
        server = start_server(WALLET_OTEL_ENDPOINT=collector.endpoint)
        async with fresh_client(server) as client:
            response = await client.get(
                f"/api/v1/wallet/otel-{unique}/balance",
                headers={**bearer(key), "traceparent": f"00-{trace_id}-{parent_id}-01"},
            )
        assert response.status_code == 200, response.text
        assert server.stop() == 0, server.output()  # the shutdown flushes the spans
        exported = b"".join(collector.bodies)
    assert bytes.fromhex(trace_id) in exported, f"{len(collector.bodies)} bodies, none with it"
    assert bytes.fromhex(parent_id) in exported  # the caller's span is the parent
    (line,) = [
        line
        for line in server.request_lines()
        if line["requestId"] == response.headers["x-request-id"]
    ]
    assert line["traceId"] == trace_id


# what service.observability.tracing_plugin imports; only that is in the app's own hands
TRACING_STACK = ("opentelemetry.sdk.trace", "opentelemetry.exporter")


@pytest.fixture(scope="module")
def imported_by_create_app() -> tuple[list[str], list[str]]:
    """The opentelemetry (and Litestar tracing) modules in sys.modules after create_app() in a
    fresh interpreter: without WALLET_OTEL_ENDPOINT, then after one more with it set."""
    probe = (
        "import dataclasses, json, sys\n"
        "from service.http.app import create_app\n"
        "from service.config import load_settings\n"
        "def loaded(): return sorted(m for m in sys.modules if 'opentelemetry' in m)\n"
        "create_app()\n"
        "off = loaded()\n"
        "on = dataclasses.replace(load_settings(), otel_endpoint='http://127.0.0.1:9')\n"
        "create_app(on)\n"
        "print(json.dumps([off, loaded()]))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    env.pop("WALLET_OTEL_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    off, on = json.loads(result.stdout.strip().splitlines()[-1])
    return off, on


def test_without_an_otel_endpoint_the_app_loads_no_tracing_stack(
    imported_by_create_app: tuple[list[str], list[str]],
) -> None:
    off, on = imported_by_create_app
    assert [m for m in off if m.startswith(TRACING_STACK)] == []
    # the probe sees the stack when tracing is on
    assert "opentelemetry.sdk.trace" in on and any(
        m.startswith("opentelemetry.exporter") for m in on
    )


# ----------------------------------------------------------------------------------------------
# 5. The holds sweeper in every worker, one sweeping at a time
# ----------------------------------------------------------------------------------------------
async def test_both_workers_sweepers_release_expired_holds_once_within_the_bound(
    start_server: StartServer, service_conn: asyncpg.Connection, unique: str
) -> None:
    """WALLET_HOLD_SWEEP_SECONDS=1: each worker has its sweeper (its own connection), and ten
    holds of 1 second are each released once (the user's version: 1 + 10 + 10), within 1 s of
    their expiry plus a sweep's run (2.5 s allowed), with no request to the service."""
    server = start_server(WALLET_HOLD_SWEEP_SECONDS="1")
    async with fresh_client(server) as client:
        assert (await client.get("/health")).status_code == 200
    user = f"u-{unique}"
    await service_conn.execute("SELECT api.topup($1, $2, 10, $3)", user, GOLD, f"t-{unique}")
    holds = [
        await service_conn.fetchval(
            "SELECT hold_id FROM api.authorize_hold($1, $2, 1, 'Entry', $3, '1 second')",
            user,
            GOLD,
            f"h{n}-{unique}",
        )
        for n in range(10)
    ]
    last_expiry = await service_conn.fetchval(
        "SELECT max(expires_at) FROM unnest($1::bigint[]) AS h(id), api.get_hold(h.id)", holds
    )
    sweepers = await service_conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wallet-service-sweeper'"
    )
    assert sweepers >= 2, "one sweeper per worker"
    while True:
        statuses = await service_conn.fetchval(
            "SELECT array_agg(DISTINCT g.status::text) FROM unnest($1::bigint[]) AS h(id),"
            " api.get_hold(h.id) AS g",
            holds,
        )
        now = await service_conn.fetchval("SELECT clock_timestamp()")
        if statuses == ["expired"]:
            break
        assert now - last_expiry < datetime.timedelta(seconds=2.5), statuses
        await asyncio.sleep(0.05)
    row = await service_conn.fetchrow(
        "SELECT balance, version FROM api.balances($1, $2)", user, GOLD
    )
    assert (str(row["balance"]), row["version"]) == ("10.00", 21)
    # the sweepers log what they release, in lines of their own: no request, no requestId
    assert server.stop() == 0
    swept = [line for line in server.log_lines() if line.get("logger") == "wallet.sweeper"]
    # (at least ten: other tests' holds may fall due meanwhile)
    assert sum(int(line["msg"].rsplit(" ", 1)[1]) for line in swept) >= 10, swept
    assert swept and not any(line in server.request_lines() for line in swept)
