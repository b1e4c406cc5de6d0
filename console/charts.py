"""Server-side SVG charts of the KPIs (matplotlib, no JavaScript, nothing fetched from outside).

Drawn once per request with fixed margins (no second "tight" layout pass), at most
:data:`MAX_LABELS` day labels, and text kept as SVG text: about a third of the time the first
version took per chart, which was most of the dashboard's time."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)

from bot.kpis import KpiRow  # noqa: E402
from console.labels import reason_label  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"  # text as <text>, not a path per glyph
MAX_LABELS = 10  # day labels on the x axis, whatever the period

RATE_SERIES = (
    ("rpc_rate", "right-party contact"),
    ("containment_rate", "containment"),
    ("ptp_rate", "PTP (per RPC)"),
    ("opt_out_rate", "opt-out"),
    ("fallback_rate", "fallback (per message)"),
)


FEW_DAYS = 3  # up to this many days, bars read better than lines (one day is a lone dot otherwise)
MAX_TICKS = MAX_LABELS  # day labels shown on the x axis, however long the period


def _day_axis(ax: Any, labels: Sequence[str]) -> None:
    """At most :data:`MAX_TICKS` day labels, evenly spaced, the last day always labelled; a few
    days keep narrow bars in the middle of the chart."""
    if len(labels) <= FEW_DAYS:
        ax.set_xlim(-1.5, len(labels) + 0.5)
    step = max(1, -(-len(labels) // MAX_TICKS))
    ticks = list(range(len(labels) - 1, -1, -step))[::-1]
    ax.set_xticks(ticks)
    ax.set_xticklabels([labels[i] for i in ticks], rotation=30, ha="right")


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg")
    return out.getvalue()


def _days_axis(fig: Figure, ax: Any, labels: Sequence[str], right: float = 0.97) -> None:
    """Day labels as :func:`_day_axis` puts them, small; margins fixed instead of a layout pass."""
    _day_axis(ax, labels)
    ax.tick_params(axis="x", labelsize=8)
    fig.subplots_adjust(left=0.08, right=right, bottom=0.24, top=0.88)


def _empty(fig: Figure, title: str) -> bytes:
    ax = fig.subplots()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no conversations in this period", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return _svg(fig)


def rates_over_time(days: Sequence[KpiRow]) -> bytes:
    """Line chart of the main rates (0-100 %) per day; ``days`` are the day rows, oldest first."""
    fig = Figure(figsize=(8, 3.6))
    title = "Rates by day"
    if not days:
        return _empty(fig, title)
    ax = fig.subplots()
    labels = [r.group for r in days]
    x = list(range(len(days)))
    width = 0.8 / len(RATE_SERIES)
    for n, (attr, label) in enumerate(RATE_SERIES):
        values = [getattr(r, attr) for r in days]
        points = [v * 100 if v is not None else float("nan") for v in values]
        if len(days) <= FEW_DAYS:  # grouped bars, each with its value
            bars = ax.bar([i + (n - 2) * width for i in x], points, width=width, label=label)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        else:
            ax.plot(x, points, marker="o" if len(days) <= 31 else None, label=label)
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _days_axis(fig, ax, labels, right=0.74)
    return _svg(fig)


def volume_over_time(days: Sequence[KpiRow]) -> bytes:
    """Bars of conversations per day, split into contained and handed to a person."""
    fig = Figure(figsize=(8, 3))
    title = "Conversations by day"
    if not days:
        return _empty(fig, title)
    ax = fig.subplots()
    labels = [r.group for r in days]
    x = list(range(len(days)))
    contained = [r.conversations - r.handoffs for r in days]
    handed = [r.handoffs for r in days]
    width = 0.4 if len(days) <= FEW_DAYS else 0.8
    ax.bar(x, contained, width=width, label="contained", color="#2e7d32")
    top = ax.bar(x, handed, width=width, bottom=contained, label="handed to a person", color="#ef6c00")
    if len(days) <= FEW_DAYS:
        ax.bar_label(top, labels=[str(r.conversations) for r in days], fontsize=8)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _days_axis(fig, ax, labels)
    return _svg(fig)


def csat_over_time(days: Sequence[KpiRow]) -> bytes:
    """Mean CSAT (1-5) per day with the number of answers on each point."""
    fig = Figure(figsize=(8, 3))
    title = "CSAT by day (mean of 1-5 answers)"
    if not days:
        return _empty(fig, title)
    ax = fig.subplots()
    labels = [r.group for r in days]
    x = list(range(len(days)))
    means = [r.csat if r.csat is not None else float("nan") for r in days]
    if len(days) <= FEW_DAYS:
        ax.bar(x, [m - 1 for m in means], bottom=1, width=0.4, color="#1f3a5f")
    else:
        ax.plot(x, means, marker="o" if len(days) <= 31 else None, color="#1f3a5f")
    annotate = len(days) <= 14  # more would overlap
    for i, (mean, row) in enumerate(zip(means, days, strict=True)):
        if row.csat_responses and annotate:
            ax.annotate(
                f"{mean:.1f} (n={row.csat_responses})",
                (i, mean),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
            )
    ax.set_ylim(1, 5.5)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    _days_axis(fig, ax, labels)
    return _svg(fig)


def handoff_reasons(total: KpiRow) -> bytes:
    """Horizontal bars: conversations per handoff reason."""
    fig = Figure(figsize=(5, 3))
    title = "Handoff reasons"
    if not total.handoff_reasons:
        return _empty(fig, title)
    ax = fig.subplots()
    items = sorted(total.handoff_reasons.items(), key=lambda kv: kv[1])
    bars = ax.barh([reason_label(k) for k, _ in items], [v for _, v in items], color="#ef6c00")
    ax.bar_label(bars, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("conversations")
    fig.subplots_adjust(left=0.3, right=0.95, bottom=0.18, top=0.88)
    return _svg(fig)
