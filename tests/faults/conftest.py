"""The fault tests: crashes, cache loss, database restarts and locks, against `wallet serve`
(Granian, two workers) on a stack of their own, whose servers they stop and start on purpose.

FAULTS_STACK names that stack (default `faults`, see scripts/stack.sh); the WALLET_* variables must
point at it, or every test is refused: they must never restart someone else's database.
FAULTS_SIZE is `short` (the default; `make test`) or `full` (`make test-faults`: longer loads,
more faults, the 10,000-request fuzzing). Each test prints its figures on a line starting
"faults" (pytest -s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from service.config import Settings
from service.keys import create_key
from tests.support import ALL_SCOPES, ROOT, Server, StartServer

SIZE = os.environ.get("FAULTS_SIZE", "short")
if SIZE not in ("short", "full"):
    raise pytest.UsageError(f"FAULTS_SIZE must be short or full, not {SIZE!r}")
FULL = SIZE == "full"
# limits counted in Redis as in production, but out of the way of the load
RAISED_LIMITS = {
    "WALLET_RATE_LIMIT_GENERAL": "1000000000/1m",
    "WALLET_RATE_LIMIT_TRANSACTIONS": "1000000000/1m",
}


@dataclass(frozen=True)
class Stack:
    name: str
    redis_port: int

    # in a thread: the load goes on in the event loop meanwhile
    async def _run(self, *args: str) -> str:
        result = await asyncio.to_thread(
            subprocess.run,
            args,
            cwd=ROOT,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    async def stop(self, what: str) -> None:
        """Stops one server of the stack: redis, postgres, or postgres-crash (immediate)."""
        await self._run(str(ROOT / "scripts/stack.sh"), "stop", self.name, what)

    async def start(self) -> None:
        """Starts whichever of the stack's servers is down (keeping the data)."""
        await self._run(str(ROOT / "scripts/stack.sh"), "start", self.name)

    async def redis_cli(self, *args: str) -> str:
        return await self._run("redis-cli", "-p", str(self.redis_port), *args)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Stack:
    name = os.environ.get("FAULTS_STACK", "faults")
    exports = subprocess.run(
        [str(ROOT / "scripts/stack.sh"), "env", name],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    wanted = dict(
        part.split("=", 1) for part in exports.replace("export ", "").split() if "=" in part
    )
    for variable, value in (
        ("WALLET_DATABASE_URL", settings.database_url),
        ("WALLET_ADMIN_DATABASE_URL", settings.admin_database_url),
        ("WALLET_REDIS_URL", settings.redis_url),
    ):
        if urlsplit(value).port != urlsplit(wanted[variable]).port:
            pytest.fail(
                f"{variable}={value} is not stack {name!r}; the fault tests stop and start its "
                f'servers, so they run only there: eval "$(scripts/stack.sh env {name})"'
            )
    return Stack(name, urlsplit(wanted["WALLET_REDIS_URL"]).port or 0)


@dataclass(frozen=True)
class Client:
    name: str
    key: str

    @property
    def client_id(self) -> str:
        """The ledger's scope of this client's Idempotency-Keys."""
        return f"api:{self.name}"


def new_client(settings: Settings) -> Client:
    """A new API key with every scope: a client with its own idempotency scope."""
    name = f"faults-{uuid.uuid4().hex[:10]}"
    return Client(name, create_key(settings.admin_database_url, name, ALL_SCOPES).key)


@pytest.fixture
def api_client(settings: Settings) -> Client:
    return new_client(settings)


ServeLoaded = Callable[..., Server]


@pytest.fixture
def serve(start_server: StartServer) -> ServeLoaded:
    """`wallet serve` with the rate limits raised out of the way (still counted in Redis)."""

    def start(port: int | None = None, **overrides: str) -> Server:
        return start_server(port=port, **{**RAISED_LIMITS, **overrides})

    return start


def report(line: str) -> None:
    """A test's figures, on a line of their own (pytest -s shows them; docs/reliability.md)."""
    print(f"\n{line}", flush=True)
