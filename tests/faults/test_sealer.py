"""The sealer (service/sealer.py) as `wallet serve` runs it, through faults: two instances of the
service (three workers each, so six sealers) on one database under load; a worker, then the whole
service, killed with SIGKILL while a pass is sealing a backlog; PostgreSQL restarted and crashed
while a pass is sealing one, under load.

Besides the HTTP load (tests/faults/load.py), SQL writers post as wallet_job in transactions held
open a moment, so that commits come out of id order while the sealers pass, and roll back one in
five. A backlog is made by holding seal_state's row (as another sealer at work would: every pass
of the service's is `busy` meanwhile) while batches commit, then letting go: the service's
sealers then drain it in passes of 1,000, and the fault is timed to land while one is running.

After each fault, once the service has caught up: every transaction in the ledger has exactly one
seal (each acknowledged posting, HTTP or SQL, included) and every seal names one; no rolled-back
or refused posting is sealed; the sequences run 1..N without a gap up to seal_state's head;
api.verify_seal() recomputes the chain clean and `wallet reconcile` exits 0 (load.verify); and
/metrics agrees: wallet_sealed_transactions_total is what was sealed, wallet_seal_passes_total
counts the busy and failed turns, wallet_seal_unsealed comes back to 0.

The PostgreSQL test proves that nothing acknowledged is lost across a crash, so it needs commits
that wait for their WAL: on a stack with synchronous_commit off (the throwaway dev stacks) it
turns it on for its run (ALTER SYSTEM, reset at the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings, claim_ttl_seconds, job_database_url, load_settings
from service.observability import sized_metrics_file
from tests.faults.conftest import (
    FULL,
    Client,
    ServeLoaded,
    Stack,
    new_client,
    report,
)
from tests.faults.load import Load, verify
from tests.support import GOLD, Server, wait_until

WORKERS = 3  # per instance: each runs a sealer
SEAL_INTERVAL_MS = "20"  # turns often, so that sealers meet
LOAD_SECONDS = 15.0 if FULL else 3.0  # the two instances' load
BACKLOG = 50_000 if FULL else 10_000  # postings committed while the sealers are held back
PHASE = 5.0 if FULL else 1.0  # seconds of load before a fault and after the last
SHUTDOWNS = ("postgres", "postgres-crash") * (2 if FULL else 1)
OUTAGE = 4.0 if FULL else 1.0
CATCH_UP = 15.0  # from a restart to everything then committed sealed
RETRY_TIMEOUT = claim_ttl_seconds(load_settings()) + 15.0  # as in test_crash.py
SEALER = "wallet-service-sealer"  # the sealer connection's application_name


def sealing_server(serve: ServeLoaded, port: int | None = None) -> Server:
    return serve(port, WALLET_WORKERS=str(WORKERS), WALLET_SEAL_INTERVAL_MS=SEAL_INTERVAL_MS)


# ----------------------------------------------------------------------------------------------
# The chain, as the database has it
# ----------------------------------------------------------------------------------------------
async def head(conn: asyncpg.Connection) -> int:
    last: int = await conn.fetchval("SELECT last_sequence FROM ledger.seal_state")
    return last


async def unsealed(conn: asyncpg.Connection) -> int:
    left: int = await conn.fetchval("SELECT unsealed FROM api.seal_status()")
    return left


async def nothing_unsealed(conn: asyncpg.Connection) -> bool:
    return await unsealed(conn) == 0


async def committed_so_far(conn: asyncpg.Connection) -> str:
    """The newest commit_xid in the ledger now (as text): what has committed so far."""
    newest: str = await conn.fetchval("SELECT max(commit_xid)::text FROM ledger.transactions")
    return newest


async def sealed_up_to(conn: asyncpg.Connection, newest: str) -> bool:
    """Nothing that committed by `newest` (committed_so_far) is left unsealed: the backlog of a
    moment drained (under load there is always something newer to seal)."""
    return not await conn.fetchval(
        "SELECT EXISTS (SELECT FROM ledger.transactions AS t, ledger.seal_state AS s"
        " WHERE t.commit_xid <= $1::text::xid8"
        " AND (t.commit_xid, t.id) > (s.frontier_xid, s.frontier_id))",
        newest,
    )


async def assert_chain_whole(conn: asyncpg.Connection) -> int:
    """Every transaction sealed exactly once, 1..N without a gap, the head and the hashes
    recomputed: N."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM ledger.transactions) AS transactions,
                  (SELECT count(*) FROM ledger.seals) AS seals,
                  (SELECT count(DISTINCT transaction_id) FROM ledger.seals) AS sealed,
                  (SELECT min(sequence) FROM ledger.seals) AS first,
                  (SELECT max(sequence) FROM ledger.seals) AS last,
                  (SELECT last_sequence FROM ledger.seal_state) AS head,
                  (SELECT count(*) FROM ledger.transactions AS t WHERE NOT EXISTS
                      (SELECT 1 FROM ledger.seals AS s WHERE s.transaction_id = t.id)) AS missing,
                  (SELECT count(*) FROM ledger.seals AS s WHERE NOT EXISTS
                      (SELECT 1 FROM ledger.transactions AS t WHERE t.id = s.transaction_id))
                      AS strays"""
    )
    assert row["missing"] == 0, f"{row['missing']} transactions never sealed: {dict(row)}"
    assert row["strays"] == 0, f"{row['strays']} seals of no transaction: {dict(row)}"
    assert row["seals"] == row["sealed"], f"a transaction sealed twice: {dict(row)}"
    assert row["seals"] == row["transactions"], dict(row)
    assert (row["first"], row["last"], row["head"]) == (1, row["seals"], row["seals"]), (
        f"the sequences are not 1..N up to the head: {dict(row)}"
    )
    verdict = await conn.fetchrow("SELECT * FROM api.verify_seal()")
    assert verdict["problem"] is None, dict(verdict)
    assert verdict["checked"] == row["seals"], dict(verdict)
    seals: int = row["seals"]
    return seals


async def sealed_among(conn: asyncpg.Connection, ids: list[int]) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM ledger.seals WHERE transaction_id = ANY($1::bigint[])", ids
    )
    return count


def acknowledged_ids(load: Load) -> list[int]:
    return [int(k.acknowledged[0]["transactionId"]) for k in load.keys.values() if k.acknowledged]


async def sealers_active(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT pid, client_port FROM pg_catalog.pg_stat_activity"
        " WHERE application_name = $1 AND state = 'active' AND query LIKE '%api.seal(%'",
        SEALER,
    )
    return rows


async def pass_in_flight(conn: asyncpg.Connection, beyond: int) -> asyncpg.Record:
    """A sealer's pass running once at least one pass has sealed past `beyond`: the drain of a
    backlog under way, and a fault now lands in a pass."""
    deadline = time.monotonic() + 30
    while True:
        if await head(conn) > beyond and (running := await sealers_active(conn)):
            return running[0]
        assert time.monotonic() < deadline, "no sealer's pass seen draining the backlog"
        await asyncio.sleep(0.002)


async def no_sealer_session(conn: asyncpg.Connection) -> bool:
    return not await conn.fetchval(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = $1", SEALER
    )


async def make_backlog(settings: Settings, count: int, prefix: str) -> int:
    """`count` top-ups in batches of 1,000, each committed, while this session holds
    seal_state's row (the service's sealers find it locked: busy); then it lets go. The head
    when it let go."""
    holder = await asyncpg.connect(settings.admin_database_url)
    writer = await asyncpg.connect(settings.admin_database_url)
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute("SELECT 1 FROM ledger.seal_state FOR UPDATE")
        users = [f"{prefix}-{i % 50}" for i in range(1000)]
        for batch in range(count // 1000):
            await writer.execute(
                "SELECT count(*) FROM api.post_batch('topup', $1, $2, $3, NULL, $4)",
                GOLD, users, [1] * 1000, f"{prefix}-{batch}",
            )  # fmt: skip
        let_go_at = await head(holder)
        await held.rollback()
    finally:
        await asyncio.gather(holder.close(), writer.close())
    return let_go_at


# ----------------------------------------------------------------------------------------------
# Postings over SQL that commit out of order or roll back
# ----------------------------------------------------------------------------------------------
@dataclass
class SqlWriters:
    """Writers as wallet_job: each posting (a top-up, now and then a batch of three) stays open
    up to 50 ms before it commits or, one in five, rolls back. A writer whose connection breaks
    connects again; a posting cut before its COMMIT was sent rolled back, one cut during its
    COMMIT is `unknown` (the ledger says: the seal must agree with it)."""

    url: str
    prefix: str
    committed: list[int] = field(default_factory=list)
    rolled_back: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    errors: int = 0

    async def run(self, stop: asyncio.Event, writers: int = 6) -> None:
        async def one(w: int) -> None:
            rng = random.Random(f"{self.prefix}-{w}")
            conn: asyncpg.Connection | None = None
            i = 0
            while not stop.is_set():
                i += 1
                ids: list[int] = []
                committing = False
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.url, timeout=5)
                    user = f"{self.prefix}-{rng.randint(1, 10)}"
                    key = f"{self.prefix}-{w}-{i}"
                    tx = conn.transaction()
                    await tx.start()
                    if rng.random() < 0.1:
                        rows = await conn.fetch(
                            "SELECT transaction_id FROM api.post_batch('topup', $1, $2, $3,"
                            " NULL, $4)",
                            GOLD, [user, f"{user}-b", user], [1, 2, 3], key,
                        )  # fmt: skip
                        ids = [r["transaction_id"] for r in rows]
                    else:
                        topup = "SELECT transaction_id FROM api.topup($1, $2, 1.00, $3)"
                        ids = [await conn.fetchval(topup, user, GOLD, key)]
                    await asyncio.sleep(rng.random() / 20)
                    if rng.random() < 0.2:
                        await tx.rollback()
                        self.rolled_back.extend(ids)
                    else:
                        committing = True
                        await tx.commit()
                        self.committed.extend(ids)
                except (
                    OSError,
                    TimeoutError,
                    asyncpg.PostgresError,
                    asyncpg.InterfaceError,
                    # a connection the server ended between two statements, met by the next
                    asyncpg.InternalClientError,
                ):
                    self.errors += 1
                    (self.unknown if committing else self.rolled_back).extend(ids)
                    if conn is not None:
                        conn.terminate()
                    conn = None
                    await asyncio.sleep(0.2)
            if conn is not None:
                await conn.close()

        await asyncio.gather(*(one(w) for w in range(writers)))

    async def assert_sealed_as_committed(self, conn: asyncpg.Connection) -> None:
        assert self.committed, "the SQL writers committed nothing"
        assert self.rolled_back, "the SQL writers rolled nothing back"
        assert await sealed_among(conn, self.committed) == len(self.committed), (
            "a committed SQL posting not sealed"
        )
        assert await sealed_among(conn, self.rolled_back) == 0, "a rolled-back posting sealed"
        in_ledger = await conn.fetchval(
            "SELECT count(*) FROM ledger.transactions WHERE id = ANY($1::bigint[])", self.unknown
        )
        assert await sealed_among(conn, self.unknown) == in_ledger

    def figures(self) -> str:
        return (
            f"SQL postings {len(self.committed)} committed, {len(self.rolled_back)} rolled back,"
            f" {len(self.unknown)} cut in their commit"
        )


# ----------------------------------------------------------------------------------------------
# The sealer's metrics
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealMetrics:
    sealed_passes: float
    busy: float
    failed: float
    sealed: float  # wallet_sealed_transactions_total
    unsealed: float | None  # the gauge (None when no worker has set it)

    @classmethod
    def parse(cls, text: str) -> SealMetrics:
        passes: dict[str, float] = {}
        values: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "wallet_seal_passes_total":
                    passes[sample.labels["outcome"]] = sample.value
                elif sample.name in ("wallet_sealed_transactions_total", "wallet_seal_unsealed"):
                    values[sample.name] = sample.value
        return cls(
            passes.get("sealed", 0.0),
            passes.get("busy", 0.0),
            passes.get("failed", 0.0),
            values.get("wallet_sealed_transactions_total", 0.0),
            values.get("wallet_seal_unsealed"),
        )

    def __str__(self) -> str:
        return (
            f"passes {self.sealed_passes:.0f} sealed, {self.busy:.0f} busy,"
            f" {self.failed:.0f} failed; {self.sealed:.0f} sealed"
        )


async def metrics_of(server: Server) -> SealMetrics:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        response = await client.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    return SealMetrics.parse(response.text)


def metrics_left_by(server: Server) -> SealMetrics:
    """A killed server's counters, from its workers' files."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(server.metrics_dir))  # type: ignore[no-untyped-call]
    return SealMetrics.parse(generate_latest(registry).decode())


