"""`wallet webhooks add|list|disable|enable` (as wallet_job): what each prints, the secret read
from standard input, and a refusal as one line naming its code, exit 1."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.cli.test_cli import wallet
from tests.support import ROOT

URL = "http://127.0.0.1:9/cli-test"


def added(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stderr
    found = re.match(r"added webhook (\d+): (\S+)\n", result.stdout)
    assert found, result.stdout
    return int(found[1])


def listed(webhook: int) -> list[str]:
    """The line of `wallet webhooks list` for `webhook`, split in columns."""
    result = wallet("webhooks", "list")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:3] == ["id", "status", "events"]
    return next(line.split() for line in lines if line.split()[0] == str(webhook))


def test_add_list_disable_and_enable() -> None:
    result = wallet("webhooks", "add", "--url", URL, "--secret", "0123456789abcdef",
                    "--events", "spend,topup", "--after", "0")  # fmt: skip
    webhook = added(result)
    assert "events: spend, topup, after sequence 0\n" in result.stdout
    assert listed(webhook)[:4] == [str(webhook), "active", "topup,spend", "0"]

    disabled = wallet("webhooks", "disable", str(webhook))
    assert disabled.returncode == 0, disabled.stderr
    assert re.fullmatch(rf"webhook {webhook} disabled at .+\n", disabled.stdout)
    again = wallet("webhooks", "disable", str(webhook))
    assert f"webhook {webhook} was already disabled at" in again.stdout
    assert listed(webhook)[1] == "disabled"

    enabled = wallet("webhooks", "enable", str(webhook))
    assert enabled.returncode == 0, enabled.stderr
    assert re.fullmatch(rf"webhook {webhook} active: delivering after sequence 0, \d+ behind\n",
                        enabled.stdout)  # fmt: skip
    assert wallet("webhooks", "disable", str(webhook)).returncode == 0


def test_the_secret_can_come_from_standard_input_and_is_never_listed() -> None:
    secret = "from-stdin-0123456789"  # noqa: S105 (a test's)
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "webhooks", "add", "--url", URL, "--secret", "-"],
        input=f"{secret}\n", capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    webhook = added(result)
    assert "every type" in result.stdout
    listing = wallet("webhooks", "list").stdout
    assert secret not in listing and str(webhook) in listing
    assert wallet("webhooks", "disable", str(webhook)).returncode == 0


def test_refusals_name_their_code_and_change_nothing() -> None:
    before = wallet("webhooks", "list").stdout
    cases = [
        (["add", "--url", "ftp://x", "--secret", "0123456789abcdef"], "invalid_webhook_url"),
        (["add", "--url", URL, "--secret", "short"], "invalid_webhook_secret"),
        (["add", "--url", URL, "--secret", "0123456789abcdef", "--events", "refund"],
         "invalid_webhook_events: unknown event type 'refund'"),
        (["disable", "999999999"], "webhook_not_found"),
        (["enable", "999999999"], "webhook_not_found"),
    ]  # fmt: skip
    for args, says in cases:
        result = wallet("webhooks", *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith(f"wallet webhooks {args[0]}: {says}"), result.stderr
        assert result.stderr.rstrip().endswith("nothing changed"), result.stderr
        assert "Traceback" not in result.stderr
    assert wallet("webhooks", "list").stdout == before
