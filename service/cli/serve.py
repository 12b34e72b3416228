"""`wallet serve`: the HTTP service (service.http) on Granian, several worker processes, one port.

Granian (a Rust HTTP server) because the Python process, not PostgreSQL, is what saturates first
on a small machine, and it is the server the benchmark yardstick runs on. On SIGTERM or SIGINT
it stops accepting, lets requests in flight finish and runs the app's shutdown (pools closed).
Metrics from every worker are merged through prometheus_client's multiprocess directory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from service.config import Settings


def serve(settings: Settings) -> int:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    own_metrics_dir = not metrics_dir
    if own_metrics_dir:
        metrics_dir = tempfile.mkdtemp(prefix="wallet-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    print(
        f"wallet serve: http://{settings.host}:{settings.port} with {settings.workers} workers",
        file=sys.stderr,
        flush=True,
    )
    try:
        Granian(
            "service.http.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            loop=Loops.uvloop,
            log_access=False,  # the app writes its own JSON line per request
            respawn_failed_workers=True,
            workers_kill_timeout=30,
        ).serve()
    finally:
        if own_metrics_dir and metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
