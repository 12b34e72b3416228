"""Top-ups through the service's ASGI app in this process, one after another: the Python side of a
request (Observed, Litestar, the guard, the gate's Redis script, the asyncpg call, the answer) with
no HTTP server or client around it. Run under `valgrind --tool=callgrind` by instructions.sh, which
takes the difference of two runs of different sizes: the instructions one top-up costs the
service's process, a count that repeats within about 1% where wall-clock timings on a shared
machine scatter by 20%.

usage: instructions.py KEY_FILE TOP_UPS   (cwd: the checkout whose service/ is measured; WALLET_*
of a migrated stack whose users bench-user-1 .. bench-user-10000 exist)
"""

import asyncio
import dataclasses
import json
import os
import random
import sys
import uuid

sys.path.insert(0, os.getcwd())
try:
    from service.http.app import create_app
except ImportError:  # a checkout from before service/http/ (95a8d4a and older)
    from service.app import create_app  # type: ignore[no-redef]
from service.config import load_settings

WARM_UP = 50


async def main(key: str, top_ups: int) -> None:
    settings = dataclasses.replace(
        load_settings(), rate_limit_general=None, rate_limit_transactions=None
    )
    app = create_app(settings)
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    await asyncio.sleep(1)  # the key ring's first load

    async def top_up() -> None:
        user = f"bench-user-{random.randint(1, 10000)}"  # noqa: S311 - a load, not a secret
        body = json.dumps(
            {"userId": user, "assetTypeId": "asset-gold-coin-001", "amount": "1.00"}
        ).encode()
        answers: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, object]) -> None:
            answers.append(message)

        headers = [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"idempotency-key", uuid.uuid4().hex.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        path = "/api/v1/wallet/topup"
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "scheme": "http", "headers": headers,
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
                 "asgi": {"version": "3.0"}, "http_version": "1.1"}  # fmt: skip
        await app(scope, receive, send)
        assert answers[0]["status"] == 201, answers

    # the app writes a JSON line per request to stdout: measured, then thrown away
    log, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        for _ in range(WARM_UP + top_ups):
            await top_up()
    finally:
        sys.stdout = log
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan
    print(f"{WARM_UP + top_ups} top-ups answered 201")


if __name__ == "__main__":
    with open(sys.argv[1]) as key_file:
        asyncio.run(main(key_file.read().strip(), int(sys.argv[2])))
