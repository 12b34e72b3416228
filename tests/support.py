"""`wallet serve` as a real process for the tests that need one (tests/test_serve.py and the
fault tests of tests/faults/): Granian, two worker processes, one port.

Each server has its own port, its own metrics directory and its stdout in a file; whatever
happens, the `start_server` fixture (tests/conftest.py) kills its process group at the end.
Requests go on fresh connections, so they spread over both workers; which worker answered is read
from prometheus_client's per-process files (counter_<pid>.db).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.mmap_dict import MmapedDict

from service.observability import sized_metrics_file

ROOT = Path(__file__).resolve().parents[1]
GOLD = "asset-gold-coin-001"
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
        # connection while another still starts
        deadline = time.monotonic() + START_TIMEOUT
        while len(server.worker_counts("/health", "200")) < server.workers:
            assert process.poll() is None, f"wallet serve exited early:\n{server.output()}"
            assert time.monotonic() < deadline, f"not healthy in time:\n{server.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health", timeout=2, trust_env=False).is_success:
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
