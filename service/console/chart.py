"""The balance chart of a player's page: an SVG step line drawn from the wallet's entries.

A balance changes only at an entry and holds until the next, so the line is a staircase: flat
from one entry's time to the next's, then straight up or down to the next balance_after. Drawn
in exact decimals (no float touches a balance); only the coordinates are rounded, to 0.1 of a
unit of the SVG's viewBox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

WIDTH = 640
HEIGHT = 220
# room for the balance labels at the left and the dates below
LEFT, RIGHT, TOP, BOTTOM = 80, 12, 12, 28
_TENTH = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    balance: Decimal


@dataclass(frozen=True, slots=True)
class Chart:
    path: str  # the step line's SVG path data
    dots: list[tuple[str, str]]  # (x, y) of each entry's new balance
    low: Decimal
    high: Decimal
    low_y: str
    high_y: str
    zero_y: str  # where the zero line goes (the range always includes zero)
    first: datetime
    last: datetime
    entries: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right_edge(self) -> int:
        return WIDTH - RIGHT

    @property
    def bottom_edge(self) -> int:
        return HEIGHT - BOTTOM


def _coordinate(value: Decimal) -> str:
    return str(value.quantize(_TENTH, rounding=ROUND_HALF_EVEN))


def balance_chart(points: Sequence[Point]) -> Chart | None:
    """The chart of `points` (each a balance_after and its entry's time, oldest first: entries
    of one moment are drawn in the order given), or None when there is nothing to draw."""
    if not points:
        return None
    ordered = sorted(points, key=lambda p: p.at)
    zero = ordered[0].balance * 0  # zero at the balances' decimal places: "0.00", not "0"
    low = min(min(p.balance for p in ordered), zero)
    high = max(max(p.balance for p in ordered), zero)
    if high == low:
        high = low + 1  # a flat line at zero still needs a scale
    first, last = ordered[0].at, ordered[-1].at
    span = Decimal((last - first).total_seconds())
    plot_width = Decimal(WIDTH - LEFT - RIGHT)
    plot_height = Decimal(HEIGHT - TOP - BOTTOM)

    def x_of(index: int, at: datetime) -> Decimal:
        if span > 0:
            return LEFT + plot_width * Decimal((at - first).total_seconds()) / span
        # every entry at one moment: spread them evenly, in order
        return LEFT + plot_width * Decimal(index) / Decimal(max(len(ordered) - 1, 1))

    def y_of(balance: Decimal) -> Decimal:
        return TOP + plot_height * (high - balance) / (high - low)

    # The balance before the first entry drawn is not known here (the chart may start mid-way
    # through the wallet's history): the line starts at the first entry's new balance
    commands: list[str] = []
    dots: list[tuple[str, str]] = []
    previous_y: str | None = None
    for index, point in enumerate(ordered):
        x, y = _coordinate(x_of(index, point.at)), _coordinate(y_of(point.balance))
        if previous_y is None:
            commands.append(f"M{x} {y}")
        else:
            commands.append(f"H{x} V{y}")
        dots.append((x, y))
        previous_y = y
    commands.append(f"H{WIDTH - RIGHT}")
    zero_y = _coordinate(y_of(zero))
    return Chart(
        path=" ".join(commands),
        dots=dots,
        low=low,
        high=high,
        low_y=_coordinate(y_of(low)),
        high_y=_coordinate(y_of(high)),
        zero_y=zero_y,
        first=first,
        last=last,
        entries=len(ordered),
    )
