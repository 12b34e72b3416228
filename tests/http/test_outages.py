"""PostgreSQL unable to answer: 503 service_unavailable in bounded time, never a 500; CORS."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import asyncpg

from service.config import Settings
from service.keys import revoke_key
from tests.support import GOLD, assert_problem, blocked_backend, running_app, topup, wallet_locked

UNREACHABLE = "postgresql://wallet_service@127.0.0.1:1/wallet"  # nothing listens on port 1


async def test_without_postgres_health_is_503_and_requests_are_service_unavailable(
    settings: Settings, key: str, unique: str
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, database_url=UNREACHABLE) as api:
        health = await api.get("/health")
        assert health.status_code == 503
        assert health.json() == {
            "status": "unavailable",
            "checks": {"postgres": "unreachable", "redis": "ok"},
        }
        started = time.monotonic()
        response = await topup(api, auth, f"u-{unique}", "1.00")
        problem = assert_problem(response, 503, "service_unavailable")
        assert response.headers["retry-after"] == "1" and problem["detail"]
        response = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
        assert_problem(response, 503, "service_unavailable")
        assert time.monotonic() - started < 10


async def test_a_locked_wallet_answers_503_within_the_lock_timeout_and_others_are_unaffected(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    locked, free = f"locked-{unique}", f"free-{unique}"
    async with running_app(settings, lock_timeout_ms=500) as api:
        for user in (locked, free):
            assert (await topup(api, auth, user, "5.00")).status_code == 201
        async with wallet_locked(admin_conn, locked):
            started = time.monotonic()
            blocked, unaffected = await asyncio.gather(
                topup(api, auth, locked, "1.00"), topup(api, auth, free, "1.00")
            )
            elapsed = time.monotonic() - started
        assert_problem(blocked, 503, "service_unavailable")
        assert "busy" in blocked.json()["detail"]
        assert 0.4 < elapsed < 3, elapsed
        assert unaffected.status_code == 201
        # the refused request moved nothing and did not use up its key: a retry succeeds
        retry = await topup(api, auth, locked, "1.00")
        assert retry.status_code == 201 and retry.json()["balance"] == "6.00"


async def test_cors_is_off_unless_origins_are_listed(settings: Settings, key: str) -> None:
    preflight = {
        "Origin": "https://game.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    async with running_app(settings) as api:
        response = await api.get("/health", headers={"Origin": "https://game.example"})
        assert "access-control-allow-origin" not in response.headers
    async with running_app(settings, cors_origins=("https://game.example",)) as api:
        response = await api.options("/api/v1/wallet/topup", headers=preflight)
        assert response.status_code in (200, 204)
        assert response.headers["access-control-allow-origin"] == "https://game.example"
        other = await api.get("/health", headers={"Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


async def test_the_service_recovers_when_postgres_comes_back_without_a_restart(
    settings: Settings, key: str, unique: str
) -> None:
    """The app starts while its database is unreachable, then a proxy to the real one opens on
    the same address: requests succeed again with no restart (connections are made on demand and
    the API keys are read once the database answers)."""
    target = urlsplit(settings.database_url)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # free, so nothing answers there yet
    url = settings.database_url.replace(target.netloc, f"{target.username}@127.0.0.1:{port}")

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    auth = {"Authorization": f"Bearer {key}"}
    async with running_app(settings, database_url=url) as api:
        down = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
        assert_problem(down, 503, "service_unavailable")
        proxy = await asyncio.start_server(forward, "127.0.0.1", port)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                response = await api.get(f"/api/v1/wallet/u-{unique}/balance", headers=auth)
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert response.status_code == 200, response.text
            assert (await api.get("/health")).json()["status"] == "ok"
        finally:
            proxy.close()


async def test_bug_a_connection_cut_in_the_middle_of_a_posting_is_503_not_500(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    """Found by tests/faults/test_postgres.py (PostgreSQL shut down under load): asyncpg reports
    a connection closed in the middle of a statement as ConnectionDoesNotExistError, a
    PostgresError of SQLSTATE class 08 that was answered 500. Here the posting's backend is
    terminated while it waits for a wallet's lock."""
    auth = {"Authorization": f"Bearer {key}"}
    user, idempotency_key = f"cut-{unique}", f"cut-key-{unique}"
    headers = {**auth, "Idempotency-Key": idempotency_key}
    body = {"userId": user, "assetTypeId": GOLD, "amount": "1.00"}
    async with running_app(settings) as api:
        assert (await topup(api, auth, user, "5.00")).status_code == 201
        async with wallet_locked(admin_conn, user):
            pending = asyncio.create_task(
                api.post("/api/v1/wallet/topup", json=body, headers=headers)
            )
            pid = await blocked_backend(admin_conn, within=2)  # inside the 3 s lock timeout
            assert await admin_conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            response = await asyncio.wait_for(pending, timeout=10)
        assert_problem(response, 503, "service_unavailable")
        # nothing moved and the key is free: the retry posts, once
        retry = await api.post("/api/v1/wallet/topup", json=body, headers=headers)
        assert retry.status_code == 201 and retry.json()["balance"] == "6.00", retry.text


