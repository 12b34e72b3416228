"""A real local receiver for the webhook tests: examples/webhooks/receiver.py (the one the docs
show), served on a free port in a thread, behind a script of misbehaviours (answer 500, answer
too late, hang until told) that it plays before answering as the example does. It records every
request it got and the events it handled."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from types import ModuleType
from typing import Any

import asyncpg
import pytest

from tests.support import ROOT


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver_example", ROOT / "examples/webhooks/receiver.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()
SECRET = "test-webhook-secret-0123456789"  # noqa: S105 (a test's)


@dataclass
class Request:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int | str  # the status answered, or "late" (answered after the sender gave up)

    @property
    def sequences(self) -> list[int]:
        return [int(event["sequence"]) for event in json.loads(self.body)["events"]]


@dataclass
class Receiver:
    url: str
    script: list[str]  # "500", "late" (sleep past the sender's timeout) or "hang" (until released)
    requests: list[Request] = field(default_factory=list)
    handled: list[dict[str, Any]] = field(default_factory=list)  # events, once each, in order
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    late_seconds: float = 1.5
    server: ThreadingHTTPServer | None = None
    handler: Any = None  # its request handler class: handler.tolerance may be changed

    def accepted(self) -> list[int]:
        """The sequences of every request answered 2xx, in the order they were sent."""
        return [s for r in self.requests if r.status == 204 for s in r.sequences]


def _handler(receiver: Receiver, tolerance: float) -> type:
    class Scripted(example.Receiver):  # type: ignore[misc,name-defined]
        secret = SECRET.encode()
        last_sequence = 0

        def do_POST(self) -> None:  # noqa: N802
            step = receiver.script.pop(0) if receiver.script else "ok"
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = Request(time.monotonic(), dict(self.headers.items()), body, 0)
            receiver.requests.append(request)
            receiver.arrived.set()
            if step == "500":
                request.status = 500
                self.send_response(500)
                self.end_headers()
                return
            if step in ("late", "hang"):
                request.status = "late"
                if step == "late":
                    time.sleep(receiver.late_seconds)
                else:
                    receiver.release.wait(60)
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up or died: it counts as not delivered
                return
            # as the example does, from the body already read
            self.rfile = io.BytesIO(body)
            status: list[int] = []
            send = self.send_response

            def recording(code: int, message: str | None = None) -> None:
                status.append(code)
                send(code, message)

            self.send_response = recording  # type: ignore[method-assign]
            super().do_POST()
            request.status = status[0]

        def handle_event(self, event: dict[str, Any]) -> None:
            receiver.handled.append(event)

    Scripted.tolerance = tolerance
    return Scripted


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """Starts receivers: receiver_factory(script=[...], tolerance=300)."""
    started: list[Receiver] = []

    def start(script: list[str] | None = None, tolerance: float = 300) -> Receiver:
        receiver = Receiver(url="", script=list(script or []))
        receiver.handler = _handler(receiver, tolerance)
        server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler)
        server.daemon_threads = True
        receiver.server = server
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.release.set()
        assert receiver.server is not None
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
async def subscribe(admin_conn: asyncpg.Connection) -> AsyncIterator[Callable[..., Any]]:
    """subscribe(url, types=None): a subscription from the seal's head now (api.webhook_add);
    every one is disabled at the end, so no other test's service delivers it."""
    made: list[int] = []

    async def add(url: str, types: list[str] | None = None) -> tuple[int, int]:
        row = await admin_conn.fetchrow(
            "SELECT id, after_sequence FROM api.webhook_add($1, $2, $3)", url, SECRET, types
        )
        made.append(row["id"])
        return row["id"], row["after_sequence"]

    yield add
    for webhook_id in made:
        await admin_conn.execute("SELECT api.webhook_disable($1)", webhook_id)
