"""A measurement, not part of the service: how fast could the top-up route be without Litestar's
per-request layers (routing, guard, argument parsing, exception middleware, response)? The
same work as the service's route on the happy path (the key checked, the admission script, one
SQL call, the answer stored, metrics, the Observed layer's log line and headers), as a raw ASGI
handler in front of the same Litestar app, which serves everything else. It skips what a
measurement can: problem bodies, the amount and key checks, replays. docs/performance.md quotes
what it gave against the yardstick; to run it on a migrated stack (WALLET_* set):

    PYTHONPATH=bench/http .venv/bin/python bench/http/asgi_ceiling.py 3301 &
    ../shared/bench/compare.sh http://127.0.0.1:3301 10 32
"""

import os
import sys
import tempfile
from decimal import Decimal

import msgspec

from service.config import load_settings
from service.http.app import Backends, create_litestar
from service.http.codec import decode_exact
from service.http.gate import Gate, Moved
from service.http.metadata import check_metadata_size, measured_metadata, request_fingerprint
from service.http.money import transaction_body
from service.http.wire import TopupRequest
from service.observability import TRANSACTIONS, Observed, configure_logging
from service.problems import ProblemError


def create_app():
    configure_logging()
    settings = load_settings()
    backends = Backends.from_settings(settings)
    lit = create_litestar(settings, backends)
    gate = Gate(backends.admissions)

    async def fast(scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["path"] != "/api/v1/wallet/topup"
            or scope["method"] != "POST"
        ):
            return await lit(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        chunks = []
        while True:
            m = await receive()
            chunks.append(m.get("body", b""))
            if not m.get("more_body"):
                break
        client = backends.keyring.client(headers.get("authorization"))
        if client is None or "wallet:topup" not in client.scopes:
            error = ProblemError("unauthenticated", "no valid key with the top-up scope")
            await send(
                {
                    "type": "http.response.start",
                    "status": error.status,
                    "headers": [(b"content-type", b"application/problem+json")],
                }
            )
            await send({"type": "http.response.body", "body": b"{}"})
            return
        data = msgspec.convert(decode_exact(b"".join(chunks)), TopupRequest)
        key = headers["idempotency-key"]
        amount = Decimal(data.amount)
        metadata, same_metadata = "{}", {}
        if data.metadata:  # the benchmark's top-ups have none; checked as the route does
            metadata, same_metadata, size = measured_metadata(data.metadata)
            check_metadata_size(size)
        fingerprint = request_fingerprint(
            "topup", [data.user_id, data.asset_type_id, amount, None], same_metadata
        )

        async def move():
            posting = await backends.ledger.topup(
                data.user_id, data.asset_type_id, amount, key, metadata, client.idempotency_scope
            )
            TRANSACTIONS.labels("topup", data.asset_type_id).inc()
            return Moved(transaction_body("topup", data, posting), posting.replayed)

        answer = await gate.exactly_once(client, key, fingerprint, data.user_id, move)
        body = answer.body
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        out += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": body})

    return Observed(fast)


if __name__ == "__main__":
    from granian import Granian
    from granian.constants import Interfaces, Loops

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp()
    Granian(
        "asgi_ceiling:create_app",
        factory=True,
        address="127.0.0.1",
        port=int(sys.argv[1]),
        interface=Interfaces.ASGI,
        workers=2,
        loop=Loops.uvloop,
        log_access=False,
    ).serve()
