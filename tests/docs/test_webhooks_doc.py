"""docs/webhooks.md shows the receiver's signature check as it is in
examples/webhooks/receiver.py (the code tests/webhooks/ deliver to), so the snippet people copy
is the tested one."""

from __future__ import annotations

import re

from tests.support import ROOT


def test_the_documented_verify_is_the_example_receivers() -> None:
    doc = (ROOT / "docs/webhooks.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- verify: (\S+) -->\n```python\n(.*?)```", doc, re.S)
    assert blocks, "docs/webhooks.md has no marked snippet"
    for path, snippet in blocks:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert snippet in source, f"docs/webhooks.md's snippet differs from {path}"