def passes_by_worker(server: Server) -> dict[str, float]:
    """wallet_seal_passes_total (every outcome) per worker pid: a live sealer adds one a turn."""
    counts: dict[str, float] = {}
    for path in Path(server.metrics_dir).glob("counter_*.db"):
        if not sized_metrics_file(str(path)):
            continue
        pid = path.stem.rsplit("_", 1)[1]
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            if json.loads(key)[1] == "wallet_seal_passes_total":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


async def gauge_reads_nothing_left(server: Server) -> bool:
    return (await metrics_of(server)).unsealed == 0


async def counted(servers: list[Server], at_least: float) -> list[SealMetrics]:
    """The servers' metrics once their sealed counters add up to `at_least`. A worker counts a
    pass once api.seal has answered, a moment after its commit: a scrape in between (another
    worker having already read that nothing is left) misses it. The tests then assert the sum
    equals what the chain grew by, which still catches anything counted twice."""

    async def reached() -> bool:
        read = [await metrics_of(server) for server in servers]
        return sum(m.sealed for m in read) >= at_least

    with contextlib.suppress(AssertionError):  # not reached: the tests' equality says by how much
        await wait_until(reached, 5, "every sealed transaction counted")
    return [await metrics_of(server) for server in servers]


# ----------------------------------------------------------------------------------------------
# The server's workers
# ----------------------------------------------------------------------------------------------
def workers_of(server: Server) -> set[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(child) for child in children}


