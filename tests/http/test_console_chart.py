"""The console's balance chart (service/console/chart.py): exact staircases from the entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from service.console.chart import Point, balance_chart

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_nothing_to_draw_without_entries() -> None:
    assert balance_chart([]) is None


def test_a_staircase_flat_between_entries_in_time_order() -> None:
    chart = balance_chart(
        [
            Point(T0 + timedelta(seconds=10), Decimal("5.00")),  # given newest first, as read
            Point(T0, Decimal("10.00")),
        ]
    )
    assert chart is not None
    # x: 80 (the left edge) to 628 (the right); y: 12 for the top (10.00) to 192 for zero
    assert chart.path == "M80.0 12.0 H628.0 V102.0 H628"
    assert chart.dots == [("80.0", "12.0"), ("628.0", "102.0")]
    assert (str(chart.low), str(chart.high)) == ("0.00", "10.00")
    assert (chart.low_y, chart.high_y, chart.zero_y) == ("192.0", "12.0", "192.0")
    assert (chart.first, chart.last, chart.entries) == (T0, T0 + timedelta(seconds=10), 2)


def test_a_debt_puts_zero_inside_the_range() -> None:
    chart = balance_chart(
        [
            Point(T0, Decimal("30.00")),
            Point(T0 + timedelta(seconds=1), Decimal("-10.00")),
            Point(T0 + timedelta(seconds=3), Decimal("0.00")),
        ]
    )
    assert chart is not None
    assert (str(chart.low), str(chart.high)) == ("-10.00", "30.00")
    assert chart.zero_y == "147.0"  # 12 + 180 * 30 / 40
    assert chart.path == "M80.0 12.0 H262.7 V192.0 H628.0 V147.0 H628"


def test_entries_of_one_moment_are_spread_evenly_in_their_order() -> None:
    chart = balance_chart([Point(T0, Decimal(n)) for n in (1, 2, 3)])
    assert chart is not None
    assert [x for x, _ in chart.dots] == ["80.0", "354.0", "628.0"]


def test_a_flat_zero_still_has_a_scale() -> None:
    chart = balance_chart([Point(T0, Decimal("0.00"))])
    assert chart is not None
    assert (str(chart.low), str(chart.high)) == ("0.00", "1.00")
    assert chart.path == "M80.0 192.0 H628"
