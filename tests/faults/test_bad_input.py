"""Bad input at scale: the property-based fuzzing of tests/http/test_fuzz.py (every endpoint,
malformed and hostile requests, holds authorized, captured, voided and read in every state,
batches posted and repeated, lists of rejected money requests), sent through a real
`wallet serve`: no 500, nothing outside the documented schema, no money moved by a rejected
request. Every fuzz test of the file runs (all but the regression tests, `-k "not bug"`); the full
size sends at least 10,000 requests and proves that it did, from the figures each fuzz test
prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.faults.conftest import FULL, ServeLoaded, report
from tests.support import ROOT

# examples per fuzz test; about ten requests per example over the tests (6 tests, 200 examples:
# about 1,900 requests)
EXAMPLES = int(os.environ.get("WALLET_FUZZ_EXAMPLES", "2000" if FULL else "10"))
AT_LEAST = 10_000 if FULL else 1
FIGURES = re.compile(r"^fuzz (\S+): (\d+) examples, (\d+) requests in ([\d.]+) s", re.MULTILINE)
# the fuzz tests of test_fuzz.py that send requests and print their figures: money, transfers and
# reversals, holds, batches, reads, lists of rejected requests (the metadata properties send none)
PROPERTIES = 6


def test_fuzzing_through_the_real_server_answers_only_as_documented(serve: ServeLoaded) -> None:
    server = serve()
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "tests/http/test_fuzz.py"),
            *("-q", "-s", "-p", "no:cacheprovider", "-k", "not bug"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "WALLET_FUZZ_EXAMPLES": str(EXAMPLES),
            "WALLET_FUZZ_SERVER": server.url,
        },
        capture_output=True,
        text=True,
        timeout=3600,
    )
    figures = FIGURES.findall(result.stdout)
    for line in re.findall(r"^fuzz .*$", result.stdout, re.MULTILINE):
        report(line)
    sent = sum(int(requests) for _, _, requests, _ in figures)
    seconds = sum(float(s) for *_, s in figures)
    report(
        f"faults bad input: {sent} requests sent through wallet serve in {seconds:.0f} s"
        f" ({EXAMPLES} examples per test, {len(figures)} tests)"
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert len(figures) == PROPERTIES, result.stdout[-3000:]
    assert sent >= AT_LEAST, f"only {sent} requests were sent"
    assert server.process.poll() is None
