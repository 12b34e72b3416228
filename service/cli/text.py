"""What the `wallet` subcommands print alike: moments and tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def when(moment: datetime | None) -> str:
    """A moment to the second, in the session's time zone; "-" for none."""
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """The header and the rows in columns two spaces apart; the last column is left unpadded."""
    table = [header, *rows]
    last = len(header) - 1
    widths = [max(len(line[column]) for line in table) for column in range(last)]
    for line in table:
        padded = [line[column].ljust(widths[column]) for column in range(last)]
        print("  ".join([*padded, line[last]]))
