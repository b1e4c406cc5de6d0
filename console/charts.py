"""Server-side SVG charts of the KPIs (matplotlib, no JavaScript, nothing fetched from outside).

Drawn once per request with fixed margins (no second "tight" layout pass), at most
:data:`MAX_LABELS` day labels, and text kept as SVG text: about a third of the time the first
version took per chart, which was most of the dashboard's time."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display on a server

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bot.kpis import KpiRow  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"  # text as <text>, not a path per glyph
MAX_LABELS = 10  # day labels on the x axis, whatever the period

RATE_SERIES = (
    ("rpc_rate", "right-party contact"),
    ("containment_rate", "containment"),
    ("ptp_rate", "PTP (per RPC)"),
    ("opt_out_rate", "opt-out"),
    ("fallback_rate", "fallback (per message)"),
)


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg")
    return out.getvalue()


def _days_axis(fig: Figure, ax: object, right: float = 0.97) -> None:
    """Day labels: at most MAX_LABELS, slanted; margins fixed instead of a layout pass."""
    ax.xaxis.set_major_locator(MaxNLocator(MAX_LABELS, integer=True))  # type: ignore[attr-defined]
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)  # type: ignore[attr-defined]
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
    for attr, label in RATE_SERIES:
        values = [getattr(r, attr) for r in days]
        ax.plot(labels, [v * 100 if v is not None else float("nan") for v in values], marker="o", label=label)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _days_axis(fig, ax, right=0.74)
    return _svg(fig)


def volume_over_time(days: Sequence[KpiRow]) -> bytes:
    """Bars of conversations per day, split into contained and handed to a person."""
    fig = Figure(figsize=(8, 3))
    title = "Conversations by day"
    if not days:
        return _empty(fig, title)
    ax = fig.subplots()
    labels = [r.group for r in days]
    contained = [r.conversations - r.handoffs for r in days]
    handed = [r.handoffs for r in days]
    ax.bar(labels, contained, label="contained", color="#2e7d32")
    ax.bar(labels, handed, bottom=contained, label="handed to a person", color="#ef6c00")
    ax.set_title(title)
    ax.legend(fontsize=8)
    _days_axis(fig, ax)
    return _svg(fig)


def csat_over_time(days: Sequence[KpiRow]) -> bytes:
    """Mean CSAT (1-5) per day with the number of answers on each point."""
    fig = Figure(figsize=(8, 3))
    title = "CSAT by day (mean of 1-5 answers)"
    if not days:
        return _empty(fig, title)
    ax = fig.subplots()
    labels = [r.group for r in days]
    means = [r.csat if r.csat is not None else float("nan") for r in days]
    ax.plot(labels, means, marker="o", color="#1f3a5f")
    for x, (mean, row) in enumerate(zip(means, days, strict=True)):
        if row.csat_responses and len(days) <= 14:  # more would overlap
            ax.annotate(f"n={row.csat_responses}", (x, mean), textcoords="offset points", xytext=(0, 6), ha="center")
    ax.set_ylim(1, 5.5)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _days_axis(fig, ax)
    return _svg(fig)


def handoff_reasons(total: KpiRow) -> bytes:
    """Horizontal bars: conversations per handoff reason."""
    fig = Figure(figsize=(5, 3))
    title = "Handoff reasons"
    if not total.handoff_reasons:
        return _empty(fig, title)
    ax = fig.subplots()
    items = sorted(total.handoff_reasons.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="#ef6c00")
    ax.set_title(title)
    ax.set_xlabel("conversations")
    fig.subplots_adjust(left=0.3, right=0.95, bottom=0.18, top=0.88)
    return _svg(fig)
