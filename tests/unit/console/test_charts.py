"""The dashboard's charts read well with one day or ninety: bars with their values for a few
days (never a lone dot), at most ten day labels for a long period, reasons by their labels."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from bot.kpis import KpiRow
from console import charts


def _days(n: int) -> list[KpiRow]:
    start = date(2026, 9, 1)
    return [
        KpiRow(
            (start + timedelta(days=i)).isoformat(),
            conversations=10 + i % 7,
            user_turns=60,
            rpc=6,
            handoffs=2,
            handoff_reasons=Counter({"beyond_authority": 1, "dispute": 1}),
            ptp=3,
            plans_offered=4,
            arrangements=1,
            csat_responses=2,
            csat_total=8,
        )
        for i in range(n)
    ]


def _labels(svg: bytes) -> list[str]:
    # text is kept as SVG <text> (console/charts.py), so each day label is one element
    return re.findall(r">(20\d\d-\d\d-\d\d)<", svg.decode())


def test_one_day_is_drawn_as_bars_with_their_values() -> None:
    svg = charts.rates_over_time(_days(1)).decode()
    assert svg.count('id="patch_') >= 5 + 1  # a bar per rate (and the axes' background)
    assert ">60<" in svg  # RPC 6 of 10 conversations, written on its bar
    assert _labels(charts.volume_over_time(_days(1))) == ["2026-09-01"]
    assert "4.0 (n=2)" in charts.csat_over_time(_days(1)).decode()


def test_ninety_days_show_at_most_ten_day_labels_and_the_last_day() -> None:
    for chart in (charts.rates_over_time, charts.volume_over_time, charts.csat_over_time):
        labels = _labels(chart(_days(90)))
        assert 2 <= len(labels) <= 10 and labels[-1] == "2026-11-29", (chart.__name__, labels)


def test_handoff_reasons_are_labelled_in_words() -> None:
    total = _days(3)[0]
    svg = charts.handoff_reasons(total).decode()
    assert "Offer beyond the bot's authority" in svg and "beyond_authority" not in svg
