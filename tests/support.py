"""What the tests share: the checkout's root, the database and HTTP helpers, the app run in
process, and `wallet serve` as a real process.

`wallet serve` runs for the tests that need one (tests/serve/ and the fault tests of
tests/faults/): Granian, two worker processes, one port.

Each server has its own port, its own metrics directory and its stdout in a file; whatever
happens, the `start_server` fixture (tests/conftest.py) kills its process group at the end.
Requests go on fresh connections, so they spread over both workers; which worker answered is read
from prometheus_client's per-process files (counter_<pid>.db).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client.mmap_dict import MmapedDict

from service.config import Settings
from service.http.app import create_app
from service.observability import sized_metrics_file
from service.rules import SCOPES

ROOT = Path(__file__).resolve().parents[1]
GOLD = "asset-gold-coin-001"
ALL_SCOPES = list(SCOPES)


# ----------------------------------------------------------------------------------------------
# The database
# ----------------------------------------------------------------------------------------------
@asynccontextmanager
async def wallet_locked(
    conn: asyncpg.Connection, user_id: str, asset_id: str = "asset-gold-coin-001"
) -> AsyncIterator[None]:
    """Holds the user's wallet row FOR UPDATE in a transaction of `conn` until the block ends, as
    another session (an operator's psql, a stuck job) would."""
    holder = conn.transaction()
    await holder.start()
    try:
        await conn.execute(
            "SELECT 1 FROM ledger.wallets WHERE owner_id = $1 AND asset_id = $2 FOR UPDATE",
            user_id,
            asset_id,
        )
        yield
    finally:
        await holder.rollback()


async def transactions_of(conn: asyncpg.Connection, *users: str) -> int:
    """How many transactions moved any of `users`' gold."""
    count: int = await conn.fetchval(
        "SELECT count(DISTINCT e.transaction_id) FROM ledger.entries AS e"
        " JOIN ledger.wallets AS w ON w.id = e.wallet_id"
        " WHERE w.owner_id = ANY($1::text[]) AND w.asset_id = $2",
        list(users),
        GOLD,
    )
    return count


async def blocked_backend(conn: asyncpg.Connection, within: float) -> int:
    """The pid of a backend waiting for a lock that `conn` holds, once there is one."""
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) @> ARRAY[pg_backend_pid()]"
    )
    deadline = time.monotonic() + within
    while not (pid := await conn.fetchval(waiting)):
        assert time.monotonic() < deadline, f"nothing waited for the lock within {within} s"
        await asyncio.sleep(0.01)
        # inside a transaction (as `conn` is while it holds the lock), pg_stat_activity is read
        # once and kept: without this the loop would look at the same snapshot forever
        await conn.execute("SELECT pg_stat_clear_snapshot()")
    blocked: int = pid
    return blocked