def worker_with_local_port(server: Server, port: int) -> int:
    """The worker of `server` whose TCP socket has local port `port` (a PostgreSQL backend's
    client_port)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for worker in workers_of(server):
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return worker
            except FileNotFoundError:
                continue
    raise AssertionError(f"no worker of the server has a socket on port {port}")


# ----------------------------------------------------------------------------------------------
# 1. Two instances, six sealers, under load
# ----------------------------------------------------------------------------------------------
async def test_two_instances_under_load_seal_each_committed_transaction_once(
    serve: ServeLoaded, settings: Settings, admin_conn: asyncpg.Connection
) -> None:
    prefix = f"seal2-{uuid.uuid4().hex[:8]}"
    before = await head(admin_conn)
    servers = [sealing_server(serve) for _ in range(2)]
    clients: list[Client] = [new_client(settings) for _ in servers]
    loads = [
        Load(s.url, c.key, f"{prefix}-{n}", seed=n)
        for n, (s, c) in enumerate(zip(servers, clients, strict=True))
    ]
    for load in loads:
        await load.fund()
    writers = SqlWriters(job_database_url(settings), f"{prefix}-sql")
    stop = asyncio.Event()
    running = [asyncio.create_task(load.run(stop, clients=8)) for load in loads]
    running.append(asyncio.create_task(writers.run(stop)))
    try:
        await asyncio.sleep(LOAD_SECONDS)
    finally:
        stop.set()
        await asyncio.gather(*running)
    for load in loads:
        await load.retry_lost(30)
    took = await wait_until(lambda: nothing_unsealed(admin_conn), 10, "everything sealed")
    for server in servers:
        await wait_until(lambda s=server: gauge_reads_nothing_left(s), 5, "wallet_seal_unsealed 0")
    sealed = await assert_chain_whole(admin_conn)
    metrics = await counted(servers, sealed - before)

    figures = [
        await verify(load, admin_conn, c.client_id) for load, c in zip(loads, clients, strict=True)
    ]
    acknowledged = [i for load in loads for i in acknowledged_ids(load)]
    assert await sealed_among(admin_conn, acknowledged) == len(acknowledged)
    await writers.assert_sealed_as_committed(admin_conn)
    assert all(server.process.poll() is None for server in servers)

    report(
        f"faults sealer two instances: 2 x {WORKERS} workers sealing every {SEAL_INTERVAL_MS} ms"
        f" for {LOAD_SECONDS:.0f} s; {sum(f.acknowledged for f in figures)} HTTP postings"
        f" acknowledged, {writers.figures()}; {sealed - before} sealed by the service"
        f" (chain 1..{sealed} whole), everything sealed {took:.1f} s after the load;"
        f" instance A {metrics[0]}, instance B {metrics[1]}"
    )
    # what the two instances' counters say is what the chain grew by: nothing twice, nothing lost
    assert sum(m.sealed for m in metrics) == sealed - before
    assert all(m.sealed > 0 and m.sealed_passes > 0 for m in metrics), "an instance never sealed"
    assert sum(m.busy for m in metrics) > 0, "no sealer ever found another at work"
    assert sum(m.failed for m in metrics) == 0


# ----------------------------------------------------------------------------------------------
# 2. SIGKILL mid-pass: one worker, then the whole service
# ----------------------------------------------------------------------------------------------
async def test_sigkill_mid_pass_of_a_worker_then_of_the_service_leaves_the_chain_whole(
    serve: ServeLoaded, settings: Settings, api_client: Client, admin_conn: asyncpg.Connection
) -> None:
    prefix = f"sealkill-{uuid.uuid4().hex[:8]}"
    server = sealing_server(serve)
    load = Load(server.url, api_client.key, prefix)
    await load.fund()
    stop = asyncio.Event()
    running = asyncio.create_task(load.run(stop))
    try:
        # a worker, killed while its sealer drains a backlog; Granian starts another
        let_go = await make_backlog(settings, BACKLOG, f"{prefix}-a")
        sealing = await pass_in_flight(admin_conn, let_go)
        worker = worker_with_local_port(server, sealing["client_port"])
        os.kill(worker, signal.SIGKILL)
        left_at_worker_kill = await unsealed(admin_conn)
        assert left_at_worker_kill > 0, "the worker's kill came after the drain"

        async def replaced() -> bool:
            workers = workers_of(server)
            return len(workers) == WORKERS and worker not in workers

        await wait_until(replaced, 30, "the killed worker replaced")
        newest = await committed_so_far(admin_conn)
        drained = await wait_until(lambda: sealed_up_to(admin_conn, newest), 30, "the backlog")
        # the gauge is the freshest reading of the live workers: not the dead one's last
        await gauge_below(server, 1000, 10)

        # the whole service, killed while a pass drains the next backlog; started again
        let_go = await make_backlog(settings, BACKLOG, f"{prefix}-b")
        await pass_in_flight(admin_conn, let_go)
        await asyncio.to_thread(server.kill)
        killed = metrics_left_by(server)
        await wait_until(lambda: no_sealer_session(admin_conn), 30, "the killed sealers' sessions")
        at_restart = await head(admin_conn)
        left_at_kill = await unsealed(admin_conn)
        assert left_at_kill > 0, "the service's kill came after the drain"
        newest = await committed_so_far(admin_conn)
        restarted = time.monotonic()
        server = await asyncio.to_thread(sealing_server, serve, server.port)
        await wait_until(
            lambda: sealed_up_to(admin_conn, newest), 30, "the backlog, after the restart"
        )
        finished = time.monotonic() - restarted  # the server's start included
        await asyncio.sleep(PHASE)
    finally:
        stop.set()
        await running
    await load.retry_lost(RETRY_TIMEOUT)
    took = await wait_until(lambda: nothing_unsealed(admin_conn), 10, "everything sealed")
    await wait_until(lambda: gauge_reads_nothing_left(server), 5, "wallet_seal_unsealed 0")
    sealed = await assert_chain_whole(admin_conn)
    (after,) = await counted([server], sealed - at_restart)

    figures = await verify(load, admin_conn, api_client.client_id)
    acknowledged = acknowledged_ids(load)
    assert await sealed_among(admin_conn, acknowledged) == len(acknowledged)
    report(
        f"faults sealer sigkill: {WORKERS} workers sealing every {SEAL_INTERVAL_MS} ms under"
        f" load, two backlogs of {BACKLOG}; a worker killed mid-pass with {left_at_worker_kill}"
        f" left, replaced and the backlog drained {drained:.1f} s later; the service killed"
        f" mid-pass with {left_at_kill} left ({killed}), restarted and the backlog sealed"
        f" {finished:.1f} s after the restart began (the server's start included), everything"
        f" {took:.1f} s after the load;"
        f" chain 1..{sealed} whole; {figures.acknowledged} HTTP postings acknowledged,"
        f" {figures.lost_once} with an answer lost; restarted service {after}"
    )
    # the restarted service alone sealed everything after the kill, counted exactly
    assert after.sealed == sealed - at_restart
    assert after.failed == 0
    assert figures.lost_once > 0, "the kill cut no answer"


async def gauge_below(server: Server, limit: float, timeout: float) -> None:
    """wallet_seal_unsealed under `limit` within `timeout` s."""
    read: list[float | None] = []

    async def below() -> bool:
        read.append((await metrics_of(server)).unsealed)
        return read[-1] is not None and read[-1] < limit

    try:
        await wait_until(below, timeout, f"wallet_seal_unsealed under {limit}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: it read {read[-1]}") from None


# ----------------------------------------------------------------------------------------------
# 3. PostgreSQL restarted and crashed mid-pass, under load
# ----------------------------------------------------------------------------------------------
@pytest.fixture
async def durable(settings: Settings) -> AsyncIterator[None]:
    """Commits that wait for their WAL flush while the test runs: a crash then loses nothing
    acknowledged (the throwaway dev stacks run with synchronous_commit off; fsync off is
    harmless here, the machine does not crash, only PostgreSQL)."""
    conn = await asyncpg.connect(settings.admin_database_url)
    try:
        changed = await conn.fetchval("SELECT current_setting('synchronous_commit')") == "off"
        if changed:
            await conn.execute("ALTER SYSTEM SET synchronous_commit = on")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    try:
        yield
    finally:
        if changed:
            conn = await asyncpg.connect(settings.admin_database_url)
            try:
                await conn.execute("ALTER SYSTEM RESET synchronous_commit")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()


@pytest.mark.usefixtures("durable")
async def test_postgres_restarted_and_crashed_mid_pass_the_sealer_retries_and_catches_up(
    serve: ServeLoaded, settings: Settings, api_client: Client, stack: Stack
) -> None:
    """(Connections of its own: the restarts break any made before them.)"""
    prefix = f"sealpg-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(settings.admin_database_url)
    try:
        before = await head(conn)
    finally:
        await conn.close()
    server = sealing_server(serve)
    workers = workers_of(server)
    load = Load(server.url, api_client.key, prefix)
    await load.fund()
    writers = SqlWriters(job_database_url(settings), f"{prefix}-sql")
    stop = asyncio.Event()
    running = [asyncio.create_task(load.run(stop)), asyncio.create_task(writers.run(stop))]
    catch_ups: list[float] = []
    left_at_stop: list[int] = []
    try:
        for n, shutdown in enumerate(SHUTDOWNS):
            await asyncio.sleep(PHASE)
            let_go = await make_backlog(settings, BACKLOG, f"{prefix}-{n}")
            conn = await asyncpg.connect(settings.admin_database_url)
            try:
                await pass_in_flight(conn, let_go)
                await stack.stop(shutdown)
            finally:
                conn.terminate()
            await asyncio.sleep(OUTAGE)
            await stack.start()
            back = time.monotonic()
            turns_at_back = passes_by_worker(server)
            conn = await asyncpg.connect(settings.admin_database_url)
            try:
                left_at_stop.append(await unsealed(conn))
                newest = await committed_so_far(conn)
                await wait_until(lambda c=conn, x=newest: sealed_up_to(c, x), CATCH_UP, "caught up")
                catch_ups.append(time.monotonic() - back)
            finally:
                await conn.close()

            # every worker's sealer is still turning (none died with a failed turn)
            async def every_sealer_turning(before: dict[str, float] = turns_at_back) -> bool:
                now = passes_by_worker(server)
                return all(now.get(str(w), 0) > before.get(str(w), 0) for w in workers)

            await wait_until(every_sealer_turning, 5, "every worker's sealer turning again")
        await asyncio.sleep(PHASE)
    finally:
        stop.set()
        await asyncio.gather(*running)
        await stack.start()
    assert server.process.poll() is None, "the service died"
    assert workers_of(server) == workers, "a worker died"
    await load.retry_lost(30)

    conn = await asyncpg.connect(settings.admin_database_url)
    try:
        took = await wait_until(lambda: nothing_unsealed(conn), 10, "everything sealed")
        await wait_until(lambda: gauge_reads_nothing_left(server), 5, "wallet_seal_unsealed 0")
        metrics = await metrics_of(server)
        figures = await verify(load, conn, api_client.client_id)
        sealed = await assert_chain_whole(conn)
        acknowledged = acknowledged_ids(load)
        assert await sealed_among(conn, acknowledged) == len(acknowledged)
        await writers.assert_sealed_as_committed(conn)
    finally:
        await conn.close()
    warnings = [
        line
        for line in server.log_lines()
        if line.get("logger") == "wallet.sealer" and line.get("level") == "warning"
    ]
    report(
        f"faults sealer postgres: {WORKERS} workers sealing every {SEAL_INTERVAL_MS} ms under"
        f" load; {', '.join(SHUTDOWNS)} for {OUTAGE:.0f} s each, each while a pass drained a"
        f" backlog of {BACKLOG} ({', '.join(map(str, left_at_stop))} left unsealed when it was"
        f" back); caught up {', '.join(f'{c:.1f}' for c in catch_ups)} s after it was back,"
        f" everything sealed {took:.1f} s after the load; chain 1..{sealed} whole;"
        f" {figures.acknowledged} HTTP postings acknowledged, {writers.figures()};"
        f" {len(warnings)} warnings logged by the sealers; {metrics} of {sealed - before}"
    )
    assert left_at_stop and all(left > 0 for left in left_at_stop), "an outage after the drain"
    assert metrics.failed > 0, "no failed turn counted"
    # each pass counted as it commits, whatever cut the turn after it (only a crash in the
    # microseconds between a pass's commit and its answer could seal one uncounted)
    uncounted = sealed - before - metrics.sealed
    assert uncounted == 0, f"{uncounted} sealed and not counted in wallet_sealed_transactions"
    assert warnings and all(w["msg"].startswith("not sealed: ") for w in warnings), warnings[:3]