async def test_bug_idle_connections_ended_by_the_server_are_503_or_replaced_never_500(
    settings: Settings, key: str, unique: str, admin_conn: asyncpg.Connection
) -> None:
    """Found by tests/faults/test_postgres.py (a fast shutdown under load): the server ends the
    pool's idle connections, and a request taking one at that moment met asyncpg's
    InternalClientError ("another operation is in progress"), answered 500. Here the service's
    idle backends are terminated again and again while postings go on."""
    auth = {"Authorization": f"Bearer {key}"}
    terminate = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'wallet-service' AND state = 'idle'"
    )
    statuses: list[int] = []
    async with running_app(settings, db_pool_size=4) as api:
        for round_ in range(20):
            assert (await topup(api, auth, f"idle-{unique}", "1.00")).status_code == 201
            await admin_conn.fetchval(terminate)
            responses = await asyncio.gather(
                *(topup(api, auth, f"idle-{unique}-{round_}-{n}", "1.00") for n in range(4))
            )
            statuses += [r.status_code for r in responses]
            for response in responses:
                if response.status_code != 201:
                    assert_problem(response, 503, "service_unavailable")
    assert 500 not in statuses and 201 in statuses, statuses


async def test_health_and_key_revocations_do_not_wait_for_a_saturated_pool(
    settings: Settings, new_key: Callable[..., str], admin_conn: asyncpg.Connection, unique: str
) -> None:
    """Every pooled connection waits on a locked wallet: /health still answers 200 at once (a
    load spike must not mark every instance unhealthy), and a revoked key stops working within
    10 s (key reloads do not queue for the pool either)."""
    name = f"revoked-{unique}"
    keeper = {"Authorization": f"Bearer {new_key()}"}
    doomed = {"Authorization": f"Bearer {new_key(name=name)}"}
    user = f"u-{unique}"
    async with running_app(
        settings, db_pool_size=2, lock_timeout_ms=25_000, statement_timeout_ms=30_000
    ) as api:
        assert (await topup(api, keeper, user, "1.00")).status_code == 201
        async with wallet_locked(admin_conn, user):
            stuck = [asyncio.create_task(topup(api, keeper, user, "1.00")) for _ in range(2)]
            await blocked_backend(admin_conn, within=5)
            while len(await admin_conn.fetch(WAITING_POSTINGS)) < 2:  # the pool is all in use
                await asyncio.sleep(0.02)
                await admin_conn.execute("SELECT pg_stat_clear_snapshot()")  # see blocked_backend
            started = time.monotonic()
            health = await api.get("/health")
            assert time.monotonic() - started < 1, "health answered within a second"
            assert health.status_code == 200 and health.json()["checks"]["postgres"] == "ok"

            # a route the guard admits and the edge then refuses: it needs no connection either
            path = "/api/v1/wallet/1/ledger?limit=0"
            assert_problem(await api.get(path, headers=doomed), 400, "validation_failed")
            await asyncio.to_thread(revoke_key, settings.admin_database_url, name)
            revoked = time.monotonic()
            while (answer := await api.get(path, headers=doomed)).status_code != 401:
                assert time.monotonic() - revoked < 10, "the revoked key still works"
                await asyncio.sleep(0.1)
            assert_problem(answer, 401, "unauthenticated")
            print(f"revocation took effect after {time.monotonic() - revoked:.2f} s")
            assert not any(task.done() for task in stuck), "the pool stayed saturated throughout"
        answers = await asyncio.gather(*stuck)
        assert [a.status_code for a in answers] == [201, 201]


WAITING_POSTINGS = """
SELECT pid FROM pg_stat_activity
 WHERE application_name = 'wallet-service' AND wait_event_type = 'Lock'
"""
