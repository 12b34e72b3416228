"""A webhook receiver for the wallet's events, with the Python standard library only: it checks
the Wallet-Signature header, refuses a stale timestamp (a captured request replayed later), and
handles each event once although deliveries are at least once (docs/webhooks.md).

    WEBHOOK_SECRET=... python3 examples/webhooks/receiver.py 8080
    wallet webhooks add --url http://127.0.0.1:8080/ --secret - <<< "$WEBHOOK_SECRET"

tests/webhooks/ deliver to this receiver (its `verify` and its handler), so what the docs show
is what is tested.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

TOLERANCE_SECONDS = 300  # how old a request's timestamp may be


def verify(secret: bytes, header: str, body: bytes, tolerance: float = TOLERANCE_SECONDS,
           now: float | None = None) -> bool:  # fmt: skip
    """True when `header` (the Wallet-Signature value: t=<unix seconds>,v1=<hex>) signs the raw
    `body` under `secret` and its timestamp is at most `tolerance` seconds away from now."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False  # too old (or from the future): a replay, or a clock far off
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class Receiver(BaseHTTPRequestHandler):
    """POSTed events: 204 once handled, 400 when the signature does not hold."""

    secret = os.environ.get("WEBHOOK_SECRET", "").encode()
    tolerance: float = TOLERANCE_SECONDS
    last_sequence = 0  # a real receiver stores it with what it does with the events
    lock = Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verify(self.secret, self.headers.get("Wallet-Signature", ""), body, self.tolerance):
            self.send_response(400)
            self.end_headers()
            return
        with self.lock:  # one delivery at a time: events are handled in sequence order
            for event in json.loads(body)["events"]:
                sequence = int(event["sequence"])
                if sequence <= type(self).last_sequence:
                    continue  # seen before: a delivery sent again after a lost answer
                self.handle_event(event)
                type(self).last_sequence = sequence
        self.send_response(204)
        self.end_headers()

    def handle_event(self, event: dict[str, object]) -> None:
        print(event["sequence"], event["type"], event.get("userId"), event.get("amount"),
              event.get("assetTypeId"), flush=True)  # fmt: skip

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the events are the output


if __name__ == "__main__":
    if not Receiver.secret:
        sys.exit("set WEBHOOK_SECRET to the subscription's secret")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
