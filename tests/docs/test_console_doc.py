"""docs/console.md shows the console as the browser tests last saw it: every screenshot it shows
is a PNG in docs/console/, and every screenshot the tests take is shown."""

from __future__ import annotations

import re

from tests.support import ROOT

DOC = ROOT / "docs" / "console.md"
BROWSER_TESTS = ROOT / "tests" / "console" / "test_browser.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_screenshot_the_doc_shows_is_a_png_the_browser_tests_take() -> None:
    shown = re.findall(r"!\[[^\]]+\]\((console/[a-z-]+\.png)\)", DOC.read_text())
    taken = re.findall(r'screenshot\("([a-z-]+)"\)', BROWSER_TESTS.read_text())
    assert shown and taken
    assert sorted(shown) == sorted(f"console/{name}.png" for name in taken)
    for image in shown:
        path = DOC.parent / image
        assert path.read_bytes()[:8] == PNG_SIGNATURE, image
