"""/metrics under `wallet serve` merges the workers' prometheus_client files. A worker creates its
file and only then sizes it; a scrape in between must not fail on the empty file (found by
make test: the test harness, polling the same files while workers started, hit it). A worker
killed and replaced leaves its files: its counts stay counted, its "live" gauges do not (found by
tests/faults/test_sealer.py)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from service.observability import metrics_text


def write_counter(directory: Path, pid: int, value: float) -> None:
    counter = MmapedDict(str(directory / f"counter_{pid}.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("wallet_probe", "wallet_probe_total", [], [], "a probe")
    counter.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    counter.close()  # type: ignore[no-untyped-call]


def write_livemax_gauge(directory: Path, pid: int, value: float) -> None:
    gauge = MmapedDict(str(directory / f"gauge_livemax_{pid}.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("wallet_level", "wallet_level", [], [], "a level")
    gauge.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    gauge.close()  # type: ignore[no-untyped-call]


def test_a_worker_caught_creating_its_file_is_left_out_of_the_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    write_counter(tmp_path, 101, 3.0)
    write_counter(tmp_path, 102, 4.0)
    (tmp_path / "counter_103.db").touch()  # created, not yet sized

    # what prometheus_client alone does with such a file: /metrics would answer 500
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(tmp_path))  # type: ignore[no-untyped-call]
    with pytest.raises(struct.error):
        generate_latest(registry)

    text = metrics_text().decode()
    assert "wallet_probe_total 7.0" in text  # both sized workers, summed


def test_a_killed_workers_live_gauge_is_left_out_and_its_counts_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gone = _a_dead_pid()
    write_counter(tmp_path, os.getpid(), 3.0)
    write_counter(tmp_path, gone, 4.0)
    write_livemax_gauge(tmp_path, os.getpid(), 2.0)
    write_livemax_gauge(tmp_path, gone, 10284.0)  # its last reading before it was killed

    text = metrics_text().decode()
    assert "wallet_probe_total 7.0" in text  # what the dead worker counted stays counted
    assert "wallet_level 2.0" in text, text  # the max of the live workers only


def _a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