# ----------------------------------------------------------------------------------------------
# The HTTP app, in process, against the same PostgreSQL and Redis
# ----------------------------------------------------------------------------------------------
@asynccontextmanager
async def running_app(
    settings: Settings, base_url: str = "http://wallet.test", **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as `wallet serve` builds it, started and stopped with its lifespan, in the test's
    own event loop (so concurrent requests really interleave); limits off unless overridden. The
    client never follows redirects; `base_url` https makes the app's cookies Secure."""
    options: dict[str, Any] = {"rate_limit_general": None, "rate_limit_transactions": None}
    options.update(overrides)
    app = create_app(dataclasses.replace(settings, **options))
    async with asgi_lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@asynccontextmanager
async def asgi_lifespan(app: Any) -> AsyncIterator[None]:
    """Runs the ASGI lifespan protocol in a task of its own, as a server does (Litestar's
    lifespan keeps an anyio cancel scope that must be left in the task that entered it)."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def receive() -> dict[str, str]:
        return await inbox.get()

    async def send(message: dict[str, str]) -> None:
        await outbox.put(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), timeout=30)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), timeout=30)
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await asyncio.wait_for(task, timeout=10)


def money_headers(auth: dict[str, str], key: str | None = None) -> dict[str, str]:
    """`auth` with an Idempotency-Key (a fresh one unless given)."""
    return {**auth, "Idempotency-Key": key or uuid.uuid4().hex}


async def topup(
    api: httpx.AsyncClient, auth: dict[str, str], user: str, amount: str, **extra: Any
) -> Any:
    """POST /api/v1/wallet/topup of `amount` gold coins to `user` (and `extra` body fields)."""
    body = {"userId": user, "assetTypeId": GOLD, "amount": amount, **extra}
    return await api.post("/api/v1/wallet/topup", json=body, headers=money_headers(auth))


async def transfer(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    sender: str,
    recipient: str,
    amount: str,
    key: str | None = None,
    /,
    **extra: Any,
) -> Any:
    """POST /api/v1/wallet/transfer of `amount` gold coins (`extra` body fields added or
    replacing these)."""
    body = {
        "fromUserId": sender,
        "toUserId": recipient,
        "assetTypeId": GOLD,
        "amount": amount,
        "description": "Gift",
        **extra,
    }
    return await api.post("/api/v1/wallet/transfer", json=body, headers=money_headers(auth, key))


async def reverse(
    api: httpx.AsyncClient,
    auth: dict[str, str],
    transaction_id: str,
    key: str | None = None,
    /,
    **body: Any,
) -> Any:
    """POST /api/v1/transactions/{transaction_id}/reversals; `body` defaults to a reason."""
    return await api.post(
        f"/api/v1/transactions/{transaction_id}/reversals",
        json={"reason": "Store refund", **body},
        headers=money_headers(auth, key),
    )


async def gold_balance(api: httpx.AsyncClient, auth: dict[str, str], user: str) -> str:
    """The user's balance of gold coins, read over HTTP."""
    response = await api.get(
        f"/api/v1/wallet/{user}/balance", params={"assetTypeId": GOLD}, headers=auth
    )
    assert response.status_code == 200, response.text
    balance: str = response.json()["balances"][0]["balance"]
    return balance


def repeat_verdict(first: Any, repeat: Any) -> str:
    """What a repeat of the 201 `first` with its Idempotency-Key got: "replayed" (the same
    answer, byte for byte, marked Idempotent-Replayed), or the code of its 422 problem."""
    if repeat.status_code == 201:
        assert repeat.headers.get("idempotent-replayed") == "true", repeat.headers
        assert repeat.content == first.content, "the first answer, byte for byte"
        return "replayed"
    code: str = assert_problem(repeat, 422, "idempotency_key_reused")["code"]
    return code


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 body of `response`, asserted to be the problem `code` with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code, problem
    assert problem["status"] == status and problem["detail"] and problem["type"].endswith(code)
    return problem


# ----------------------------------------------------------------------------------------------
# `wallet serve`, the real server process
# ----------------------------------------------------------------------------------------------
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path
    metrics_dir: Path
    workers: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def terminate(self) -> None:
        """SIGTERM to the main process, as a process manager sends it."""
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole process group, Granian and every worker: a crash, nothing
        finishes, no answer in flight is sent."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        self.terminate()
        return self.wait(timeout)

    def log_lines(self) -> list[dict[str, Any]]:
        """The app's JSON lines on stdout (Granian's own lines there are not JSON)."""
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def request_lines(self) -> list[dict[str, Any]]:
        """The access log: the JSON lines of requests answered (the others are the app's loggers',
        such as the holds sweeper's, which runs with no request)."""
        return [line for line in self.log_lines() if "requestId" in line]

    def worker_counts(self, route: str, status: str | None = None) -> dict[str, float]:
        """wallet_http_requests_total for `route` (and `status`), per worker pid."""
        counts: dict[str, float] = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            pid = path.stem.rsplit("_", 1)[1]
            if not sized_metrics_file(str(path)):  # caught starting up: nothing counted yet
                continue
            values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
            for key, value, *_ in values:
                _, sample, labels, _ = json.loads(key)
                if (
                    sample == "wallet_http_requests_total"
                    and labels["route"] == route
                    and status in (None, labels["status"])
                ):
                    counts[pid] = counts.get(pid, 0.0) + value
        return counts


StartServer = Callable[..., Server]
# an override that removes the variable from the server's environment (an empty value is not the
# same: prometheus_client takes PROMETHEUS_MULTIPROC_DIR="" for the current directory)
UNSET = "<unset>"


@contextlib.contextmanager
def server_starter(workdir: Path) -> Iterator[StartServer]:
    """A function that starts `wallet serve` (two workers, limits off unless overridden; on
    `port`, or a free one) and waits until GET /health answered 200 from every worker; every
    server it started is killed on the way out."""
    servers: list[Server] = []

    def start(port: int | None = None, **overrides: str) -> Server:
        port = port or free_port()
        run = workdir / f"server-{len(servers)}"
        metrics_dir = run / "metrics"
        metrics_dir.mkdir(parents=True)
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("OTEL_") and name != "WALLET_OTEL_ENDPOINT"
        }
        env.update(
            WALLET_HOST="127.0.0.1",
            WALLET_PORT=str(port),
            WALLET_WORKERS="2",
            WALLET_RATE_LIMIT_GENERAL="off",
            WALLET_RATE_LIMIT_TRANSACTIONS="off",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(overrides)
        for name in [name for name, value in overrides.items() if value == UNSET]:
            del env[name]
        stdout, stderr = run / "stdout.log", run / "stderr.log"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: Granian and both workers
            )
        server = Server(process, port, stdout, stderr, metrics_dir, int(env["WALLET_WORKERS"]))
        servers.append(server)
        # ready when every worker has answered: the first one up would otherwise take every
        # connection while another still starts (a server that makes its own metrics directory,
        # unknown here: once one has)
        own_metrics = "PROMETHEUS_MULTIPROC_DIR" not in env
        deadline = time.monotonic() + START_TIMEOUT
        while own_metrics or len(server.worker_counts("/health", "200")) < server.workers:
            assert process.poll() is None, f"wallet serve exited early:\n{server.output()}"
            assert time.monotonic() < deadline, f"not healthy in time:\n{server.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health", timeout=2, trust_env=False).is_success:
                    if own_metrics:
                        break
                    continue
            time.sleep(0.05)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.kill()


def fresh_client(server: Server, timeout: float = 10) -> httpx.AsyncClient:
    """A client that keeps no connection: each request is a new connection, so concurrent ones
    spread over the workers."""
    return httpx.AsyncClient(
        base_url=server.url,
        timeout=timeout,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def burst(server: Server, n: int, path: str, headers: dict[str, str]) -> list[int]:
    """`n` concurrent GETs, each on its own connection: their statuses."""
    async with fresh_client(server) as client:
        responses = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(n)))
    return [response.status_code for response in responses]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def money(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    return {**bearer(key), "Idempotency-Key": idempotency_key or uuid.uuid4().hex}


async def wait_until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Polls `check` (a function, or a coroutine function) until it holds, failing with `what`
    after `timeout` seconds; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{what}: not after {timeout} s"
        await asyncio.sleep(0.05)
